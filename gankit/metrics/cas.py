"""Classification Accuracy Score (CAS) and label agreement, for class-conditional generators.

CAS (Ravuri & Vinyals 2019, "Classification Accuracy Score for Conditional Generative Models",
NeurIPS): train a classifier from scratch on the pixels of generated samples, each labelled with
the class the generator was asked for, and report its top-1 accuracy on the real test split. Beside
it, ``cas_real``: the same classifier and recipe trained on as many real training images, the
ceiling a perfect generator would reach; ``cas_ratio`` = cas / cas_real. A generator that ignores
its label, drops classes or makes samples that lack their class's variety scores low even when its
samples look good. The paper trains a ResNet on ImageNet; here the classifier is the small CNN of
the shipped feature extractors (gankit/metrics/features/classifier.py), trained for a fixed number
of epochs: deterministic for a seed, comparable between scores made with the same settings.

An unconditional generator has no asked-for labels, so CAS is refused for it: labelling its samples
with a classifier's own guesses measures class coverage, not whether G follows labels (and heavily
noised real images pass that test).

Label agreement: the shipped (pretrained) classifier's accuracy on G(z, y) against y.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from gankit.errors import GankitError
from gankit.metrics._arrays import as_labels

CAS_EPOCHS = 6  # passes over the training set (10,000 samples: about a minute on one CPU core)


def _images(x: Any, what: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() != 4:
        raise GankitError(f"CAS trains an image classifier: {what} must be images [N, C, H, W] in [-1, 1], "
                          f"got shape {list(t.shape)}")
    return t.float()


def train_images_classifier(x: Any, y: Any, num_classes: int, *, seed: int = 0, epochs: int = CAS_EPOCHS,
                            recipe: Optional[str] = None) -> torch.nn.Module:
    """A new small CNN trained on images ``x`` [N, C, H, W] in [-1, 1] with labels ``y`` [N], by the
    shipped classifiers' ``recipe`` (a dataset name; None or unknown: by the image size)."""
    from gankit.metrics.features.classifier import RECIPES, architecture, build_classifier, fit_classifier

    x = _images(x, "the training images")
    y = as_labels(y, len(x), "training labels")
    if epochs < 1:
        raise GankitError(f"cas_epochs must be >= 1, got {epochs}")
    name = recipe if recipe in RECIPES else ("fashion_mnist" if x.shape[-1] >= 16 else "digits")
    with torch.random.fork_rng():  # dropout draws from the global RNG: keep the caller's stream
        torch.manual_seed(seed)
        model = build_classifier(architecture(name, x.shape[1], x.shape[-1], num_classes))
        return fit_classifier(model, x, y, RECIPES[name], epochs, torch.Generator().manual_seed(seed))


def classification_accuracy_score(train_x: Any, train_y: Any, test_x: Any, test_y: Any, *,
                                  num_classes: Optional[int] = None, seed: int = 0, epochs: int = CAS_EPOCHS,
                                  recipe: Optional[str] = None) -> float:
    """Accuracy on real images (``test_x`` [P, C, H, W] in [-1, 1], ``test_y`` [P]) of a classifier
    trained from scratch on ``train_x`` [N, C, H, W] with labels ``train_y`` [N] (Ravuri & Vinyals 2019).

    Returns top-1 accuracy in [0, 1]."""
    from gankit.metrics.features.classifier import accuracy

    test = _images(test_x, "the real test images")
    yte = as_labels(test_y, len(test), "real test labels")
    ytr = as_labels(train_y, len(torch.as_tensor(train_x)), "generated labels")
    k = int(num_classes or max(int(ytr.max()), int(yte.max())) + 1)
    model = train_images_classifier(train_x, ytr, k, seed=seed, epochs=epochs, recipe=recipe)
    return accuracy(model, test, yte)


def label_agreement(logits: Any, labels: Any) -> float:
    """Fraction of items whose classifier argmax (``logits`` [N, K]) is their asked-for label [N]."""
    lg = torch.as_tensor(logits)
    y = as_labels(labels, len(lg), "asked-for labels").to(lg.device)
    return float((lg.argmax(dim=1) == y).float().mean())
