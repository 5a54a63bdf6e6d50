"""A released model per regime: one network trained on every speaker of the training corpus.

Cross-validation trains each regime many times on 8 of 10 speakers and scores held-out
speakers; a user wants one network. The release trains the regime's network once more, on
all speakers (originals and speed copies), with the regime's own settings and the first of
``train.seeds``, and keeps it after the number of epochs cross-validation chose:
:data:`EPOCH_RULE`. The learning-rate schedule is the cross-validation's (polynomial decay
over ``train.epochs``), stopped at that epoch, so the released network is what a
cross-validation run was at its selected checkpoint, only with two more speakers.

There is no held-out speaker left to score it on: its expected performance is the
cross-validation's, which the model card quotes (:mod:`pipeline.reporting.model_card`).
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline.features.frame_store import FrameStore
from pipeline.model import run_files
from pipeline.training.config import TrainConfig
from pipeline.training.pack import Pack, Run

log = logging.getLogger(__name__)

EPOCH_RULE = (
    "the lower median of the epochs that validation UA selected over every (fold, seed) run "
    "of cross-validation (an epoch some run actually chose)"
)


@dataclass
class Released:
    """The released network and what it was trained on."""

    state: dict[str, torch.Tensor]
    mean: np.ndarray
    std: np.ndarray
    speakers: list[str]
    epochs: int
    selected: list[int]
    seed: int
    curve: list[dict[str, Any]]


def chosen_epochs(train_dir: Path) -> tuple[int, list[int]]:
    """(epochs to train, the selected epoch of every cross-validation run)."""
    runs = run_files.finished_runs(train_dir)
    selected = sorted(int(run_files.read_summary(r)["selected_epoch"]) for r in runs)
    return statistics.median_low(selected), selected


def train_release(
    store: FrameStore, labels: pd.DataFrame, regime: str, config: TrainConfig, train_dir: Path
) -> Released:
    """Train the released network of ``regime`` (see the module docstring)."""
    epochs, selected = chosen_epochs(train_dir)
    speakers = sorted(labels["speaker"].unique())
    seed = config.seeds[0]
    pack = Pack(store, labels, [Run("all", seed, (), tuple(speakers))], regime, config)
    curve = []
    for _ in range(epochs):
        lr = float(pack.learning_rate()[0, 0])
        losses = pack.train_epoch()
        curve.append({"epoch": pack.epoch, **{k: v[0] for k, v in losses.items()}, "lr": lr})
        values = " ".join(f"{k} {v[0]:.3f}" for k, v in losses.items())
        log.info("release %s epoch %d/%d: %s", regime, pack.epoch, epochs, values)
    data = pack.runs[0]
    return Released(
        state=pack.net.state_dict_of(0), mean=data.mean, std=data.std, speakers=speakers,
        epochs=epochs, selected=selected, seed=seed, curve=curve,
    )  # fmt: skip
