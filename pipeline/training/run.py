"""Training one pack of runs (sessions x seeds of one regime), one epoch at a time.

A run is one (session, seed): the two folds of a session train on the same speakers with
the same seed, so one run serves both, and each fold keeps the epoch its own validation
speaker prefers. Δ = test - val thus measures checkpoint selection alone (exactly 0 with
``selection: last``). Per run: standardization from the training speakers' frames only,
Adam with polynomial learning-rate decay over all its steps, its own batch order. Runs of
unequal size share a pack: a run whose epoch has ended waits, untouched, for the others.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline import EMOTIONS
from pipeline.batches import FrameStore, Split, make_split
from pipeline.errors import NonFiniteError
from pipeline.metrics import unweighted_accuracy, weighted_accuracy
from pipeline.model import EmotionSpeakerNet
from pipeline.regimes import LOG_KEYS, Batch, PackedTrainer
from pipeline.training import checkpoint
from pipeline.training.config import TrainConfig
from pipeline.training.inputs import DeviceFrames, Standardizer
from pipeline.training.outputs import Inputs, predict, prediction_table
from pipeline.training.packing import PackedNet

log = logging.getLogger(__name__)

Report = Callable[[str, int], None]
"""Progress callback: (log line or "", number of finished (run, epoch) units)."""


@dataclass(frozen=True)
class Run:
    """One training run: a session's folds (same training speakers) and a seed."""

    session: str
    seed: int
    folds: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        return f"{self.session}/seed{self.seed}"


@dataclass
class _Selector:
    """One fold riding on a run: its held-out splits, its curve and its best epoch."""

    fold: dict[str, Any]
    val: Split
    test: Split
    curve: list[dict[str, Any]] = field(default_factory=list)
    best_ua: float = -1.0
    best_epoch: int = 0
    best_main: torch.Tensor | None = None
    best_sc: torch.Tensor | None = None


@dataclass
class _Setup:
    """What a run needs before its first step: data splits, statistics and its seeded net."""

    train: Split
    selectors: list[_Selector]
    mean: np.ndarray
    std: np.ndarray
    net: EmotionSpeakerNet
    rng: np.random.Generator


def _setup(store: FrameStore, labels: pd.DataFrame, run: Run, config: TrainConfig) -> _Setup:
    first = run.folds[0]
    session_key = zlib.crc32(str(run.session).encode())
    torch.manual_seed(run.seed * 2**32 + session_key)
    train = make_split(store, labels, first["train"], first["train"], originals_only=False)
    selectors = [
        _Selector(
            fold=f,
            val=make_split(store, labels, [f["val"]], f["train"], originals_only=True),
            test=make_split(store, labels, [f["test"]], f["train"], originals_only=True),
        )
        for f in run.folds
    ]
    with np.errstate(invalid="ignore", over="ignore"):  # reported below, in one line
        mean, std = store.standardization(train.rows)
    if not (np.isfinite(mean).all() and np.isfinite(std).all()):
        raise NonFiniteError(
            f"{_where(run)}, before epoch 1: the standardization of the training speakers' "
            "features is not finite (NaN or Inf in the feature table); re-run the feature "
            "stages, which refuse non-finite audio"
        )
    net = EmotionSpeakerNet(len(EMOTIONS), len(first["train"]), config.embedding)
    return _Setup(train, selectors, mean, std, net, np.random.default_rng([run.seed, session_key]))


class _EpochTables:
    """One epoch's batches for every run as (steps, R, B) tables, uploaded once."""

    def __init__(self, setups: list[_Setup], orders: list[np.ndarray], batch: int, device: str):
        steps = max(math.ceil(len(o) / batch) for o in orders)
        shape = (steps, len(setups), batch)
        rows = np.zeros(shape, np.int64)
        emotion = np.zeros(shape, np.int64)
        speaker = np.zeros(shape, np.int64)
        weight = np.zeros(shape, np.float32)
        for r, (s, order) in enumerate(zip(setups, orders, strict=True)):
            padded = np.resize(order, steps * batch)  # padding repeats real rows, weight 0
            rows[:, r] = s.train.rows[padded].reshape(steps, batch)
            emotion[:, r] = s.train.emotion[padded].reshape(steps, batch)
            speaker[:, r] = s.train.speaker[padded].reshape(steps, batch)
            weight[:, r] = (np.arange(steps * batch) < len(order)).reshape(steps, batch)
        self.steps = steps
        to = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
        self.rows, self.emotion, self.speaker, self.weight = map(
            to, (rows, emotion, speaker, weight)
        )
        self.active = self.weight.sum(dim=2, keepdim=True) > 0  # (steps, R, 1)


