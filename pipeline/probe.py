"""How much a frozen embedding still tells: a linear probe on the unseen speakers' vectors.

The paper argues from t-SNE pictures that MEnAN removes speaker information while DAT only
fools its own speaker classifier. A probe measures it instead: a fresh logistic regression,
trained and scored by stratified cross-validation on the embeddings v of a fold's two
held-out speakers, predicts the speaker (or the emotion). Every utterance is held out
exactly once, and the probe never saw the network's own classifiers. Accuracy near the
majority-class rate means the information is not linearly recoverable.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

log = logging.getLogger(__name__)


def probe_accuracy(
    embeddings: np.ndarray, targets: np.ndarray, n_splits: int, seed: int
) -> dict[str, Any]:
    """Cross-validated accuracy of a logistic-regression probe, beside the majority rate.

    Classes with fewer than ``n_splits`` examples cannot appear in every held-out part, so
    they are left out (and counted); with fewer than two classes left there is nothing to
    probe and accuracy and chance are None.
    """
    targets = np.asarray(targets).astype(str)
    classes, counts = np.unique(targets, return_counts=True)
    kept = classes[counts >= n_splits]
    mask = np.isin(targets, kept)
    result: dict[str, Any] = {"n": int(mask.sum()), "dropped": int((~mask).sum())}
    if len(kept) < 2:
        log.warning("probe skipped: fewer than two classes with %d examples each", n_splits)
        return {**result, "accuracy": None, "chance": None}
    x, y = embeddings[mask], targets[mask]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    split = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    predicted = cross_val_predict(model, x, y, cv=split)
    return {
        **result,
        "accuracy": float(np.mean(predicted == y)),
        "chance": float(np.unique(y, return_counts=True)[1].max() / len(y)),
    }
