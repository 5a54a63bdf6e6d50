"""A pack of runs in training: its data, its network and optimisers, its schedule, its state.

A run is one (session, seed). Per run: standardization from the training speakers'
frames only, a network seeded from the seed and the session, Adam with polynomial
learning-rate decay over all its own steps, its own batch order, and one
:class:`~pipeline.training.selection.FoldSelector` per fold it serves. Runs of unequal
size share a pack: a run whose epoch has ended waits, untouched, for the others.

A :class:`Pack` saves and restores itself (:meth:`Pack.state_dict`), and turns into the
runs' results (:meth:`Pack.results`) once trained.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline import EMOTIONS
from pipeline.data.folds import Fold, speakers_of
from pipeline.evaluation.metrics import unweighted_accuracy, weighted_accuracy
from pipeline.features.frame_store import FrameStore, Split, make_split, probe_holdout
from pipeline.model.network import EmotionSpeakerNet
from pipeline.model.run_files import FoldResult, prediction_table
from pipeline.model.scoring import DeviceFrames, Inputs, Standardizer, predict
from pipeline.regimes import LOG_KEYS
from pipeline.runtime.device import is_cuda
from pipeline.runtime.errors import NonFiniteError
from pipeline.training.config import TrainConfig
from pipeline.training.inputs import EpochTables, packed_probs
from pipeline.training.packing import PackedNet
from pipeline.training.selection import FoldSelector
from pipeline.training.steps import Batch, PackedTrainer


@dataclass(frozen=True)
class Run:
    """One training run: a session's folds (same training speakers) and a seed.

    A run without folds (a released model, :mod:`pipeline.training.release`) trains on ``speakers``
    and has no validation speaker to select an epoch with.
    """

    session: str
    seed: int
    folds: tuple[Fold, ...]
    speakers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.session}/seed{self.seed}"

    @property
    def train_speakers(self) -> list[str]:
        return list(self.folds[0]["train"]) if self.folds else list(self.speakers)

    def where(self) -> str:
        folds = ", ".join(str(f["fold"]) for f in self.folds)
        return f"run {self.name} (fold {folds})"


@dataclass
class RunData:
    """What a run needs before its first step: data, statistics, its seeded network and
    batch order."""

    run: Run
    train: Split
    selectors: list[FoldSelector]
    mean: np.ndarray
    std: np.ndarray
    net: EmotionSpeakerNet
    rng: np.random.Generator

    @classmethod
    def prepare(
        cls, store: FrameStore, labels: pd.DataFrame, run: Run, config: TrainConfig
    ) -> RunData:
        speakers = run.train_speakers
        session_key = zlib.crc32(str(run.session).encode())
        torch.manual_seed(run.seed * 2**32 + session_key)
        trained_on = labels[~probe_holdout(labels["utt_id"].to_numpy(), config.probe_holdout)]
        train = make_split(store, trained_on, speakers, speakers, originals_only=False)
        selectors = [
            FoldSelector(
                fold=f,
                val=make_split(store, labels, speakers_of(f["val"]), f["train"], True),
                test=make_split(store, labels, speakers_of(f["test"]), f["train"], True),
            )
            for f in run.folds
        ]
        with np.errstate(invalid="ignore", over="ignore"):  # reported below, in one line
            mean, std = store.standardization(train.rows)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            raise NonFiniteError(
                f"{run.where()}, before epoch 1: the standardization of the training "
                "speakers' features is not finite (NaN or Inf in the feature table); re-run "
                "the feature stages, which refuse non-finite audio"
            )
        net = EmotionSpeakerNet(len(EMOTIONS), len(speakers), config.embedding, store.spec)
        rng = np.random.default_rng([run.seed, session_key])
        return cls(run, train, selectors, mean, std, net, rng)


class Pack:
    """The runs of a pack, trained as one network on ``config.device``."""

    def __init__(
        self, store: FrameStore, labels: pd.DataFrame, runs: list[Run], regime: str,
        config: TrainConfig, frames: DeviceFrames | None = None,
    ) -> None:  # fmt: skip
        """``frames``: the store's frames on ``config.device``, when the caller shares one
        upload among its packs; else uploaded here."""
        device = config.device
        self.regime, self.config, self.device = regime, config, device
        self.max_frames = store.spec.frames_in(config.max_seconds)
        self.runs = [RunData.prepare(store, labels, run, config) for run in runs]
        nets = [r.net for r in self.runs]
        self.net = PackedNet(nets, fused_gru=is_cuda(device)).to(device)
        self.trainer = PackedTrainer(regime, self.net, config.lam or 0.0, config.menan_sc_steps)
        self.frames = frames if frames is not None else DeviceFrames(store, device)
        self.norm = Standardizer([r.mean for r in self.runs], [r.std for r in self.runs], device)
        steps = [[math.ceil(len(r.train.rows) / config.batch_size)] for r in self.runs]
        self.total_steps = torch.tensor(steps, dtype=torch.float32, device=device) * config.epochs
        self.done_steps = torch.zeros_like(self.total_steps)
        self.epoch = 0  # the last finished epoch
        self.keys = LOG_KEYS[regime]

    @property
    def names(self) -> str:
        return ", ".join(r.run.name for r in self.runs)

    def learning_rate(self) -> torch.Tensor:
        """Polynomial decay to 0 over each run's own number of steps, (R, 1), on the device."""
        fraction = (1 - self.done_steps / self.total_steps).clamp(min=0)
        return self.config.lr * fraction**self.config.lr_decay_power

    def train_epoch(self) -> dict[str, list[float]]:
        """One epoch of every run; per logged value, each run's mean over its examples."""
        orders = [r.rng.permutation(len(r.train.rows)) for r in self.runs]
        batch = self.config.batch_size
        tables = EpochTables([r.train for r in self.runs], orders, batch, self.device)
        sums = {k: torch.zeros(len(self.runs), device=self.device) for k in self.keys}
        for b in range(tables.steps):
            self.step(tables, b, sums)
        self.epoch += 1
        counts = [len(o) for o in orders]
        losses = {k: (v.cpu().numpy() / counts).tolist() for k, v in sums.items()}
        self._check_finite(losses)
        return losses

    def step(self, tables: EpochTables, b: int, sums: dict[str, torch.Tensor]) -> None:
        """Step ``b`` of every run: gather and standardize, update, add the logged values to
        ``sums`` (weighted by examples). Fixed shapes and no host synchronisation, so the
        GPU never waits for Python (``benchmarks/gpu_check.py`` checks both)."""
        batch = Batch(
            x=self.norm(self.frames.crops(tables.rows[b], self.max_frames)),
            emotion=tables.emotion[b],
            speaker=tables.speaker[b],
            weight=tables.weight[b],
            active=tables.active[b],
        )
        logs = self.trainer.step(batch, self.learning_rate())
        count = batch.weight.sum(dim=1)
        for k in self.keys:
            sums[k] += logs[k] * count
        self.done_steps += batch.active

    def _check_finite(self, losses: dict[str, list[float]]) -> None:
        """Stop before a non-finite epoch is saved: its state would poison every later one."""
        for r, data in enumerate(self.runs):
            bad = {k: v[r] for k, v in losses.items() if not math.isfinite(v[r])}
            if bad:
                values = ", ".join(f"{k} = {v}" for k, v in bad.items())
                raise NonFiniteError(
                    f"{self.regime} {data.run.where()}, epoch {self.epoch}: the training loss "
                    f"is not finite ({values}); nothing of this epoch was saved. Lower "
                    "train.lr or check the features"
                )

    def select(self, losses: dict[str, list[float]]) -> list[list[tuple[int, float]]]:
        """Score every fold's validation speaker after this epoch; per run, (fold, val UA)."""
        lr_now = self.learning_rate().squeeze(1).tolist()
        val_rows = [np.concatenate([s.val.rows for s in r.selectors]) for r in self.runs]
        probs = packed_probs(self.net, self.frames, self.norm, val_rows, self.max_frames)
        keep_best = self.config.selection == "best_val_ua"
        scores = []
        for r, data in enumerate(self.runs):
            logged = {k: losses[k][r] for k in self.keys}
            weights = (self.net.main[r], self.net.sc[r])
            start, uas = 0, []
            for sel in data.selectors:
                pred = probs[r][start : start + len(sel.val.rows)].argmax(axis=1)
                start += len(sel.val.rows)
                ua = sel.observe(self.epoch, pred, logged, lr_now[r], keep_best, weights)
                uas.append((sel.index, ua))
            scores.append(uas)
        return scores

    def state_dict(self) -> dict[str, Any]:
        """Everything the rest of training depends on, on the CPU."""
        opts = self.trainer.state()
        return {
            "runs": [r.run.name for r in self.runs],
            "epoch": self.epoch,
            "main": self.net.main.detach().cpu(),
            "sc": self.net.sc.detach().cpu(),
            "optimizers": {k: {n: t.cpu() for n, t in v.items()} for k, v in opts.items()},
            "done_steps": self.done_steps.cpu(),
            "numpy_rng": [r.rng.bit_generator.state for r in self.runs],
            "torch_rng": torch.get_rng_state(),
            "selectors": [[s.state_dict() for s in r.selectors] for r in self.runs],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        names = [r.run.name for r in self.runs]
        if state["runs"] != names:
            raise RuntimeError(f"a saved state of runs {state['runs']}, not of {names}")
        with torch.no_grad():
            self.net.main.copy_(state["main"])
            self.net.sc.copy_(state["sc"])
        self.trainer.load(state["optimizers"])
        self.done_steps.copy_(state["done_steps"])
        torch.set_rng_state(state["torch_rng"])
        for data, rng_state, kept in zip(
            self.runs, state["numpy_rng"], state["selectors"], strict=True
        ):
            data.rng.bit_generator.state = rng_state
            for sel, sel_state in zip(data.selectors, kept, strict=True):
                sel.load_state_dict(sel_state, self.device)
        self.epoch = state["epoch"]

    def results(self) -> list[list[FoldResult]]:
        """Per run, per fold: the selected network, its predictions and embeddings."""
        return [self._run_results(r, data) for r, data in enumerate(self.runs)]

    def _run_results(self, r: int, data: RunData) -> list[FoldResult]:
        config = self.config
        inputs = Inputs(self.frames, data.mean, data.std, self.max_frames)
        found = []
        for sel in data.selectors:
            if config.selection == "last" or sel.best is None:
                state, epoch = self.net.state_dict_of(r), self.epoch
            else:
                state, epoch = self.net.state_dict_of(r, *sel.best), sel.best_epoch
            single = data.net
            single.load_state_dict(state)
            single.to(self.device)
            results: dict[str, Any] = {"selected_epoch": epoch}
            tables, embeddings = [], {}
            for name, split in (("val", sel.val), ("test", sel.test)):
                probs, v = predict(single, inputs, split.rows)
                pred = probs.argmax(axis=1)
                results[f"{name}_wa"] = weighted_accuracy(split.emotion, pred)
                results[f"{name}_ua"] = unweighted_accuracy(split.emotion, pred)
                tables.append(prediction_table(name, split, probs))
                embeddings[name] = (split.utt_ids, v)
            found.append(
                FoldResult(
                    state=state,
                    mean=data.mean,
                    std=data.std,
                    predictions=pd.concat(tables, ignore_index=True),
                    embeddings=embeddings,
                    curve=sel.curve,
                    results=results,
                )
            )
        return found
