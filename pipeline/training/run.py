"""Training one pack of runs (sessions x seeds of one regime), one epoch at a time, resumably."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.features.frame_store import FrameStore
from pipeline.model.run_files import FoldResult
from pipeline.model.scoring import DeviceFrames
from pipeline.training import checkpoint
from pipeline.training.config import TrainConfig
from pipeline.training.pack import Pack, Run

log = logging.getLogger(__name__)

Report = Callable[[str, int, list[dict[str, Any]]], None]
"""Progress callback: (log line or "", number of finished (run, epoch) units, the curve rows
of those epochs, each with its run's seed and number of training speakers)."""


def _log(line: str, done: int, rows: list[dict[str, Any]]) -> None:
    if line:
        log.info("%s", line)


def curve_rows(pack: Pack, last: int | None = None) -> list[list[dict[str, Any]]]:
    """Per run of the pack, its folds' curve rows (all of them, or the ``last`` epoch's),
    as :mod:`pipeline.training.curves` averages them."""
    return [
        [
            {**row, "seed": data.run.seed, "speakers": len(data.run.folds[0]["train"])}
            for sel in data.selectors
            for row in (sel.curve if last is None else sel.curve[-last:])
        ]
        for data in pack.runs
    ]


def train_pack(
    store: FrameStore,
    labels: pd.DataFrame,
    runs: list[Run],
    regime: str,
    config: TrainConfig,
    state_path: Path | None = None,
    report: Report = _log,
    frames: DeviceFrames | None = None,
) -> list[list[FoldResult]]:
    """Train the runs of a pack together; per run, per fold: the selected outputs.

    With ``state_path``, the whole state is saved there after every epoch and training
    resumes from it when it exists. ``frames``: see :class:`Pack`.
    """
    pack = Pack(store, labels, runs, regime, config, frames)
    saved = checkpoint.load(state_path) if state_path is not None else None
    if saved is not None:
        pack.load_state_dict(saved)
        earlier = [row for rows in curve_rows(pack) for row in rows]
        report(f"{regime} {pack.names}: resuming after epoch {pack.epoch}",
               len(runs) * pack.epoch, earlier)  # fmt: skip
    while pack.epoch < config.epochs:
        started = time.perf_counter()
        losses = pack.train_epoch()
        scores = pack.select(losses)
        seconds = time.perf_counter() - started
        rows = curve_rows(pack, last=1)
        for r, run in enumerate(runs):
            values = " ".join(f"{k} {losses[k][r]:.3f}" for k in pack.keys)
            folds = " ".join(f"fold{f} {ua:.3f}" for f, ua in scores[r])
            report(
                f"{regime} {run.name} epoch {pack.epoch}/{config.epochs}: {values} | "
                f"val UA {folds} | {seconds:.1f} s",
                1,
                rows[r],
            )
        if state_path is not None:
            checkpoint.save(state_path, pack.state_dict())
    return pack.results()
