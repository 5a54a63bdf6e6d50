"""Scoring one regime's runs: Table 2's WA/UA/Δ, Table 3's cross-corpus accuracy, the probes.

Every number is recomputed from the files the training stage wrote per run
(:mod:`pipeline.run_files`), so a change in how results are scored never retrains, and
nothing is taken on trust from a log line. Accuracies are percentages, as in the paper.
Each corpus's frames go to the device once (:class:`pipeline.inference.DeviceFrames`), and
every run's model is scored on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline import EMOTIONS, run_files
from pipeline.errors import CorpusError
from pipeline.frame_cache import CACHE_DIR, open_frames
from pipeline.inference import DeviceFrames, FoldModel
from pipeline.metrics import WITHIN_KEYS, unweighted_accuracy, weighted_accuracy
from pipeline.params import EvaluateSettings
from pipeline.probe import (
    PROBE_COLUMNS,
    PROBE_MODELS,
    PROBE_NAMES,
    UNKNOWN_GENDER,
    gender_probe,
    probe_accuracy,
    speaker_probe,
)
from pipeline.statistics import session_values, t_interval

log = logging.getLogger(__name__)

PERCENT = 100.0


def within_corpus(predictions: pd.DataFrame) -> dict[str, float]:
    """WA and UA on the validation and the test speaker of one fold, and Δ = test - val."""
    scores: dict[str, float] = {}
    for split in ("val", "test"):
        part = predictions[predictions["split"] == split]
        scores[f"wa_{split}"] = PERCENT * weighted_accuracy(part["label"], part["predicted"])
        scores[f"ua_{split}"] = PERCENT * unweighted_accuracy(part["label"], part["predicted"])
    for measure in ("wa", "ua"):
        scores[f"{measure}_delta"] = scores[f"{measure}_test"] - scores[f"{measure}_val"]
    return scores


def _originals(
    features_path: Path, device: str, cache_dir: Path
) -> tuple[DeviceFrames, np.ndarray, np.ndarray]:
    """A corpus's frames on ``device``, its utterance ids and its rows at the original speed."""
    store = open_frames([features_path], cache_dir)
    rows = np.flatnonzero(store.speeds == 1.0)
    return DeviceFrames(store, device), store.utt_ids, rows


@dataclass
class TrainingCorpus:
    """The training corpus at its original speed: speaker, gender and emotion per row.

    The speaker probe asks which training speaker spoke, so it needs each fold model's
    embeddings of its own training speakers; they are computed here, not stored by
    training, so probes can change without retraining.
    """

    frames: DeviceFrames
    rows: np.ndarray
    speakers: np.ndarray
    genders: np.ndarray
    emotions: np.ndarray

    @classmethod
    def load(
        cls, labels_path: Path, features_path: Path, device: str, cache_dir: Path = CACHE_DIR
    ) -> TrainingCorpus:
        labels = pd.read_parquet(labels_path, columns=["utt_id", "speaker", "gender", "label"])
        frames, utt_ids, rows = _originals(features_path, device, cache_dir)
        labels = labels.set_index("utt_id").reindex(utt_ids[rows])
        if labels["speaker"].isna().any():
            raise CorpusError(
                str(features_path), f"holds utterances that {labels_path} does not label"
            )
        return cls(
            frames=frames,
            rows=rows,
            speakers=labels["speaker"].to_numpy(str),
            genders=labels["gender"].fillna(UNKNOWN_GENDER).to_numpy(str),
            emotions=labels["label"].to_numpy(str),
        )

    def gender_of(self, speakers: np.ndarray) -> np.ndarray:
        """The recorded gender of each given speaker (``unknown`` where none is)."""
        known = dict(zip(self.speakers, self.genders, strict=True))
        return np.array([known.get(s, UNKNOWN_GENDER) for s in speakers])


@dataclass
class CrossCorpus:
    """The cross-corpus set: its frames and, per row, the classes that count as correct."""

    frames: DeviceFrames
    utt_ids: np.ndarray
    rows: np.ndarray
    correct: list[frozenset[str]]

    @classmethod
    def load(
        cls, labels_path: Path, features_path: Path, device: str, cache_dir: Path = CACHE_DIR
    ) -> CrossCorpus:
        labels = pd.read_parquet(labels_path, columns=["utt_id", "correct"]).set_index("utt_id")
        frames, utt_ids, rows = _originals(features_path, device, cache_dir)
        missing = sorted(set(labels.index) - set(utt_ids[rows]))
        if missing:
            raise CorpusError(
                str(features_path),
                f"no features for {len(missing)} labelled segments of {labels_path}, "
                f"e.g. {missing[:5]}",
            )
        rows = rows[np.isin(utt_ids[rows], labels.index)]
        correct = [frozenset(c) for c in labels.loc[utt_ids[rows], "correct"]]
        return cls(frames=frames, utt_ids=utt_ids, rows=rows, correct=correct)

    def score(self, model: FoldModel) -> pd.DataFrame:
        """One fold model's predictions; a prediction is a hit when its class was rated."""
        probs, _ = model.predict(self.frames, self.rows)
        predicted = [EMOTIONS[i] for i in probs.argmax(axis=1)]
        table = pd.DataFrame(
            {
                "utt_id": self.utt_ids[self.rows].astype(str),
                "predicted": predicted,
                "hit": [p in c for p, c in zip(predicted, self.correct, strict=True)],
            }
        )
        for k, name in enumerate(EMOTIONS):
            table[f"prob_{name}"] = probs[:, k].astype(np.float32)
        return table


