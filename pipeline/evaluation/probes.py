"""What a frozen embedding still tells, measured by fresh probes with the confounds removed.

The paper argues from t-SNE pictures that MEnAN removes speaker information. A probe
measures it: a fresh classifier fitted on the embeddings v, linear and nonlinear (the
adversary it is compared with is nonlinear; Elazar & Goldberg 2018). The nonlinear probe is
an RBF-kernel SVM: its training problem is convex, so its answer is unique and the same on
every machine for the same embeddings (a small MLP's L-BFGS fit moved by up to 2 points
across machines on identical embeddings). A probe is only as good as its controls, so each
question is asked on its own:

- **speaker**: which of the fold's *training* speakers spoke (the speakers the adversary
  fought), asked within each gender, on a subsample in which every speaker has the same
  number of utterances of each emotion, scored by stratified cross-validation. Neither
  emotion nor gender can then predict the speaker: chance is one over the speakers per
  gender. Its utterances are ones the encoder trained on (in-sample); with
  ``train.probe_holdout`` a slice of every training speaker's utterances is kept out of
  training, and **speaker_heldout** asks the same question of that slice, with a probe
  fitted on the trained-on utterances.
- **gender**: speaker-disjoint. Fitted on the training speakers' embeddings, scored on the
  fold's two unseen speakers, both emotion-balanced across the genders.
- **emotion**: the emotion of the unseen speakers' utterances (what v should keep), by
  stratified cross-validation.

Every result carries its size: utterances scored, classes, utterances dropped by the
balancing or for a class too small to split.
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
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

log = logging.getLogger(__name__)

PROBE_MODELS: dict[str, Callable[[], ClassifierMixin]] = {
    "linear": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "kernel": lambda: make_pipeline(StandardScaler(), SVC(kernel="rbf", C=1.0, gamma="scale")),
}
"""The probe classifiers by name. Both have a unique optimum (a convex problem), so neither
needs a seed; their solvers stop at a tolerance, so identical embeddings give the same
answers on one machine and may differ in the last digits on another."""
PROBE_NAMES = ("speaker", "gender", "emotion")
"""The probes every evaluation runs, in the order the report shows them."""
HELD_OUT = "speaker_heldout"
"""The speaker probe on utterances the encoder never trained on (``train.probe_holdout``)."""
PROBE_COLUMNS = tuple(f"{p}_{m}" for p in (*PROBE_NAMES, HELD_OUT) for m in PROBE_MODELS)
"""Every probe with every probe model, as keys of the evaluation metrics."""
UNKNOWN_GENDER = "unknown"
NOT_RUN = {"accuracy": None, "chance": None, "n": 0, "classes": 0, "dropped": 0}


def _fit(model: str) -> ClassifierMixin:
    return PROBE_MODELS[model]()


def _result(
    predicted: np.ndarray, truth: np.ndarray, dropped: int, balanced: bool = False
) -> dict[str, Any]:
    """Accuracy beside chance: the majority-class rate, or, for a probe fitted on parts
    balanced over its classes, one over the classes (such a probe has no majority to fall
    back on: fitted on nothing, it spreads its guesses evenly)."""
    classes, counts = np.unique(truth, return_counts=True)
    return {
        "accuracy": float(np.mean(predicted == truth)),
        "chance": 1 / len(classes) if balanced else float(counts.max() / len(truth)),
        "n": len(truth),
        "classes": len(classes),
        "dropped": int(dropped),
    }


def probe_accuracy(
    embeddings: np.ndarray, targets: np.ndarray, n_splits: int, seed: int, model: str,
    dropped: int = 0, confound: np.ndarray | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Cross-validated accuracy of one probe, beside its chance.

    Parts are stratified by target. With a ``confound`` (emotion, for the speaker probe),
    each part's training utterances are trimmed so that every target has the same number
    within each confound value, and chance is then one over the classes, not the majority
    rate (measured on pure-noise embeddings with 39 % of one emotion: 24.7 %). Without the
    trimming a held-out utterance's own speaker is short by that very utterance in its
    emotion's training data, and a local probe (the kernel)
    scores *below* chance where there is nothing to find (measured: 17 % against 25 %).
    Classes with fewer than ``n_splits`` examples cannot appear in every held-out part, so
    they are left out (and counted with ``dropped``); with fewer than two classes left
    accuracy and chance are None.
    """
    targets = np.asarray(targets).astype(str)
    classes, counts = np.unique(targets, return_counts=True)
    mask = np.isin(targets, classes[counts >= n_splits])
    dropped += int((~mask).sum())
    if len(np.unique(targets[mask])) < 2:
        log.warning("probe skipped: fewer than two classes with %d examples each", n_splits)
        return {**NOT_RUN, "dropped": dropped}
    x, y = embeddings[mask], targets[mask]
    rng = np.random.default_rng(seed)
    predicted = np.empty_like(y)
    parts = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for train, test in parts.split(x, y):
            if confound is not None:
                train = train[_trimmed(y[train], np.asarray(confound)[mask][train], rng)]
            predicted[test] = _fit(model).fit(x[train], y[train]).predict(x[test])
    return _result(predicted, y, dropped, balanced=confound is not None)


