"""What a frozen embedding still tells, measured by fresh probes with the confounds removed.

The paper argues from t-SNE pictures that MEnAN removes speaker information. A probe
measures it: a fresh classifier (linear, and a small MLP because the adversary it is
compared with is nonlinear; Elazar & Goldberg 2018) is fitted on the embeddings v and
scored by stratified cross-validation, so every utterance is predicted once by a probe
that never saw it. A probe is only as good as its controls, so each question is asked on
its own:

- **speaker**: which of the fold's *training* speakers spoke (the speakers the adversary
  fought), asked within each gender, on a subsample in which every speaker has the same
  number of utterances of each emotion. Neither emotion (which v is meant to keep) nor
  gender can then predict the speaker: chance is exactly one over the speakers per gender.
- **gender**: which gender spoke, among the fold's two unseen speakers, emotion-balanced
  the same way.
- **emotion**: the emotion of the unseen speakers' utterances (what v should keep).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

log = logging.getLogger(__name__)

PROBE_MODELS: dict[str, Callable[[int], ClassifierMixin]] = {
    "linear": lambda seed: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "mlp": lambda seed: make_pipeline(
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=(64,), solver="lbfgs", alpha=1e-3, max_iter=500, random_state=seed
        ),
    ),
}
"""The probe classifiers by name: what every probe is fitted with, one after the other.
L-BFGS fits a small MLP in a fraction of Adam's time at these sizes (hundreds to a few
thousand utterances). Measured on demo fold models, a stronger L2 weight (0.01 to 1) made
it 3 to 7x slower and no more accurate."""
PROBE_NAMES = ("speaker", "gender", "emotion")
"""The probes, in the order the report shows them."""
PROBE_COLUMNS = tuple(f"{p}_{m}" for p in PROBE_NAMES for m in PROBE_MODELS)
"""Every probe with every probe model, as keys of the evaluation metrics."""
UNKNOWN_GENDER = "unknown"


def probe_accuracy(
    embeddings: np.ndarray, targets: np.ndarray, n_splits: int, seed: int, model: str
) -> dict[str, Any]:
    """Cross-validated accuracy of one probe, beside the majority-class rate.

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
    split = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # an MLP that stops at max_iter still scores fairly
        warnings.simplefilter("ignore", ConvergenceWarning)
        predicted = cross_val_predict(PROBE_MODELS[model](seed), x, y, cv=split)
    return {
        **result,
        "accuracy": float(np.mean(predicted == y)),
        "chance": float(np.unique(y, return_counts=True)[1].max() / len(y)),
    }


def emotion_balanced(groups: np.ndarray, emotions: np.ndarray, seed: int) -> np.ndarray:
    """Row indices in which every group has the same number of utterances of each emotion.

    Per emotion, each group keeps a seeded random ``min over groups`` of its utterances
    of that emotion, so the emotion mix is identical across groups and emotion alone
    predicts a group no better than chance.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    names = np.unique(groups)
    for emotion in np.unique(emotions):
        members = [np.flatnonzero((groups == g) & (emotions == emotion)) for g in names]
        keep = min(len(m) for m in members)
        chosen += [rng.choice(m, size=keep, replace=False) for m in members if keep]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)


def speaker_probe(
    v: np.ndarray,
    speakers: np.ndarray,
    genders: np.ndarray,
    emotions: np.ndarray,
    n_splits: int,
    seed: int,
    model: str,
) -> dict[str, Any]:
    """Speaker identity within each gender, emotion-balanced; pooled over the genders.

    Accuracy and chance are weighted by each gender's number of probed utterances, so
    chance stays the exact rate of guessing among a gender's speakers.
    """
    hits = chance = n = 0.0
    for gender in np.unique(genders):
        in_gender = np.flatnonzero(genders == gender)
        rows = in_gender[emotion_balanced(speakers[in_gender], emotions[in_gender], seed)]
        if len(np.unique(speakers[rows])) < 2:
            continue
        result = probe_accuracy(v[rows], speakers[rows], n_splits, seed, model)
        if result["accuracy"] is None:
            continue
        hits += result["accuracy"] * result["n"]
        chance += result["chance"] * result["n"]
        n += result["n"]
    if not n:
        return {"accuracy": None, "chance": None, "n": 0}
    return {"accuracy": hits / n, "chance": chance / n, "n": int(n)}


def gender_probe(
    v: np.ndarray, genders: np.ndarray, emotions: np.ndarray, n_splits: int, seed: int, model: str
) -> dict[str, Any]:
    """Gender among utterances of known gender, emotion-balanced across the genders."""
    known = np.flatnonzero(genders != UNKNOWN_GENDER)
    rows = known[emotion_balanced(genders[known], emotions[known], seed)]
    return probe_accuracy(v[rows], genders[rows], n_splits, seed, model)