def probes(
    model: FoldModel, run: Path, train_speakers: list[str], corpus: TrainingCorpus,
    settings: EvaluateSettings,
) -> dict[str, float | None]:  # fmt: skip
    """Every probe of PROBE_NAMES with every probe model, in %, and each one's chance rate."""
    v, speakers, emotions = run_files.unseen_embeddings(run)
    chosen = np.isin(corpus.speakers, train_speakers)
    _, train_v = model.predict(corpus.frames, corpus.rows[chosen])
    train = (corpus.speakers[chosen], corpus.genders[chosen], corpus.emotions[chosen])
    genders = corpus.gender_of(speakers)
    splits, seed = settings.probe_splits, settings.seed
    results: dict[str, float | None] = {}
    for name in PROBE_MODELS:
        found = {
            "speaker": speaker_probe(train_v, *train, splits, seed, name),
            "gender": gender_probe(v, genders, emotions, splits, seed, name),
            "emotion": probe_accuracy(v, emotions, splits, seed, name),
        }
        for probe, result in found.items():
            results[f"probe_{probe}_{name}"] = _percent(result["accuracy"])
            results[f"probe_{probe}_chance"] = _percent(result["chance"])
    return results


def evaluate_fold(
    run: Path, corpus: TrainingCorpus, cross: CrossCorpus, settings: EvaluateSettings
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """(scores, test predictions, cross-corpus predictions) of one (fold, seed) run, its
    model on the device that holds the corpora's frames."""
    info = run_files.read_summary(run)
    predictions = run_files.read_predictions(run)
    model = FoldModel.load(run, corpus.frames.device)
    cross_table = cross.score(model).assign(fold=info["fold"], seed=info["seed"])
    scores = {
        "fold": info["fold"],
        "seed": info["seed"],
        "session": info["session"],
        "val_speaker": info["val"],
        "test_speaker": info["test"],
        "selected_epoch": info["selected_epoch"],
        **within_corpus(predictions),
        "cross_corpus": PERCENT * float(cross_table["hit"].mean()),
        **probes(model, run, info["train"], corpus, settings),
    }
    return scores, predictions[predictions["split"] == "test"], cross_table


def _percent(value: float | None) -> float | None:
    return None if value is None else PERCENT * value


def summarize(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """A regime's table row: every score as a mean over sessions with its 95 % interval.

    Each (fold, seed) score is first averaged within its session (the independent unit,
    see ``pipeline.statistics``); min and max of the cross-corpus accuracy are over the
    (fold, seed) models themselves, as the paper's Table 3. Intervals are clipped to what
    the score can take (0-100, or ±100 for Δ). A probe that could not run anywhere (for
    example gender, where no gender is recorded) is None.
    """
    table = pd.DataFrame(folds)

    def interval(column: str) -> dict[str, Any] | None:
        values = session_values(table, column)
        if not len(values):
            return None
        stat = t_interval(values.to_numpy()).as_dict()
        if stat["low"] is not None:  # a t-interval knows no bounds; a percentage does
            floor = -PERCENT if column.endswith("_delta") else 0.0
            stat["low"], stat["high"] = max(stat["low"], floor), min(stat["high"], PERCENT)
        return stat

    def mean(column: str) -> float | None:
        values = table[column].dropna()
        return float(values.mean()) if len(values) else None

    cross = table["cross_corpus"]
    return {
        "folds": int(table["fold"].nunique()),
        "seeds": int(table["seed"].nunique()),
        "sessions": int(table["session"].nunique()),
        "runs": len(table[["session", "seed"]].drop_duplicates()),
        "within": {k: interval(k) for k in WITHIN_KEYS},
        "cross_corpus": {**interval("cross_corpus"), "min": float(cross.min()),
                         "max": float(cross.max())},
        "probe": {k: interval(f"probe_{k}") for k in PROBE_COLUMNS},
        "chance": {k: mean(f"probe_{k}_chance") for k in PROBE_NAMES},
    }  # fmt: skip


def evaluate_regime(
    train_dir: Path, corpus: TrainingCorpus, cross: CrossCorpus, settings: EvaluateSettings
) -> tuple[list[dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """(per-fold scores, test predictions of every fold, cross-corpus predictions)."""
    folds, tests, crosses = [], [], []
    runs = run_files.finished_runs(train_dir)
    for run in tqdm(runs, desc=f"evaluate {Path(train_dir).name}"):
        scores, test, cross_table = evaluate_fold(run, corpus, cross, settings)
        log.info(
            "fold %d seed %d: UA val %.1f test %.1f, cross-corpus %.1f, speaker probe %s / %s",
            scores["fold"], scores["seed"], scores["ua_val"], scores["ua_test"],
            scores["cross_corpus"], scores["probe_speaker_linear"], scores["probe_speaker_mlp"],
        )  # fmt: skip
        folds.append(scores)
        tests.append(test)
        crosses.append(cross_table)
    return folds, pd.concat(tests, ignore_index=True), pd.concat(crosses, ignore_index=True)