def _packed_probs(
    net: PackedNet,
    frames: DeviceFrames,
    norm: Standardizer,
    rows: list[np.ndarray],
    max_frames: int,
    chunk: int = 64,
) -> list[np.ndarray]:
    """Emotion probabilities of each run's rows with that run's weights, all runs at once."""
    longest = max(len(r) for r in rows)
    out: list[list[np.ndarray]] = [[] for _ in rows]
    net.eval()
    with torch.no_grad():
        for start in range(0, longest, chunk):
            parts = [r[start : start + chunk] for r in rows]
            width = max(len(p) for p in parts)
            table = np.stack(
                [np.resize(p if len(p) else r[:1], width) for p, r in zip(parts, rows, strict=True)]
            )
            index = torch.from_numpy(table).to(frames.device)
            v = net.embed(norm(frames.crops(index, max_frames)))
            probs = torch.softmax(net.emotion_logits(v), dim=-1).cpu().numpy()
            for r, p in enumerate(parts):
                out[r].append(probs[r, : len(p)])
    net.train()
    return [np.concatenate(o) for o in out]


def train_pack(
    store: FrameStore,
    labels: pd.DataFrame,
    runs: list[Run],
    regime: str,
    config: TrainConfig,
    state_path: Path | None = None,
    report: Report | None = None,
) -> list[list[dict[str, Any]]]:
    """Train the runs of a pack together; per run, per fold: the selected outputs.

    With ``state_path``, the whole state is saved there after every epoch and training
    resumes from it when it exists.
    """
    report = report or (lambda line, done: line and log.info("%s", line))
    device = config.device
    setups = [_setup(store, labels, run, config) for run in runs]
    net = PackedNet([s.net for s in setups]).to(device)
    trainer = PackedTrainer(regime, net, config.lam or 0.0, config.menan_sc_steps)
    frames = DeviceFrames(store, device)
    norm = Standardizer([s.mean for s in setups], [s.std for s in setups], device)
    steps = torch.tensor(
        [[math.ceil(len(s.train.rows) / config.batch_size)] for s in setups],
        dtype=torch.float32,
        device=device,
    )
    total_steps = steps * config.epochs
    done_steps = torch.zeros_like(steps)
    start_epoch = 1
    saved = checkpoint.load(state_path) if state_path is not None else None
    if saved is not None:
        if saved["runs"] != [r.name for r in runs]:
            raise RuntimeError(f"{state_path}: checkpoint of other runs {saved['runs']}")
        start_epoch = _restore(saved, net, trainer, setups, done_steps)
        report(
            f"{regime} {_names(runs)}: resuming after epoch {start_epoch - 1}",
            len(runs) * (start_epoch - 1),
        )
    keys = LOG_KEYS[regime]
    for epoch in range(start_epoch, config.epochs + 1):
        started = time.perf_counter()
        orders = [s.rng.permutation(len(s.train.rows)) for s in setups]
        tables = _EpochTables(setups, orders, config.batch_size, device)
        sums = {k: torch.zeros(len(runs), device=device) for k in keys}
        for b in range(tables.steps):
            batch = Batch(
                x=norm(frames.crops(tables.rows[b], config.max_frames)),
                emotion=tables.emotion[b],
                speaker=tables.speaker[b],
                weight=tables.weight[b],
                active=tables.active[b],
            )
            logs = trainer.step(batch, _learning_rate(config, done_steps, total_steps))
            count = batch.weight.sum(dim=1)
            for k in keys:
                sums[k] += logs[k] * count
            done_steps += batch.active
        losses = {k: (v.cpu().numpy() / [len(o) for o in orders]).tolist() for k, v in sums.items()}
        _check_finite(regime, runs, epoch, losses)
        lr_now = _learning_rate(config, done_steps, total_steps).squeeze(1).tolist()
        val_rows = [np.concatenate([sel.val.rows for sel in s.selectors]) for s in setups]
        probs = _packed_probs(net, frames, norm, val_rows, config.max_frames)
        seconds = time.perf_counter() - started
        for r, (run, s) in enumerate(zip(runs, setups, strict=True)):
            uas = _select(
                s, probs[r], epoch, {k: losses[k][r] for k in keys}, lr_now[r], net, r, config
            )
            report(_epoch_line(regime, run, epoch, config.epochs, keys, losses, r, uas, seconds), 1)
        if state_path is not None:
            checkpoint.save(state_path, _state(runs, epoch, net, trainer, setups, done_steps))
    return [_final_outputs(net, r, s, frames, config) for r, s in enumerate(setups)]


def _where(run: Run) -> str:
    folds = ", ".join(str(f["fold"]) for f in run.folds)
    return f"run {run.name} (fold {folds})"


def _check_finite(regime: str, runs: list[Run], epoch: int, losses: dict[str, list[float]]) -> None:
    """Stop before a non-finite epoch is saved: its state would poison every later one."""
    for r, run in enumerate(runs):
        bad = {k: v[r] for k, v in losses.items() if not math.isfinite(v[r])}
        if bad:
            values = ", ".join(f"{k} = {v}" for k, v in bad.items())
            raise NonFiniteError(
                f"{regime} {_where(run)}, epoch {epoch}: the training loss is not finite "
                f"({values}); nothing of this epoch was saved. Lower train.lr or check the "
                "features"
            )


