"""Checkpoint selection: each fold riding on a run keeps the epoch its own validation speaker
prefers.

Both folds of a session train on the same speakers, so one run serves both; they differ
only in which held-out speaker is the validation speaker. Δ = test - val therefore
measures checkpoint selection alone (exactly 0 with ``selection: last``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.data.folds import Fold
from pipeline.evaluation.metrics import unweighted_accuracy, weighted_accuracy
from pipeline.features.frame_store import Split
from pipeline.model.network import EmotionSpeakerNet
from pipeline.model.run_files import prediction_table
from pipeline.model.scoring import Inputs, predict


@dataclass
class FoldSelector:
    """One fold of a run: its held-out splits, its curve, and its best epoch's weights."""

    fold: Fold
    val: Split
    test: Split
    curve: list[dict[str, Any]] = field(default_factory=list)
    best_ua: float = -1.0
    best_epoch: int = 0
    best: tuple[torch.Tensor, torch.Tensor] | None = None  # (main row, sc row)

    @property
    def index(self) -> int:
        return int(self.fold["fold"])

    def observe(
        self, epoch: int, pred: np.ndarray, logged: dict[str, float], lr: float, keep_best: bool,
        weights: tuple[torch.Tensor, torch.Tensor],
    ) -> float:  # fmt: skip
        """Score one epoch's validation predictions; remember the weights if they are the best
        so far (``keep_best``). Returns the validation UA."""
        val_ua = unweighted_accuracy(self.val.emotion, pred)
        self.curve.append(
            {
                "fold": self.index,
                "epoch": epoch,
                **logged,
                "val_wa": weighted_accuracy(self.val.emotion, pred),
                "val_ua": val_ua,
                "lr": lr,
            }
        )
        if keep_best and val_ua > self.best_ua:
            self.best_ua, self.best_epoch = val_ua, epoch
            self.best = tuple(w.detach().clone() for w in weights)
        return val_ua

    def state_dict(self) -> dict[str, Any]:
        main, sc = self.best if self.best is not None else (None, None)
        return {
            "curve": self.curve,
            "best_ua": self.best_ua,
            "best_epoch": self.best_epoch,
            "best_main": main,
            "best_sc": sc,
        }

    def load_state_dict(self, state: dict[str, Any], device: str) -> None:
        self.curve, self.best_ua = state["curve"], state["best_ua"]
        self.best_epoch = state["best_epoch"]
        main, sc = state["best_main"], state["best_sc"]
        self.best = None if main is None else (main.to(device), sc.to(device))


def scored(
    net: EmotionSpeakerNet, inputs: Inputs, sel: FoldSelector, epoch: int
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A fold's selected network (of ``epoch``) on its validation and test speakers: (the
    results ``fold.json`` records, the rows of ``predictions.parquet``, the embeddings v)."""
    results: dict[str, Any] = {"selected_epoch": epoch}
    tables, embeddings = [], {}
    for name, split in (("val", sel.val), ("test", sel.test)):
        probs, v = predict(net, inputs, split.rows)
        pred = probs.argmax(axis=1)
        results[f"{name}_wa"] = weighted_accuracy(split.emotion, pred)
        results[f"{name}_ua"] = unweighted_accuracy(split.emotion, pred)
        tables.append(prediction_table(name, split, probs))
        embeddings[name] = (split.utt_ids, v)
    return results, pd.concat(tables, ignore_index=True), embeddings
