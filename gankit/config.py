"""Typed configuration: dataclasses per component, YAML presets, ``key.sub=value`` overrides.

A configuration is saved in every run directory and every checkpoint; a model is rebuilt from it.
Unknown keys, wrong types and out-of-range values raise :class:`GankitError` naming the key.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

# part of this module's API, kept in config_parse: building dataclasses from mappings, YAML, overrides
from gankit.config_parse import (apply_overrides, diff_configs, from_dict, parse_override,  # noqa: F401
                                 preset_dict, preset_names, read_yaml_mapping, yaml_error_message)
from gankit.errors import GankitError, closest


@dataclass
class DataConfig:
    name: str = "digits"  # a registered dataset: see `gankit presets` and docs/data.md
    path: Optional[str] = None  # a file or folder, for fashion_mnist / folder / npz
    resolution: Optional[int] = None  # image side in pixels; None = the dataset's own
    channels: Optional[int] = None  # 1 (gray) or 3 (RGB); None = the dataset's own
    batch_size: int = 64
    mean: Optional[float] = None  # gaussian1d: mean (default 4.0)
    std: Optional[float] = None  # toy data: per-mode std (None = the protocol's default)
    radius: float = 1.0  # ring: radius of the circle of modes

    def validate(self) -> None:
        _check(self.batch_size >= 1, "data.batch_size", self.batch_size, "must be >= 1")
        _check(self.resolution is None or 4 <= self.resolution <= 1024, "data.resolution",
               self.resolution, "must be between 4 and 1024")
        _check(self.channels in (None, 1, 3), "data.channels", self.channels, "must be 1 or 3")
        _check(self.std is None or self.std > 0, "data.std", self.std, "must be > 0")
        _check(self.radius > 0, "data.radius", self.radius, "must be > 0")
        if self.path:  # stored resolved: a run (and its resume) reads the same files from any folder
            self.path = str(Path(self.path).expanduser().resolve())


G_CONDITIONING = ("none", "concat", "cbn")
D_CONDITIONING = ("none", "concat", "projection")


@dataclass
class GrowConfig:
    """Progressive growing (model.arch=progan, Karras et al. 2018): ``every`` stable steps at the start
    side and after each fade, ``fade`` steps of linear fade-in per new side (docs/architectures.md)."""

    start: int = 0  # the first side (0 = the smallest the plan allows: 4..7); the side doubles to the data's
    every: int = 0  # steps at each side once it is faded in (0 = no growing: the full side from step 0)
    fade: int = 0  # steps over which a new side's blocks fade in (alpha 0 -> 1)
    reset_optim: bool = False  # clear the net's Adam state when a fade starts and when it ends (ProGAN's choice)

    def validate(self, arch: str) -> None:
        for key in ("start", "every", "fade"):
            _check(getattr(self, key) >= 0, f"model.grow.{key}", getattr(self, key), "must be >= 0")
        grows = self.start or self.every or self.fade or self.reset_optim
        _check(not grows or arch == "progan", "model.grow", f"{{start: {self.start}, every: {self.every}, "
               f"fade: {self.fade}, reset_optim: {self.reset_optim}}}", f"is progressive growing, which "
               f"model.arch={arch} does not do; set model.arch=progan or leave model.grow out")
        for key in ("fade", "reset_optim"):
            _check(self.every > 0 or not getattr(self, key), f"model.grow.{key}", getattr(self, key),
                   "needs model.grow.every > 0 (steps per side; 0 = no growing)")


@dataclass
class ModelConfig:
    arch: str = "dcgan"  # mlp | dcgan | mlp-ae | dcgan-ae (autoencoder Ds) | resnet | sagan | biggan | stylegan
    z_dim: int = 64
    z_dist: str = "normal"  # normal | uniform (U[-1, 1], as in the original paper)
    # the scale of z's noise units: N(0, z_std^2) or U[-z_std, z_std]; the codes keep theirs. Below 1, G must
    # carry the large variations by its categorical code (ClusterGAN, Mukherjee et al. 2019: 0.1)
    z_std: float = 1.0
    z_categories: int = 0  # K > 0: append a one-hot code of a uniform class in K to z (a discrete latent)
    g_width: int = 64  # mlp: hidden units; dcgan: channels at the highest resolution
    d_width: int = 64
    g_layers: int = 2  # mlp: hidden layers (dcgan: set by the resolution)
    d_layers: int = 2
    g_norm: str = "batch"  # batch | none | vbn (virtual batch norm, Salimans et al. 2016: docs/tricks.md)
    vbn_ref: int = 64  # g_norm=vbn: size of G's fixed reference batch of latents
    d_norm: str = "batch"  # batch | none
    d_dropout: float = 0.0  # dropout in the MLP discriminator (the original paper used it)
    d_maxout: int = 0  # k >= 2: the MLP discriminator's hidden units are maxout units of k pieces (0 = LeakyReLU)
    max_channels: int = 512  # dcgan: cap on channels at low resolution
    init: str = "dcgan"  # dcgan: N(0, 0.02) weights | default: PyTorch's
    d_pack: int = 1  # PacGAN packing (Lin et al. 2018): D judges d_pack samples at once (1 = off)
    # Modern layers (docs/architectures.md)
    d_sn: bool = False  # spectral norm on every conv/linear/embedding of D (Miyato et al. 2018)
    g_sn: bool = False  # the same on G (SAGAN, BigGAN)
    attn_res: int = 0  # resnet/sagan/biggan: side of the self-attention block (0 = none; sagan: its default side)
    shared_dim: int = 64  # biggan: width of the shared class embedding (with model.g_cond=cbn)
    mapping_layers: int = 8  # stylegan: layers of the mapping network z -> w
    mapping_lr_mul: float = 0.01  # stylegan: learning-rate multiplier of the mapping network
    style_mixing: float = 0.9  # stylegan: probability of style mixing per training batch (0 = off)
    style_norm: str = "demod"  # stylegan: demod (StyleGAN2 weight demodulation) | adain (StyleGAN 1)
    grow: GrowConfig = field(default_factory=GrowConfig)  # progan: the growth schedule
    mbstd_group: int = 4  # progan: group size of D's minibatch std map (0 = no map)
    # minibatch discrimination (Salimans et al. 2016): B kernels of C dims on D's features (0 = off)
    d_minibatch: int = 0
    d_minibatch_dim: int = 5
    # Class conditioning (docs/conditional.md): how G and D use the data's labels y
    g_cond: str = "none"  # none | concat (y's code joined to z) | cbn (conditional BatchNorm)
    d_cond: str = "none"  # none | concat (y as input channels/units) | projection (Miyato & Koyama 2018)
    embed_dim: int = 0  # g_cond=concat: 0 = a one-hot of y, > 0 = a learned embedding of this width
    z_continuous: int = 0  # C > 0: append C continuous codes ~ U[-1, 1] to z (InfoGAN, with objective.info)
    # InfoGAN's Q: 0 = linear code heads on D's features; H > 0 = one shared hidden layer of H units and
    # LeakyReLU(0.2) first (the paper's Q: FC 128, BN, LReLU; no BN here, so penalty objectives keep it)
    q_hidden: int = 0

    def validate(self) -> None:
        _check(self.z_dim >= 1, "model.z_dim", self.z_dim, "must be >= 1")
        _check(self.z_dist in ("normal", "uniform"), "model.z_dist", self.z_dist,
               "must be 'normal' or 'uniform'")
        _check(self.z_categories >= 0, "model.z_categories", self.z_categories,
               "must be >= 0 (classes of the discrete latent code; 0 = none)")
        for key in ("g_width", "d_width", "max_channels"):
            _check(getattr(self, key) >= 1, f"model.{key}", getattr(self, key), "must be >= 1")
        for key in ("g_layers", "d_layers"):
            _check(getattr(self, key) >= 0, f"model.{key}", getattr(self, key), "must be >= 0")
        _check(self.g_norm in ("batch", "none", "vbn"), "model.g_norm", self.g_norm,
               "must be 'batch', 'none' or 'vbn'")
        _check(self.d_norm in ("batch", "none"), "model.d_norm", self.d_norm,
               "must be 'batch' or 'none' (vbn is a generator norm)")
        _check(self.vbn_ref >= 2, "model.vbn_ref", self.vbn_ref, "must be >= 2 (latents in G's reference batch)")
        _check(self.g_norm != "vbn" or self.g_cond == "none", "model.g_norm", self.g_norm,
               "(virtual batch norm) is not combined with class conditioning yet; set model.g_cond=none or "
               "model.g_norm=batch")
        _check(self.d_minibatch >= 0, "model.d_minibatch", self.d_minibatch,
               "must be >= 0 (minibatch discrimination kernels; 0 = off)")
        _check(self.d_minibatch_dim >= 1, "model.d_minibatch_dim", self.d_minibatch_dim, "must be >= 1")
        _check(0.0 <= self.d_dropout < 1.0, "model.d_dropout", self.d_dropout, "must be in [0, 1)")
        _check(self.d_maxout == 0 or self.d_maxout >= 2, "model.d_maxout", self.d_maxout,
               "must be 0 (LeakyReLU units) or >= 2 (pieces per maxout unit)")
        _check(self.d_maxout == 0 or self.arch == "mlp", "model.d_maxout", self.d_maxout,
               f"is for the MLP discriminator, but model.arch={self.arch}; set model.arch=mlp or model.d_maxout=0")
        _check(self.init in ("dcgan", "default"), "model.init", self.init,
               "must be 'dcgan' or 'default'")
        _check(self.d_pack >= 1, "model.d_pack", self.d_pack,
               "must be >= 1 (samples per discriminator input; 1 = no packing)")
        _check(self.attn_res >= 0, "model.attn_res", self.attn_res, "must be >= 0 (0 = no self-attention)")
        _check(self.shared_dim >= 1, "model.shared_dim", self.shared_dim, "must be >= 1")
        _check(self.mapping_layers >= 1, "model.mapping_layers", self.mapping_layers, "must be >= 1")
        _check(self.mapping_lr_mul > 0, "model.mapping_lr_mul", self.mapping_lr_mul, "must be > 0")
        _check(0.0 <= self.style_mixing <= 1.0, "model.style_mixing", self.style_mixing,
               "must be a probability in [0, 1] (0 = no style mixing)")
        _check(self.style_norm in ("demod", "adain"), "model.style_norm", self.style_norm,
               "must be 'demod' (StyleGAN2 demodulation) or 'adain' (StyleGAN 1)")
        self.grow.validate(self.arch)
        _check(self.mbstd_group >= 0, "model.mbstd_group", self.mbstd_group,
               "must be >= 0 (samples per minibatch-std group; 0 = no minibatch std)")
        _check(self.g_cond in G_CONDITIONING, "model.g_cond", self.g_cond, f"must be one of {', '.join(G_CONDITIONING)}")
        _check(self.d_cond in D_CONDITIONING, "model.d_cond", self.d_cond, f"must be one of {', '.join(D_CONDITIONING)}")
        _check(self.embed_dim >= 0, "model.embed_dim", self.embed_dim, "must be >= 0 (0 = a one-hot label code)")
        _check(self.embed_dim == 0 or self.g_cond == "concat", "model.embed_dim", self.embed_dim,
               "is the width of G's label embedding and needs model.g_cond=concat")
        _check(self.g_cond != "cbn" or self.g_norm == "batch", "model.g_cond", self.g_cond,
               "conditions G's BatchNorms and needs model.g_norm=batch")
        _check(self.z_continuous >= 0, "model.z_continuous", self.z_continuous,
               "must be >= 0 (continuous latent codes; 0 = none)")
        _check(self.z_std > 0, "model.z_std", self.z_std, "must be > 0 (the scale of z's noise units; 1 = the prior)")
        _check(self.q_hidden >= 0, "model.q_hidden", self.q_hidden, "must be >= 0 (0 = linear Q heads)")


@dataclass
class ObjectiveConfig:
    name: str = "ns"  # a registered objective: minimax | ns | ...
    d_steps: int = 1  # k: discriminator steps per generator step (Goodfellow et al. 2014, Alg. 1)
    reuse_fake: bool = True  # G's step reuses the fakes of the last D step (as the PyTorch DCGAN example)
    params: dict = field(default_factory=dict)  # objective-specific, checked by the objective
    # lambda of InfoGAN's mutual-information term (Chen et al. 2016) on G's categorical code
    # (model.z_categories): D gets a Q head and both players add lambda * CE(Q(G(z, c)), c); 0 = off.
    # A shorthand for terms: {info: {weight: lambda}}.
    info: float = 0.0
    # Auxiliary terms added to the game's D and G losses, by name: {ac: {weight: 1}, info: {...}};
    # each name's parameters are checked by the term (docs/conditional.md, "Terms")
    terms: dict = field(default_factory=dict)

    def validate(self) -> None:
        _check(self.d_steps >= 1, "objective.d_steps", self.d_steps, "must be >= 1")
        _check(self.info >= 0, "objective.info", self.info, "must be >= 0 (0 = no InfoGAN term)")
        for name, params in list(self.terms.items()):
            if params is None:
                self.terms[name] = params = {}
            _check(isinstance(params, dict), f"objective.terms.{name}", params,
                   "must be a mapping of the term's parameters (or {} for its defaults)")
        if self.info > 0 and "info" in self.terms:
            raise GankitError("objective.info and objective.terms.info both set InfoGAN's term; keep one "
                              "(objective.terms.info.weight is the same as objective.info)")

    def term_params(self) -> dict:
        """The auxiliary terms to build, name -> parameters; ``info`` > 0 adds the InfoGAN term."""
        out = {name: dict(params) for name, params in self.terms.items()}
        if self.info > 0:
            out["info"] = {"weight": self.info}
        return out


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | rmsprop | sgd
    lr: float = 2e-4
    betas: list = field(default_factory=lambda: [0.5, 0.999])  # adam
    momentum: float = 0.0  # sgd, rmsprop
    alpha: float = 0.99  # rmsprop smoothing
    eps: float = 1e-8
    weight_decay: float = 0.0

    def validate(self, key: str) -> None:
        _check(self.name in ("adam", "rmsprop", "sgd"), f"{key}.name", self.name,
               "must be adam, rmsprop or sgd")
        _check(self.lr > 0, f"{key}.lr", self.lr, "must be > 0")
        _check(len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas),
               f"{key}.betas", self.betas, "must be two numbers in [0, 1)")
        _check(self.momentum >= 0, f"{key}.momentum", self.momentum, "must be >= 0")
        _check(self.eps > 0, f"{key}.eps", self.eps, "must be > 0")


@dataclass
class TrainConfig:
    steps: int = 2000  # generator steps
    seed: int = 0
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    ema: float = 0.0  # EMA decay of the generator's weights (0 = off); sampling uses the EMA when on
    ema_start: int = 0  # step at which the EMA starts to average (before it, it copies G)
    # the EMA's half-life is at most ema_rampup x the steps so far (StyleGAN2-ADA's ramp; 0 = off):
    # short runs sample from recent weights, long runs end with the plain decay
    ema_rampup: float = 0.05
    lr_decay: str = "none"  # none | linear: both learning rates fall linearly to 0 at the last step
    lr_decay_start: float = 0.0  # fraction of train.steps after which the linear decay begins (0 = from the start)
    log_every: int = 50
    sample_every: int = 250
    checkpoint_every: int = 500
    keep_checkpoints: int = 3  # older ones are deleted; the final one is always kept
    n_show: int = 64  # samples in each grid (images) or scatter points per snapshot / 10 (toy)
    device: str = "cpu"  # cpu | cuda | mps | auto (cuda, else mps, else cpu)
    # torch threads on CPU. None resolves (and is stored) as default_threads(): $OMP_NUM_THREADS when set,
    # else 1; 0 = PyTorch's own default (one per core), which collapses when another job holds a core
    # (benchmarks/results/threads.md).
    threads: Optional[int] = None
    # fp32 | bf16 | fp16: the forward passes under torch.autocast, losses in fp32 (docs/speed.md);
    # bf16 on CPU or CUDA, fp16 on CUDA only (with a GradScaler per optimizer)
    precision: str = "fp32"
    tensorboard: bool = False  # also write TensorBoard events to RUN/tensorboard (log.jsonl stays the record)
    # the faster path (docs/speed.md; benchmarks/results/throughput.md says what each one measures here)
    compile: bool = False  # torch.compile G's and D's forwards (untested with gradient penalties' double backward)
    channels_last: bool = False  # image nets' weights in channels_last memory format
    optim_impl: str = "default"  # default | foreach | fused: torch.optim's multi-tensor or fused Adam/SGD/RMSProp
    # under torchrun, BatchNorm over the global batch instead of each process's share (docs/distributed.md)
    sync_batchnorm: bool = False

    def validate(self) -> None:
        _check(self.steps >= 0, "train.steps", self.steps, "must be >= 0")
        _check(self.precision in ("fp32", "bf16", "fp16"), "train.precision", self.precision,
               "must be fp32, bf16 or fp16")
        _check(self.optim_impl in ("default", "foreach", "fused"), "train.optim_impl", self.optim_impl,
               "must be default, foreach or fused")
        for key in ("log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "n_show"):
            _check(getattr(self, key) >= 1, f"train.{key}", getattr(self, key), "must be >= 1")
        _check(0.0 <= self.ema < 1.0, "train.ema", self.ema, "must be in [0, 1)")
        _check(self.ema_rampup >= 0.0, "train.ema_rampup", self.ema_rampup, "must be >= 0 (0 = no ramp)")
        _check(self.lr_decay in ("none", "linear"), "train.lr_decay", self.lr_decay, "must be none or linear")
        _check(0.0 <= self.lr_decay_start < 1.0, "train.lr_decay_start", self.lr_decay_start,
               "must be a fraction of train.steps in [0, 1)")
        _check(self.device in ("cpu", "cuda", "mps", "auto"), "train.device", self.device,
               "must be cpu, cuda, mps or auto")
        if self.threads is None:
            self.threads = default_threads()
        _check(self.threads >= 0, "train.threads", self.threads,
               "must be >= 0 (0 = PyTorch's default, null = $OMP_NUM_THREADS or 1)")
        self.g_optim.validate("train.g_optim")
        self.d_optim.validate("train.d_optim")


def default_threads(environ: Optional[dict] = None) -> int:
    """The torch thread count ``train.threads: null`` resolves to: ``$OMP_NUM_THREADS`` when it is a
    positive integer (its first level, as in ``4,2``), else 1.

    Why 1: on a CPU shared with another busy job, PyTorch's default (a thread per core) runs 10-20x
    slower, while one thread keeps >90% of its speed; two threads gain at most ~25% on an idle
    machine (benchmarks/results/threads.md).
    """
    env = os.environ if environ is None else environ
    first = str(env.get("OMP_NUM_THREADS", "")).split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) >= 1 else 1


#: Which way is better for each score ``eval.best`` may name: "min" (lower is better) or "max".
SCORE_DIRECTIONS: dict[str, str] = {
    "fid": "min", "kid": "min", "kl": "min", "intra_fid": "min",
    "is": "max", "precision": "max", "recall": "max", "density": "max", "coverage": "max",
    "modes": "max", "high_quality": "max", "cas": "max", "parzen": "max", "cas_ratio": "max",
    "label_agreement": "max",
}


@dataclass
class EvalConfig:
    """Scoring the generator during training (docs/metrics.md, "During training")."""

    every: int = 0  # score every N generator steps and at the last step (0 = off)
    metrics: Optional[list] = None  # e.g. [fid, pr, dc] or "fid,pr,dc"; None = fid,pr,dc (toy: modes)
    n: Optional[int] = None  # generated samples per evaluation; None = 2000 images / 2500 vectors
    n_real: Optional[int] = None  # real items: None = the whole test split (toy: as many as n)
    features: Optional[str] = None  # classifier | classifier:DATASET | inception | raw; None = the data's
    best: Optional[str] = None  # keep checkpoints/best.* by this score, e.g. fid (lower) or coverage (higher)
    seed: int = 0  # latent and subsampling seed, the same at every evaluation
    # with every = 0: still score once at the last step when that is cheap (toy data: modes; images
    # with a shipped classifier: its FID, P/R, D/C), so the report says how good the model is
    final: bool = True

    def validate(self) -> None:
        _check(self.every >= 0, "eval.every", self.every, "must be >= 0 (0 = no scoring during training)")
        _check(self.n is None or self.n >= 2, "eval.n", self.n, "must be >= 2")
        _check(self.n_real is None or self.n_real >= 2, "eval.n_real", self.n_real, "must be >= 2")
        if self.metrics is not None:
            self.metrics = [str(m).strip().lower() for m in self.metrics if str(m).strip()]
            _check(bool(self.metrics), "eval.metrics", self.metrics,
                   "is empty; name at least one metric, e.g. [fid, pr, dc], or null for the data's defaults")
        if self.best is not None and self.best not in SCORE_DIRECTIONS:
            raise GankitError(f"config key 'eval.best' = {self.best!r} is not a score with a known direction"
                              f"{closest(self.best, SCORE_DIRECTIONS)}; valid: {', '.join(SCORE_DIRECTIONS)}")
        # Metric names, and whether they produce `best`, are checked against the metrics registry when
        # training starts (gankit/training/evaluation.py), as objective.params are by the objective:
        # reading a config stays free of torch.


@dataclass
class Config:
    name: str = "custom"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def validate(self) -> "Config":
        self.data.validate()
        self.model.validate()
        self.objective.validate()
        self.train.validate()
        self.eval.validate()
        # Cross-key rule: packing splits every real and fake batch into packs of d_pack samples.
        _check(self.data.batch_size % self.model.d_pack == 0, "data.batch_size", self.data.batch_size,
               f"must be a multiple of model.d_pack={self.model.d_pack} (D judges packs of "
               f"{self.model.d_pack} samples)")
        terms = self.objective.term_params()
        info_key = "objective.info" if self.objective.info > 0 else "objective.terms.info"
        m = self.model
        if "info" in terms:
            _check(m.z_categories > 0 or m.z_continuous > 0, info_key, terms["info"],
                   "needs a latent code for Q to predict: set model.z_categories to K > 0 and/or "
                   "model.z_continuous to C > 0")
            _check(m.d_pack == 1, info_key, terms["info"],
                   "cannot be used with model.d_pack > 1 (a pack holds several codes); set model.d_pack=1")
        for term in ("label_smoothing", "noisy_labels"):  # only games with probability targets take them
            if term in terms:
                from gankit.objectives.label_terms import check_takes_targets

                check_takes_targets(term, self.objective.name)
        _check("fade_reals" not in terms or m.arch == "progan", "objective.terms.fade_reals", terms.get("fade_reals"),
               f"crossfades the reals of a growing D, but model.arch={m.arch} does not grow; set model.arch=progan "
               f"or remove the term")
        _check("path_length" not in terms or m.arch == "stylegan", "objective.terms.path_length",
               terms.get("path_length"), f"regularizes the mapping network's w, but model.arch={m.arch} has none; "
               "set model.arch=stylegan or remove the term")
        d_sees_labels = m.d_cond != "none" or "ac" in terms
        if m.g_cond != "none":
            _check(d_sees_labels, "model.g_cond", m.g_cond,
                   "makes G conditional, but D never sees the labels, so nothing teaches G to follow them: "
                   "set model.d_cond=concat or projection, or add the ac term (objective.terms.ac)")
        elif d_sees_labels:
            what = f"model.d_cond={m.d_cond}" if m.d_cond != "none" else "objective.terms.ac"
            raise GankitError(f"config key '{what.split('=')[0]}' needs a conditional generator that is told "
                              f"the label: set model.g_cond=concat or cbn")
        if self.conditional:
            _check(m.d_pack == 1, "model.d_pack", m.d_pack,
                   "cannot be used with class conditioning (a pack mixes labels); set model.d_pack=1")
        return self

    @property
    def conditional(self) -> bool:
        """True when G (and so D) are conditioned on the data's labels."""
        return self.model.g_cond != "none"

    @property
    def code_head(self) -> int:
        """Classes of D's Q head (InfoGAN): model.z_categories when the info term is on, else 0."""
        return self.model.z_categories if "info" in self.objective.term_params() else 0

    @property
    def heads(self) -> dict:
        """The heads ``build_nets`` puts on D: InfoGAN's Q (categorical and continuous codes) when the
        info term is on, ACGAN's classifier when the ac term is on."""
        terms = self.objective.term_params()
        info = terms.get("info")
        fixed_std = float((info or {}).get("fixed_std", 0) or 0)
        return {"code_head": self.code_head,
                "code_continuous": self.model.z_continuous if info is not None else 0,
                "learn_std": fixed_std <= 0, "class_head": "ac" in terms}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _check(ok: bool, key: str, value: Any, rule: str) -> None:
    if not ok:
        raise GankitError(f"config key '{key}' = {value!r} {rule}")


