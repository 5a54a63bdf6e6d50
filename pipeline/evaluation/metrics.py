"""WA and UA as the paper defines them (section 6)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import balanced_accuracy_score

WITHIN_KEYS = ("wa_val", "wa_test", "wa_delta", "ua_val", "ua_test", "ua_delta")
"""Table 2's columns, as keys of the evaluation metrics (Δ = test - val)."""


def weighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """WA: correctly classified samples / all samples."""
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def unweighted_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """UA: the mean of per-class recall over the classes present in ``y_true``.

    This is ``balanced_accuracy_score(y_true, y_pred)``; swapping the arguments (a common
    bug) would give macro precision instead.
    """
    return float(balanced_accuracy_score(y_true, y_pred))
