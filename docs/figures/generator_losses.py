"""Generator losses against the discriminator's verdict on fakes, and their gradients.

Run from the repository root:  python docs/figures/generator_losses.py
It writes docs/figures/generator_losses.png beside this script. The curves are computed with the
loss terms gankit trains with (``gankit.objectives.terms``) and autograd, so the figure shows what
the code does, not a retyped formula.

Top row: against D(G(z)) = sigmoid(l) in (0, 1), the minimax loss log(1 - D) and the
non-saturating loss -log D, and their derivatives with respect to the logit l. When the
discriminator wins (D(G(z)) -> 0) the minimax gradient -D(G(z)) vanishes: the generator learns
nothing exactly when it is worst. The non-saturating gradient tends to -1 there.
Bottom row: against D's raw output s (the logit for minimax/NS, the score of LSGAN, the critic value
of WGAN and hinge): every loss the toolkit's generators descend, and its derivative in s.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from matplotlib.figure import Figure
from torch.func import grad, vmap

from gankit.objectives import terms

GENERATOR_LOSSES = {  # name -> (label, per-sample loss of D's raw output on one fake)
    "minimax": ("minimax: log(1 - D)", terms.g_minimax),
    "ns": ("non-saturating: -log D", terms.g_nonsaturating),
    "lsgan": ("LSGAN: 1/2 (D - 1)^2", terms.g_least_squares),
    "wgan": ("WGAN / hinge: -D", terms.g_wasserstein),
}
PROBABILISTIC = ("minimax", "ns")


def _loss_and_grad(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    one = lambda v: fn(v.reshape(1))  # noqa: E731  (the batch mean of one sample)
    return vmap(one)(x), vmap(grad(one))(x)


def curves(n: int = 1001) -> dict:
    """Losses and their derivatives: ``p`` = D(G(z)) in (0, 1) with ``loss``/``grad`` in the
    logit for minimax and NS; ``s`` = raw output in [-5, 5] with ``loss_raw``/``grad_raw`` for all."""
    p = torch.linspace(1e-4, 1 - 1e-4, n, dtype=torch.float64)
    logit = torch.log(p) - torch.log1p(-p)
    s = torch.linspace(-5.0, 5.0, n, dtype=torch.float64)
    out = {"p": p, "s": s, "loss": {}, "grad": {}, "loss_raw": {}, "grad_raw": {}}
    for name, (_, fn) in GENERATOR_LOSSES.items():
        if name in PROBABILISTIC:
            out["loss"][name], out["grad"][name] = _loss_and_grad(fn, logit)
        out["loss_raw"][name], out["grad_raw"][name] = _loss_and_grad(fn, s)
    return out


def figure(data: Optional[dict] = None) -> Figure:
    data = data or curves()
    fig = Figure(figsize=(10, 7.2), layout="constrained")
    axes = fig.subplots(2, 2)
    colors = {"minimax": "C3", "ns": "C0", "lsgan": "C2", "wgan": "C1"}
    p, s = data["p"].numpy(), data["s"].numpy()
    for name in PROBABILISTIC:
        label, c = GENERATOR_LOSSES[name][0], colors[name]
        axes[0, 0].plot(p, data["loss"][name].numpy(), color=c, lw=2, label=label)
        axes[0, 1].plot(p, data["grad"][name].numpy(), color=c, lw=2, label=label)
    for name, (label, _) in GENERATOR_LOSSES.items():
        axes[1, 0].plot(s, data["loss_raw"][name].numpy(), color=colors[name], lw=2, label=label)
        axes[1, 1].plot(s, data["grad_raw"][name].numpy(), color=colors[name], lw=2, label=label)
    for ax in axes[0]:
        ax.axvspan(0, 0.1, color="0.85", zorder=0)
        ax.set_xlim(0, 1)
        ax.set_xlabel("D(G(z))  (the discriminator's probability that a fake is real)")
    axes[0, 0].set_ylim(-5, 5)
    axes[0, 0].text(0.012, -4.6, "D wins:\nfakes\nrejected", fontsize=8, color="0.3")
    axes[0, 0].set_title("generator loss (descended)", loc="left", fontsize=10)
    axes[0, 1].set_title("d loss / d logit: the signal G receives", loc="left", fontsize=10)
    axes[0, 1].set_ylim(-1.08, 0.05)
    axes[0, 1].annotate("minimax saturates:\ngradient -D(G(z)) -> 0", xy=(0.01, -0.01), xytext=(0.3, -0.14),
                        fontsize=8, arrowprops={"arrowstyle": "->", "color": "C3"}, color="C3")
    axes[0, 1].annotate("non-saturating: -> -1", xy=(0.01, -0.99), xytext=(0.16, -0.97),
                        fontsize=8, arrowprops={"arrowstyle": "->", "color": "C0"}, color="C0")
    for ax in axes[1]:
        ax.set_xlim(-5, 5)
        ax.set_xlabel("D's raw output s on a fake: logit, LSGAN score or critic value")
    axes[1, 0].set_ylim(-5.5, 18.5)
    axes[1, 0].set_title("generator loss against D's raw output", loc="left", fontsize=10)
    axes[1, 1].set_ylim(-6.2, 1.2)
    axes[1, 1].text(-4.8, 0.35, "minimax/NS: D wins at s << 0", fontsize=8, color="0.3")
    axes[1, 1].set_title("its derivative in the raw output", loc="left", fontsize=10)
    for ax in axes.flat:
        ax.axhline(0, color="0.5", lw=0.6)
        ax.grid(alpha=0.3, lw=0.5)
        ax.legend(fontsize=8, loc="best", framealpha=0.9)
        ax.tick_params(labelsize=8)
    fig.suptitle("Why the minimax generator loss saturates when the discriminator wins", fontsize=12)
    return fig


def main(out: Optional[Path] = None) -> Path:
    out = Path(out) if out else Path(__file__).with_suffix(".png")
    figure().savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    print(main())