# --------------------------------------------------------------------------- loading


def load_config(source: Union[str, Path, dict, Config], overrides: Optional[list[str]] = None) -> Config:
    """Resolve a preset name, a YAML file, a mapping or a Config, then apply overrides and validate."""
    overrides = list(overrides or [])
    if isinstance(source, Config):
        data = source.to_dict()
    elif isinstance(source, dict):
        data = source
    else:
        text = str(source)
        if text.endswith((".yaml", ".yml")) or Path(text).is_file():
            path = Path(text)
            if not path.is_file():
                raise GankitError(f"config file not found: {path}")
            data = read_yaml_mapping(path.read_text(), str(path))
            data.setdefault("name", path.stem)
        else:
            data = preset_dict(text)
    data = apply_overrides(data, overrides)
    return from_dict(data).validate()


#: Keys added after runs were first saved whose default changes what a run does; a stored (resolved)
#: config without them ran with these values, so reading it back must keep them (exact resume).
LEGACY_DEFAULTS: dict[str, Any] = {
    "train.ema_rampup": 0.0,  # no EMA ramp before it existed
    "eval.final": False,  # no final scoring before it existed
}


def stored_config(data: dict) -> Config:
    """A config saved by a run (config.yaml, a checkpoint manifest, a benchmark record), validated: a
    key missing from it takes its :data:`LEGACY_DEFAULTS` value, not today's default, so an old run
    resumes and reproduces as it ran."""
    import copy

    data = copy.deepcopy(data)
    for dotted, value in LEGACY_DEFAULTS.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and last not in node:
            node[last] = value
    return load_config(data)