def _learning_rate(config: TrainConfig, done: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Polynomial decay to 0 over each run's own number of steps, (R, 1), on the device."""
    return config.lr * (1 - done / total).clamp(min=0) ** config.lr_decay_power


def _names(runs: list[Run]) -> str:
    return ", ".join(r.name for r in runs)


def _epoch_line(regime, run, epoch, epochs, keys, losses, r, uas, seconds) -> str:
    values = " ".join(f"{k} {losses[k][r]:.3f}" for k in keys)
    folds = " ".join(f"fold{f} {ua:.3f}" for f, ua in uas)
    return (
        f"{regime} {run.name} epoch {epoch}/{epochs}: {values} | val UA {folds} | {seconds:.1f} s"
    )


def _select(
    s: _Setup,
    probs: np.ndarray,
    epoch: int,
    losses: dict[str, float],
    lr: float,
    net: PackedNet,
    r: int,
    config: TrainConfig,
) -> list[tuple[int, float]]:
    """Score each fold's validation speaker; remember the best epoch's weights."""
    uas, start = [], 0
    for sel in s.selectors:
        pred = probs[start : start + len(sel.val.rows)].argmax(axis=1)
        start += len(sel.val.rows)
        val_ua = unweighted_accuracy(sel.val.emotion, pred)
        sel.curve.append(
            {
                "fold": int(sel.fold["fold"]),
                "epoch": epoch,
                **losses,
                "val_wa": weighted_accuracy(sel.val.emotion, pred),
                "val_ua": val_ua,
                "lr": lr,
            }
        )
        if config.selection == "best_val_ua" and val_ua > sel.best_ua:
            sel.best_ua, sel.best_epoch = val_ua, epoch
            sel.best_main, sel.best_sc = net.main[r].detach().clone(), net.sc[r].detach().clone()
        uas.append((int(sel.fold["fold"]), val_ua))
    return uas


def _state(runs, epoch, net, trainer, setups, done_steps) -> dict[str, Any]:
    return {
        "runs": [r.name for r in runs],
        "epoch": epoch,
        "main": net.main.detach().cpu(),
        "sc": net.sc.detach().cpu(),
        "optimizers": {k: {n: t.cpu() for n, t in v.items()} for k, v in trainer.state().items()},
        "done_steps": done_steps.cpu(),
        "numpy_rng": [s.rng.bit_generator.state for s in setups],
        "torch_rng": torch.get_rng_state(),
        "selectors": [
            [
                {
                    "curve": sel.curve,
                    "best_ua": sel.best_ua,
                    "best_epoch": sel.best_epoch,
                    "best_main": sel.best_main,
                    "best_sc": sel.best_sc,
                }
                for sel in s.selectors
            ]
            for s in setups
        ],
    }


def _restore(saved, net, trainer, setups, done_steps) -> int:
    """Load a checkpoint into the live objects; return the first epoch still to train."""
    with torch.no_grad():
        net.main.copy_(saved["main"])
        net.sc.copy_(saved["sc"])
    trainer.load(saved["optimizers"])
    done_steps.copy_(saved["done_steps"])
    torch.set_rng_state(saved["torch_rng"])
    for s, rng_state, selectors in zip(setups, saved["numpy_rng"], saved["selectors"], strict=True):
        s.rng.bit_generator.state = rng_state
        for sel, kept in zip(s.selectors, selectors, strict=True):
            sel.curve, sel.best_ua, sel.best_epoch = (
                kept["curve"],
                kept["best_ua"],
                kept["best_epoch"],
            )
            device = net.main.device
            sel.best_main = None if kept["best_main"] is None else kept["best_main"].to(device)
            sel.best_sc = None if kept["best_sc"] is None else kept["best_sc"].to(device)
    return saved["epoch"] + 1


def _final_outputs(
    net: PackedNet, r: int, s: _Setup, frames: DeviceFrames, config: TrainConfig
) -> list[dict[str, Any]]:
    """Per fold: the chosen checkpoint as a single network, its predictions and embeddings."""
    inputs = Inputs(frames, s.mean, s.std, config.max_frames)
    outputs = []
    for sel in s.selectors:
        if config.selection == "last" or sel.best_main is None:
            state, epoch = net.state_dict_of(r), config.epochs
        else:
            state, epoch = net.state_dict_of(r, sel.best_main, sel.best_sc), sel.best_epoch
        single = s.net
        single.load_state_dict(state)
        single.to(config.device)
        results: dict[str, Any] = {"selected_epoch": epoch}
        tables, embeddings = [], {}
        for name, split in (("val", sel.val), ("test", sel.test)):
            probs, v = predict(single, inputs, split.rows)
            pred = probs.argmax(axis=1)
            results[f"{name}_wa"] = weighted_accuracy(split.emotion, pred)
            results[f"{name}_ua"] = unweighted_accuracy(split.emotion, pred)
            tables.append(prediction_table(name, split, probs))
            embeddings[name] = (split.utt_ids, v)
        outputs.append(
            {
                "state": state,
                "mean": s.mean,
                "std": s.std,
                "predictions": pd.concat(tables, ignore_index=True),
                "embeddings": embeddings,
                "curve": sel.curve,
                "results": results,
            }
        )
    return outputs
