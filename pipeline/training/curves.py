"""Training curves a person can read: one row per epoch per regime, the mean over its runs.

Every (fold, seed) run records a curve (``curve.json`` in its run folder). The tracked plot
file ``plots/train/<regime>.json`` holds their mean per epoch, with the standard deviation
over runs as the spread, in the units of the report (UA and accuracy in %). The training
stage rewrites it after every epoch any run finishes, so `dvc plots show` (or the VS Code
DVC extension) shows a long run while it trains; the rows of an epoch not every run has
reached yet say so in ``runs``. The stage's last write, from the finished run folders, is
the same function of the same rows, so the final file depends only on the results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.model import run_files
from pipeline.runtime.atomic import write_json

CURVE_MEASURES = {
    "val_ua": ("val_ua", 100.0),
    "emotion_loss": ("ce_emo", 1.0),
    "speaker_acc": ("sc_acc", 100.0),
    "entropy": ("entropy", 1.0),
}
"""Plotted name: (the curve.json key it averages, scale). UA and accuracy are in %."""
DIGITS = 3


def _mean_sd(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def aggregate(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per epoch: the number of (fold, seed) rows, and the mean and sd of every measure.

    Each row is one fold's curve entry at one epoch plus ``speakers``, the number of its
    training speakers: the speaker classifier's chance level is 100 / speakers and MEnAN's
    entropy is at most log(speakers) nats, so both reference lines come with the curve.
    """
    by_epoch: dict[int, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_epoch.setdefault(int(row["epoch"]), []).append(row)
    table = []
    for epoch in sorted(by_epoch):
        group = by_epoch[epoch]
        out: dict[str, Any] = {"epoch": epoch, "runs": len(group)}
        for name, (key, scale) in CURVE_MEASURES.items():
            if key not in group[0]:
                continue
            mean, sd = _mean_sd([scale * float(r[key]) for r in group])
            out[name], out[f"{name}_sd"] = round(mean, DIGITS), round(sd, DIGITS)
        speakers = [int(r["speakers"]) for r in group]
        if "sc_acc" in group[0]:
            out["speaker_chance"] = round(float(np.mean([100.0 / k for k in speakers])), DIGITS)
        if "entropy" in group[0]:
            out["log_k"] = round(float(np.mean([math.log(k) for k in speakers])), DIGITS)
        table.append(out)
    return table


class LiveCurves:
    """Collects curve rows as runs report them and keeps the plot file current."""

    def __init__(self, target: Path, rows: Iterable[Mapping[str, Any]] = ()) -> None:
        self.target = target
        self.rows: dict[tuple[int, int, int], Mapping[str, Any]] = {}
        self.add(rows)

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Take new rows (a resumed run re-sends its earlier epochs: kept once) and rewrite
        the file atomically, so a reader never sees half of it."""
        rows = list(rows)
        for row in rows:
            self.rows[(int(row["seed"]), int(row["fold"]), int(row["epoch"]))] = row
        if rows or not self.target.exists():
            write_json(self.target, aggregate(self.rows.values()))


def run_rows(root: Path) -> list[dict[str, Any]]:
    """The curve rows of every finished run under ``root`` (a regime's training output, or a
    fold-cache folder of finished packs), ready for :func:`aggregate`."""
    rows = []
    for run in run_files.finished_runs(root):
        summary = run_files.read_summary(run)
        extra = {"seed": summary["seed"], "speakers": len(summary["train"])}
        rows += [{**row, **extra} for row in run_files.read_curve(run)]
    return rows
