"""Training one pack of runs (sessions x seeds of one regime), one epoch at a time, resumably."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from pipeline.batches import FrameStore
from pipeline.inference import DeviceFrames
from pipeline.run_files import FoldResult
from pipeline.training import checkpoint
from pipeline.training.config import TrainConfig
from pipeline.training.pack import Pack, Run

log = logging.getLogger(__name__)

Report = Callable[[str, int], None]
"""Progress callback: (log line or "", number of finished (run, epoch) units)."""


def _log(line: str, done: int) -> None:
    if line:
        log.info("%s", line)


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
        report(f"{regime} {pack.names}: resuming after epoch {pack.epoch}", len(runs) * pack.epoch)
    while pack.epoch < config.epochs:
        started = time.perf_counter()
        losses = pack.train_epoch()
        scores = pack.select(losses)
        seconds = time.perf_counter() - started
        for r, run in enumerate(runs):
            values = " ".join(f"{k} {losses[k][r]:.3f}" for k in pack.keys)
            folds = " ".join(f"fold{f} {ua:.3f}" for f, ua in scores[r])
            report(
                f"{regime} {run.name} epoch {pack.epoch}/{config.epochs}: {values} | "
                f"val UA {folds} | {seconds:.1f} s",
                1,
            )
        if state_path is not None:
            checkpoint.save(state_path, pack.state_dict())
    return pack.results()
