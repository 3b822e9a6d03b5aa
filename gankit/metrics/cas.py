"""Classification Accuracy Score (CAS).

Ravuri & Vinyals (2019), "Classification Accuracy Score for Conditional Generative Models",
NeurIPS: train a classifier only on generated, labelled samples and report its top-1 accuracy on
the real test set. A generator that drops classes, or whose samples do not carry their label's
features, scores low even when its samples look good.

The paper trains a ResNet on images; here the classifier is a multinomial logistic regression
(scikit-learn, L-BFGS) on standardized feature vectors: cheap enough to run on every evaluation, and
deterministic. Scores are comparable between models scored with the same features and settings.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from gankit.errors import GankitError
from gankit.metrics._arrays import as_labels, as_matrix


def classification_accuracy_score(train_x: Any, train_y: Any, test_x: Any, test_y: Any, *, seed: int = 0,
                                  max_iter: int = 1000, c: float = 1.0) -> float:
    """Accuracy on real (``test_x`` [P, F], ``test_y`` [P]) of a classifier trained on generated
    (``train_x`` [N, F], ``train_y`` [N]) (Ravuri & Vinyals 2019).

    Args:
        max_iter: L-BFGS iterations at most (a stop before convergence keeps the partial fit).
        c: inverse L2 regularization strength of the logistic regression.

    Returns:
        top-1 accuracy in [0, 1]. Generated labels of a single class give a constant classifier.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr = as_matrix(train_x, "generated features").cpu().double().numpy()
    xte = as_matrix(test_x, "real test features").cpu().double().numpy()
    if xtr.shape[1] != xte.shape[1]:
        raise GankitError(f"CAS: generated features have {xtr.shape[1]} dimensions, real {xte.shape[1]}")
    ytr = as_labels(train_y, len(xtr), "generated labels").numpy()
    yte = as_labels(test_y, len(xte), "real test labels").numpy()
    classes = np.unique(ytr)
    if len(classes) == 1:
        return float(np.mean(yte == classes[0]))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter, random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(xtr, ytr)
    return float(np.mean(model.predict(xte) == yte))

