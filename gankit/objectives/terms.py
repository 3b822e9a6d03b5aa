"""Loss terms as small pure functions of discriminator outputs (logits), each testable by hand.

Everything works on logits: log D = -softplus(-l) and log(1 - D) = -softplus(l), with
D = sigmoid(l), so no sigmoid is ever followed by a log.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F


def d_logistic(real_logits: torch.Tensor, fake_logits: torch.Tensor,
               real_target: Optional[torch.Tensor] = None,
               fake_target: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Discriminator loss of Goodfellow et al. 2014, to *descend*:
    -E[log D(x)] - E[log(1 - D(G(z)))] = E[softplus(-l_real)] + E[softplus(l_fake)].

    With targets t [B] (label smoothing, noisy labels) each term is the cross-entropy against t:
    t softplus(-l) + (1 - t) softplus(l); None is the hard target (1 for real, 0 for fake)."""
    return _logistic_ce(real_logits, real_target, 1.0) + _logistic_ce(fake_logits, fake_target, 0.0)


def _logistic_ce(logits: torch.Tensor, target: Optional[torch.Tensor], hard: float) -> torch.Tensor:
    if target is None:
        return F.softplus(-logits).mean() if hard == 1.0 else F.softplus(logits).mean()
    return (target * F.softplus(-logits) + (1 - target) * F.softplus(logits)).mean()


def g_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """The saturating generator loss of the minimax game, to descend:
    E[log(1 - D(G(z)))] = -E[softplus(l_fake)]. Its gradient vanishes when D rejects the fakes."""
    return -F.softplus(fake_logits).mean()


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss, to descend: -E[log D(G(z))] = E[softplus(-l_fake)]."""
    return F.softplus(-fake_logits).mean()


def game_value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))]; -log 4 at the global optimum."""
    return -d_logistic(real_logits, fake_logits)


# --------------------------------------------------------------------------- critics (raw scores)


def d_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss (Arjovsky et al. 2017), to descend: -E[D(x)] + E[D(G(z))]."""
    return fake_scores.mean() - real_scores.mean()


def drift_penalty(real_scores: torch.Tensor) -> torch.Tensor:
    """ProGAN's drift term (Karras et al. 2018, appendix A.1), before its weight epsilon: E[D(x)^2] on
    real inputs, which keeps a WGAN-GP critic's output from drifting far from 0."""
    return real_scores.pow(2).mean()


def g_wasserstein(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN (and hinge) generator loss, to descend: -E[D(G(z))]."""
    return -fake_scores.mean()


def d_hinge(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss (Lim & Ye 2017; SAGAN, BigGAN), to descend:
    E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]. The generator descends ``g_wasserstein``."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def d_least_squares(real_scores: torch.Tensor, fake_scores: torch.Tensor,
                    a: float = 0.0, b: float = 1.0) -> torch.Tensor:
    """LSGAN discriminator loss (Mao et al. 2017, eq. 2), to descend:
    1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]; the 0-1 coding is a = 0, b = 1."""
    return 0.5 * ((real_scores - b) ** 2).mean() + 0.5 * ((fake_scores - a) ** 2).mean()


def g_least_squares(fake_scores: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """LSGAN generator loss, to descend: 1/2 E[(D(G(z)) - c)^2]; the 0-1 coding is c = 1."""
    return 0.5 * ((fake_scores - c) ** 2).mean()


# --------------------------------------------------------------------------- relativistic


def d_relativistic_average(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaSGAN discriminator loss (Jolicoeur-Martineau 2018), to descend, with C the raw output:
    -E_x[log sigmoid(C(x) - E C(G(z)))] - E_z[log(1 - sigmoid(C(G(z)) - E C(x)))]
    = E[softplus(-(C(x) - mean C(G(z))))] + E[softplus(C(G(z)) - mean C(x))]."""
    return (F.softplus(-(real_logits - fake_logits.mean())).mean()
            + F.softplus(fake_logits - real_logits.mean()).mean())