def _trimmed(targets: np.ndarray, confound: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices where, within each confound value, every target present has the same count
    (the smallest there): a target with none there stays without, rather than emptying a
    small training part."""
    chosen = []
    for value in np.unique(confound):
        members = [np.flatnonzero((targets == t) & (confound == value)) for t in np.unique(targets)]
        members = [m for m in members if len(m)]
        keep = min(len(m) for m in members)
        chosen += [rng.choice(m, size=keep, replace=False) for m in members]
    return np.sort(np.concatenate(chosen))


def emotion_balanced(
    groups: np.ndarray, emotions: np.ndarray, seed: int | np.random.Generator
) -> np.ndarray:
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


def _pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Results of several groups as one: accuracy and chance weighted by their sizes."""
    ran = [r for r in results if r["accuracy"] is not None]
    dropped = sum(r["dropped"] for r in results)
    n = sum(r["n"] for r in ran)
    if not n:
        return {**NOT_RUN, "dropped": dropped}
    return {
        "accuracy": sum(r["accuracy"] * r["n"] for r in ran) / n,
        "chance": sum(r["chance"] * r["n"] for r in ran) / n,
        "n": n,
        "classes": sum(r["classes"] for r in ran),
        "dropped": dropped,
    }


def speaker_probe(
    v: np.ndarray, speakers: np.ndarray, genders: np.ndarray, emotions: np.ndarray,
    n_splits: int, seed: int, model: str,
) -> dict[str, Any]:  # fmt: skip
    """Speaker identity within each gender, emotion-balanced, by cross-validation; pooled
    over the genders (accuracy and chance weighted by each gender's utterances)."""
    results = []
    for gender in np.unique(genders):
        in_gender = np.flatnonzero(genders == gender)
        rows = in_gender[emotion_balanced(speakers[in_gender], emotions[in_gender], seed)]
        dropped = len(in_gender) - len(rows)
        if len(np.unique(speakers[rows])) < 2:
            results.append({**NOT_RUN, "dropped": len(in_gender)})
            continue
        results.append(
            probe_accuracy(v[rows], speakers[rows], n_splits, seed, model, dropped, emotions[rows])
        )
    return _pooled(results)


def speaker_heldout_probe(
    fit: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    score: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    seed: int, model: str,
) -> dict[str, Any]:  # fmt: skip
    """Speaker identity within each gender: fitted on (v, speaker, gender, emotion) of
    utterances the encoder trained on, scored on ``score``, utterances it never saw; each
    side emotion-balanced."""
    results = []
    for gender in np.unique(fit[2]):
        sides = []
        for v, speakers, genders, emotions in (fit, score):
            in_gender = np.flatnonzero(genders == gender)
            rows = in_gender[emotion_balanced(speakers[in_gender], emotions[in_gender], seed)]
            sides.append((v[rows], speakers[rows], len(in_gender) - len(rows)))
        (x, y, lost), (x_test, y_test, lost_test) = sides
        if len(np.unique(y)) < 2 or not len(y_test):
            results.append({**NOT_RUN, "dropped": lost + lost_test + len(y_test)})
            continue
        predicted = _fit(model).fit(x, y).predict(x_test)
        results.append(_result(predicted, y_test, lost_test))
    return _pooled(results)


def gender_probe(
    fit: tuple[np.ndarray, np.ndarray, np.ndarray],
    score: tuple[np.ndarray, np.ndarray, np.ndarray],
    seed: int, model: str,
) -> dict[str, Any]:  # fmt: skip
    """Gender, speaker-disjoint: fitted on (v, gender, emotion) of the training speakers,
    scored on the unseen speakers'; utterances of unknown gender are left out, each side
    emotion-balanced across the genders."""
    sides = []
    for v, genders, emotions in (fit, score):
        known = np.flatnonzero(genders != UNKNOWN_GENDER)
        rows = known[emotion_balanced(genders[known], emotions[known], seed)]
        sides.append((v[rows], genders[rows], len(genders) - len(rows)))
    (x, y, _), (x_test, y_test, dropped) = sides
    if len(np.unique(y)) < 2 or len(np.unique(y_test)) < 2:
        return {**NOT_RUN, "dropped": dropped + len(y_test)}
    predicted = _fit(model).fit(x, y).predict(x_test)
    return _result(predicted, y_test, dropped)
