"""Scoring one regime's folds: Table 2's WA/UA/Δ, Table 3's cross-corpus accuracy, the probes.

Every number is recomputed from the files the training stage wrote per fold
(``predictions.parquet``, ``embeddings.npz``, ``model.pt``), so a change in how results
are scored never retrains, and nothing is taken on trust from a log line. Accuracies are
percentages, as in the paper.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline import EMOTIONS, feature_store
from pipeline.batches import FrameStore
from pipeline.errors import CorpusError
from pipeline.metrics import (
    PROBE_KEYS,
    WITHIN_KEYS,
    unweighted_accuracy,
    weighted_accuracy,
)
from pipeline.probe import probe_accuracy
from pipeline.training.outputs import load_fold_model, predict

log = logging.getLogger(__name__)

PERCENT = 100.0


def fold_dirs(train_dir: Path) -> list[Path]:
    """The finished (fold, seed) runs of one regime's training output, by fold then seed."""
    dirs = [p.parent for p in Path(train_dir).glob("fold[0-9][0-9]/seed*/fold.json")]
    if not dirs:
        raise CorpusError(str(train_dir), "no finished folds (foldNN/seedS/fold.json) in it")
    return sorted(dirs, key=lambda d: (d.parent.name, int(d.name.removeprefix("seed"))))


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


def unseen_embeddings(fold_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(v, speaker, emotion) of a fold's validation and test utterances: never trained on."""
    with np.load(fold_dir / "embeddings.npz") as npz:
        utt_ids = np.concatenate([npz["val_utt_id"], npz["test_utt_id"]])
        v = np.concatenate([npz["val_v"], npz["test_v"]])
    meta = pd.read_parquet(fold_dir / "predictions.parquet").set_index("utt_id").loc[utt_ids]
    return v, meta["speaker"].to_numpy(), meta["label"].to_numpy()


@dataclass
class CrossCorpus:
    """The cross-corpus set: its frames and, per row, the classes that count as correct."""

    store: FrameStore
    rows: np.ndarray
    correct: list[frozenset[str]]

    @classmethod
    def load(cls, labels_path: Path, features_path: Path) -> CrossCorpus:
        labels = pd.read_parquet(labels_path, columns=["utt_id", "correct"]).set_index("utt_id")
        store = FrameStore.combine(feature_store.load(features_path))
        rows = np.flatnonzero(store.speeds == 1.0)
        missing = sorted(set(labels.index) - set(store.utt_ids[rows]))
        if missing:
            raise CorpusError(
                str(features_path),
                f"no features for {len(missing)} labelled segments of {labels_path}, "
                f"e.g. {missing[:5]}",
            )
        rows = rows[np.isin(store.utt_ids[rows], labels.index)]
        correct = [frozenset(c) for c in labels.loc[store.utt_ids[rows], "correct"]]
        return cls(store=store, rows=rows, correct=correct)

    def score(self, model_path: Path, device: str) -> pd.DataFrame:
        """One fold model's predictions; a prediction is a hit when its class was rated."""
        net, inputs = load_fold_model(model_path, self.store, device)
        probs, _ = predict(net, inputs, self.rows)
        predicted = [EMOTIONS[i] for i in probs.argmax(axis=1)]
        table = pd.DataFrame(
            {
                "utt_id": self.store.utt_ids[self.rows].astype(str),
                "predicted": predicted,
                "hit": [p in c for p, c in zip(predicted, self.correct, strict=True)],
            }
        )
        for k, name in enumerate(EMOTIONS):
            table[f"prob_{name}"] = probs[:, k].astype(np.float32)
        return table


def evaluate_fold(
    fold_dir: Path, cross: CrossCorpus, probe_splits: int, seed: int, device: str
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """(scores, test predictions, cross-corpus predictions) of one fold."""
    info = json.loads((fold_dir / "fold.json").read_text())
    predictions = pd.read_parquet(fold_dir / "predictions.parquet")
    v, speakers, emotions = unseen_embeddings(fold_dir)
    probes: dict[str, float | None] = {}
    for name, targets in (("speaker", speakers), ("emotion", emotions)):
        result = probe_accuracy(v, targets, probe_splits, seed)
        probes[f"probe_{name}"] = _percent(result["accuracy"])
        probes[f"probe_{name}_chance"] = _percent(result["chance"])
    cross_table = cross.score(fold_dir / "model.pt", device).assign(
        fold=info["fold"], seed=info["seed"]
    )
    scores = {
        "fold": info["fold"],
        "seed": info["seed"],
        "val_speaker": info["val"],
        "test_speaker": info["test"],
        "selected_epoch": info["selected_epoch"],
        **within_corpus(predictions),
        "cross_corpus": PERCENT * float(cross_table["hit"].mean()),
        **probes,
    }
    return scores, predictions[predictions["split"] == "test"], cross_table


def _percent(value: float | None) -> float | None:
    return None if value is None else PERCENT * value


def summarize(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over every (fold, seed) and the fold-to-fold std of seed means: a table row."""
    table = pd.DataFrame(folds)
    per_fold = table.groupby("fold")[list(WITHIN_KEYS)].mean()
    ddof = 1 if len(per_fold) > 1 else 0
    cross = table["cross_corpus"]
    probes = {k: table[f"probe_{k}"].dropna() for k in PROBE_KEYS}
    return {
        "folds": int(table["fold"].nunique()),
        "seeds": int(table["seed"].nunique()),
        "within": {k: float(table[k].mean()) for k in WITHIN_KEYS},
        "within_std": {k: float(per_fold[k].std(ddof=ddof)) for k in WITHIN_KEYS},
        "cross_corpus": {"mean": float(cross.mean()), "min": float(cross.min()),
                         "max": float(cross.max())},
        "probe": {k: float(p.mean()) if len(p) else None for k, p in probes.items()},
    }  # fmt: skip


def evaluate_regime(
    train_dir: Path, cross: CrossCorpus, probe_splits: int, seed: int, device: str
) -> tuple[list[dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """(per-fold scores, test predictions of every fold, cross-corpus predictions)."""
    folds, tests, crosses = [], [], []
    for fold_dir in tqdm(fold_dirs(train_dir), desc=f"evaluate {Path(train_dir).name}"):
        scores, test, cross_table = evaluate_fold(fold_dir, cross, probe_splits, seed, device)
        log.info(
            "fold %d seed %d: UA val %.1f test %.1f, cross-corpus %.1f, speaker probe %s",
            scores["fold"], scores["seed"], scores["ua_val"], scores["ua_test"],
            scores["cross_corpus"], scores["probe_speaker"],
        )  # fmt: skip
        folds.append(scores)
        tests.append(test)
        crosses.append(cross_table)
    return folds, pd.concat(tests, ignore_index=True), pd.concat(crosses, ignore_index=True)