def g_relativistic_average(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """RaSGAN generator loss: the discriminator loss with real and fake swapped,
    E[softplus(-(C(G(z)) - mean C(x)))] + E[softplus(C(x) - mean C(G(z)))]."""
    return d_relativistic_average(fake_logits, real_logits)


# --------------------------------------------------------------------------- gradient penalties


def interpolate(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_hat = eps x + (1 - eps) x_tilde, x [B, ...], with one eps per sample (``eps`` [B]) or per
    group of B / N consecutive samples (``eps`` [N]: one per pack of a packed D)."""
    group = real.shape[0] // eps.shape[0]
    if group * eps.shape[0] != real.shape[0]:
        raise ValueError(f"{eps.shape[0]} interpolation weights do not split a batch of {real.shape[0]}")
    if group > 1:
        eps = eps.repeat_interleave(group)
    eps = eps.view(-1, *([1] * (real.dim() - 1)))
    return eps * real + (1.0 - eps) * fake


def dragan_perturb(real: torch.Tensor, noise: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """DRAGAN's perturbed real points, as the paper's code: x + scale * std(x) * u, u ~ U[0, 1]
    elementwise (``noise``, shaped like x) and std over the whole batch (population std)."""
    return real + scale * real.std(unbiased=False) * noise


def gradient_penalty(grad: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """E[(||grad||_2 - target)^2] over the batch, the norm per row over all other dims
    (WGAN-GP, Gulrajani et al. 2017; DRAGAN). ``grad`` [N, ...] is dD/dx at the penalty points, one
    row per D output (per sample, or per pack for a packed D: ``common.input_gradient``)."""
    norms = torch.linalg.vector_norm(grad.flatten(1), dim=1)  # [B]
    return ((norms - target) ** 2).mean()


def r1_penalty(grad: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
    """Zero-centred penalty gamma/2 E[||grad||_2^2] (Mescheder et al. 2018): R1 with the gradient
    at real points, R2 with it at generated ones; ``grad`` [N, ...], one row per D output."""
    return 0.5 * gamma * grad.flatten(1).pow(2).sum(1).mean()


# --------------------------------------------------------------------------- energies (autoencoder D)


def l1_reconstruction(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """BEGAN's L(v) = |v - AE(v)| per sample, the mean over pixels: [B]."""
    return (x - recon).abs().flatten(1).mean(1)


def mse_reconstruction(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """EBGAN's energy ||Dec(Enc(v)) - v||^2 per sample, as a mean over elements: [B]."""
    return (x - recon).pow(2).flatten(1).mean(1)


def d_began(l_real: torch.Tensor, l_fake: torch.Tensor, k: float) -> torch.Tensor:
    """BEGAN discriminator loss (Berthelot et al. 2017), to descend: E[L(x)] - k_t E[L(G(z))]."""
    return l_real.mean() - k * l_fake.mean()


def began_k_update(k: float, l_real: float, l_fake: float, gamma: float, lambda_k: float) -> float:
    """BEGAN's proportional control: k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)."""
    return min(max(k + lambda_k * (gamma * l_real - l_fake), 0.0), 1.0)


def began_convergence(l_real: float, l_fake: float, gamma: float) -> float:
    """BEGAN's convergence measure M_global = L(x) + |gamma L(x) - L(G(z))|."""
    return l_real + abs(gamma * l_real - l_fake)


def d_energy_margin(e_real: torch.Tensor, e_fake: torch.Tensor, margin: float) -> torch.Tensor:
    """EBGAN discriminator loss (Zhao et al. 2016), to descend: E[D(x)] + E[max(0, m - D(G(z)))]."""
    return e_real.mean() + F.relu(margin - e_fake).mean()


def pullaway(embeddings: torch.Tensor) -> torch.Tensor:
    """EBGAN's pull-away term on a batch of encodings S [N, F]:
    1/(N(N-1)) sum_{i != j} (S_i . S_j / (||S_i|| ||S_j||))^2; 0 for orthogonal codes, 1 for equal."""
    n = embeddings.shape[0]
    if n < 2:
        return embeddings.new_zeros(())
    unit = F.normalize(embeddings.flatten(1), dim=1)
    cos2 = (unit @ unit.T) ** 2  # [N, N], ones on the diagonal (for nonzero codes)
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))


# --------------------------------------------------------------------------- InfoGAN


def info_categorical(code_logits: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """InfoGAN's mutual-information term for a categorical code (Chen et al. 2016, eq. 5), to descend:
    -E[log Q(c | G(z, c))] = cross-entropy of Q's logits [B, K] against the drawn classes c [B].
    L_I = H(c) - this is the variational lower bound on I(c; G(z, c)) (H(c) = log K for a uniform c)."""
    return F.cross_entropy(code_logits, code)


def gaussian_nll(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """InfoGAN's term for continuous codes: -E[log N(x; mean, exp(log_std)^2)] with a factored
    Gaussian, summed over the codes and averaged over the batch (all [B, C]):
    mean_b sum_j [ log_std + (x - mean)^2 / (2 exp(2 log_std)) + log(2 pi) / 2 ]."""
    var = torch.exp(2 * log_std)
    per = log_std + (x - mean).pow(2) / (2 * var) + 0.5 * math.log(2 * math.pi)
    return per.sum(dim=1).mean()
