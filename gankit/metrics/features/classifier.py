"""A small CNN classifier per built-in image dataset: its penultimate layer gives the features of
FID, KID, precision/recall and density/coverage, and its logits give the Inception-style score.

Why not InceptionV3 for 28x28 gray clothing or 8x8 digits: ImageNet features upsampled from a few
pixels say little about those images, and the weights cannot be fetched on every machine. A domain
classifier is the usual substitute for such data (e.g. the MNIST classifier of Lucic et al. 2018,
"Are GANs Created Equal?"); its scores are comparable only to scores made with the same weights,
which is why every score records the weights' sha256.

The weights are trained by ``gankit train-classifier DATASET`` from the training split and shipped
in ``gankit/metrics/weights/`` as ``classifier-DATASET.safetensors`` beside a JSON sidecar that
records the dataset, test accuracy, sha256, epochs, the command and the architecture.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError

FORMAT = "gankit-classifier/1"
SHIPPED = ("fashion_mnist", "digits")

# Per dataset: widths of the conv stages, the side of the pooled map before the penultimate layer,
# and the training recipe. A stage is conv3x3-BN-ReLU (x convs_per_stage) then 2x2 max-pool.
RECIPES: dict[str, dict] = {
    "fashion_mnist": {"widths": [32, 64, 128], "convs_per_stage": 1, "pooled": 3, "feature_dim": 128,
                      "epochs": 15, "batch_size": 128, "lr": 2e-3, "shift": 2, "flip": True},
    "digits": {"widths": [32, 64], "convs_per_stage": 2, "pooled": 2, "feature_dim": 128,
               "epochs": 60, "batch_size": 64, "lr": 2e-3, "shift": 1, "flip": False},
}


def weights_folder() -> Path:
    """The package folder that holds the shipped classifier weights."""
    return Path(__file__).resolve().parents[1] / "weights"


def shipped_weights(dataset: str) -> Path:
    """Path of the shipped weights for ``dataset`` (may not exist before ``train-classifier``)."""
    return weights_folder() / f"classifier-{dataset}.safetensors"


class SmallCNN(nn.Module):
    """conv stages -> adaptive avg-pool to ``pooled`` x ``pooled`` -> Linear -> ReLU (features) -> Linear (logits).

    Input: images [N, C, H, W] in [-1, 1] at the resolution it was trained on.
    """

    def __init__(self, in_channels: int, resolution: int, num_classes: int, widths: list[int],
                 convs_per_stage: int = 1, pooled: int = 3, feature_dim: int = 128,
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.num_classes = in_channels, resolution, num_classes
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            for _ in range(convs_per_stage):
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                c = w
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        self.fc = nn.Linear(c * pooled * pooled, feature_dim)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(penultimate features [N, feature_dim], logits [N, num_classes])."""
        h = self.pool(self.body(x)).flatten(1)
        feats = F.relu(self.fc(h))  # [N, feature_dim]
        return feats, self.head(self.drop(feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def architecture(dataset: str, in_channels: int, resolution: int, num_classes: int) -> dict:
    """The JSON description from which :func:`build_classifier` rebuilds the network."""
    r = RECIPES.get(dataset, RECIPES["fashion_mnist"] if resolution >= 16 else RECIPES["digits"])
    return {"class": "SmallCNN", "in_channels": in_channels, "resolution": resolution,
            "num_classes": num_classes, "widths": list(r["widths"]),
            "convs_per_stage": r["convs_per_stage"], "pooled": r["pooled"], "feature_dim": r["feature_dim"]}


def build_classifier(arch: dict) -> SmallCNN:
    if arch.get("class") != "SmallCNN":
        raise GankitError(f"unknown classifier architecture {arch.get('class')!r}")
    keys = ("in_channels", "resolution", "num_classes", "widths", "convs_per_stage", "pooled", "feature_dim")
    try:
        return SmallCNN(**{k: arch[k] for k in keys})
    except KeyError as exc:
        raise GankitError(f"classifier architecture lacks {exc}") from None


# --------------------------------------------------------------------------- files


def sidecar_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def read_sidecar(weights: Union[str, Path]) -> dict:
    """The JSON record beside a classifier weights file."""
    path = sidecar_path(Path(weights))
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise GankitError(f"classifier record {path} not found (it is written beside the weights by "
                          f"'gankit train-classifier')") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise GankitError(f"classifier record {path} is unreadable: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise GankitError(f"{path} is not a gankit classifier record (format {FORMAT!r} expected)")
    return record


def load_classifier(weights: Union[str, Path]) -> tuple[SmallCNN, dict]:
    """Load classifier weights after checking their sha256 against the sidecar; eval mode.

    Raises:
        GankitError when a file is missing, or the weights do not match the recorded sha256
        (tampered or truncated).
    """
    from gankit.fileio import load_module_state, load_tensors, sha256_file

    weights = Path(weights)
    if not weights.is_file():
        hint = (f"train it with 'gankit train-classifier {weights.stem.replace('classifier-', '')}'"
                if weights.parent == weights_folder() else "check the path")
        raise GankitError(f"classifier weights {weights} not found; {hint}")
    record = read_sidecar(weights)
    digest = sha256_file(weights)
    if digest != record.get("sha256"):
        raise GankitError(f"classifier weights {weights} do not match the sha256 recorded in "
                          f"{sidecar_path(weights).name} ({digest[:12]}... != "
                          f"{str(record.get('sha256'))[:12]}...): the file was modified or truncated; "
                          f"reinstall gankit or retrain with 'gankit train-classifier'")
    model = build_classifier(record["architecture"])
    state = load_tensors(weights, "classifier weights")
    load_module_state(model, state, "classifier", str(weights))
    return model.eval(), record


# --------------------------------------------------------------------------- training


def _augment(x: torch.Tensor, shift: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``shift`` pixels (padded with the black background) and horizontal flips."""
    n = x.shape[0]
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(-1), x)
    if shift:
        h, w = x.shape[-2:]
        padded = F.pad(x, (shift, shift, shift, shift), value=-1.0)  # -1 = black background
        dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=gen).tolist()
        x = padded[..., dy:dy + h, dx:dx + w]  # one shift per batch: cheap, and enough
    return x


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on images ``x`` [N, C, H, W] in [-1, 1] with labels ``y`` [N]."""
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        correct += int((model(x[start:start + batch_size]).argmax(1) == y[start:start + batch_size]).sum())
    return correct / max(1, len(x))


def fit_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: dict, epochs: int,
                   gen: torch.Generator, log: Optional[Callable[[str], None]] = None) -> nn.Module:
    """Train ``model`` on images ``x`` [N, C, H, W] in [-1, 1] with labels ``y`` [N] by ``recipe``
    (batch size, lr, augmentation): AdamW, one-cycle learning rate, label smoothing 0.05.
    Random draws come from ``gen`` (and the global RNG for dropout). Returns the model, in eval mode."""
    bs = recipe["batch_size"]
    steps_per_epoch = math.ceil(len(x) / bs)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe["lr"], total_steps=epochs * steps_per_epoch,
                                                pct_start=0.2)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        total, seen = 0.0, 0
        for start in range(0, len(perm), bs):
            idx = perm[start:start + bs]
            if len(idx) < 2:  # BatchNorm needs two items
                continue
            xb = _augment(x[idx], recipe["shift"], recipe["flip"], gen)
            loss = F.cross_entropy(model(xb), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: train loss {total / max(seen, 1):.4f} ({time.perf_counter() - t0:.0f} s)")
    return model.eval()


def train_classifier(dataset: str, epochs: Optional[int] = None, out: Union[str, Path, None] = None,
                     seed: int = 0, data_path: Optional[str] = None, command: str = "",
                     log: Callable[[str], None] = print) -> dict:
    """Train the feature classifier of ``dataset`` on its training split, test it, write it.

    Writes ``out`` (default: the shipped ``classifier-DATASET.safetensors``) and its JSON sidecar.
    Returns the sidecar record (dataset, test_accuracy, sha256, epochs, command, architecture, ...).
    """
    from safetensors.torch import save_file

    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.fileio import atomic_write_text, sha256_file

    if dataset not in RECIPES:
        from gankit.errors import closest

        raise GankitError(f"no classifier recipe for dataset '{dataset}'{closest(dataset, RECIPES)}; "
                          f"valid: {', '.join(RECIPES)}")
    recipe = RECIPES[dataset]
    epochs = int(epochs or recipe["epochs"])
    if epochs < 1:
        raise GankitError(f"--epochs must be >= 1, got {epochs}")
    cfg = DataConfig(name=dataset, path=data_path)
    train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
    if train.kind != "image" or train.y is None:
        raise GankitError(f"dataset '{dataset}' has no labelled images to train a classifier on")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    arch = architecture(dataset, train.shape[0], train.shape[-1], int(train.num_classes))
    model = build_classifier(arch)
    x_train, y_train = train.to_model(train.x), train.y
    x_test, y_test = test.to_model(test.x), test.y
    t0 = time.perf_counter()
    fit_classifier(model, x_train, y_train, recipe, epochs, gen, log)
    model.eval()
    train_acc = accuracy(model, x_train[:10000], y_train[:10000])
    test_acc = accuracy(model, x_test, y_test)
    log(f"test accuracy {test_acc:.4f} on {len(x_test)} images (train {train_acc:.4f} on the first 10,000)")

    out = Path(out) if out else shipped_weights(dataset)
    if out.suffix != ".safetensors":
        raise GankitError(f"--out {out}: the weights file must end in .safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"format": FORMAT, "dataset": dataset})
    tmp.replace(out)
    out.chmod(0o644)  # safetensors writes 0600; the file ships in the package
    record = {
        "format": FORMAT, "dataset": dataset, "test_accuracy": round(test_acc, 4),
        "test_images": len(x_test), "train_accuracy_first_10000": round(train_acc, 4),
        "sha256": sha256_file(out), "epochs": epochs, "seed": seed,
        "command": command or (f"gankit train-classifier {dataset} --epochs {epochs} --seed {seed}"
                               + (f" --out {out}" if out != shipped_weights(dataset) else "")),
        "architecture": arch, "recipe": {k: v for k, v in recipe.items() if k != "epochs"},
        "input": f"images [N, {arch['in_channels']}, {arch['resolution']}, {arch['resolution']}] in [-1, 1]",
        "features": f"penultimate ReLU layer, {arch['feature_dim']}-d",
        "data_source": str(train.source), "train_seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
    }
    atomic_write_text(sidecar_path(out), json.dumps(record, indent=1) + "\n")
    return record
