"""A pack of runs in training: its data, its network and optimisers, its schedule, its state.

A run is one (session, seed). Per run: standardization from the training speakers'
frames only, a network seeded from the seed and the session, Adam with polynomial
learning-rate decay over all its own steps, its own batch order, and one
:class:`~pipeline.training.selection.FoldSelector` per fold it serves. Runs of unequal
size share a pack: a run whose epoch has ended waits, untouched, for the others.

The ``adversary`` settings (ours) add two random choices per run, each from a stream
seeded with the run's seed, its session and the epoch (:meth:`Run.stream`): the batches of
MEnAN's extra SC steps and the fresh speaker classifiers. Neither depends on the pack a run
is in, and a resumed pack draws them again exactly, with no state to save.

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
from pipeline.features.frame_store import FrameStore, Split, make_split, probe_holdout
from pipeline.model.network import EmotionSpeakerNet
from pipeline.model.run_files import FoldResult
from pipeline.model.scoring import DeviceFrames, Inputs, Standardizer
from pipeline.params import AdversarySettings
from pipeline.regimes import LOG_KEYS
from pipeline.runtime.device import is_cuda
from pipeline.runtime.errors import NonFiniteError
from pipeline.training.config import TrainConfig, decayed_lr
from pipeline.training.inputs import EpochTables, packed_probs
from pipeline.training.packing import PackedNet
from pipeline.training.selection import FoldSelector, scored
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

    @property
    def session_key(self) -> int:
        """The session as a number, for seeding (the run's weights and batch order)."""
        return zlib.crc32(str(self.session).encode())

    def stream(self, purpose: int, epoch: int) -> np.random.SeedSequence:
        """The seed of one random choice of ``adversary`` (:data:`FRESH_BATCHES`,
        :data:`FRESH_HEADS`) in ``epoch``, from the run's seed and session alone."""
        return np.random.SeedSequence([self.seed, self.session_key, purpose, epoch])


FRESH_BATCHES = 1
"""Stream of the batch order of MEnAN's extra SC steps (``adversary.menan.fresh_batches``)."""
FRESH_HEADS = 2
"""Stream of the new speaker classifiers' weights (``adversary.<regime>.reinit_every``)."""


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
        session_key = run.session_key
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
        net = EmotionSpeakerNet(len(EMOTIONS), len(speakers), config.embedding, store.spec,
                                sc_heads=config.speaker_heads)  # fmt: skip
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
        self.adversary = config.adversary or AdversarySettings.paper()
        self.trainer = PackedTrainer(regime, self.net, config.lam or 0.0, config.menan_sc_steps,
                                     self.adversary.dat_ramp)  # fmt: skip
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

    def progress(self) -> torch.Tensor:
        """Each run's share of its own steps done, (R, 1), on the device."""
        return self.done_steps / self.total_steps

    def learning_rate(self, progress: torch.Tensor | None = None) -> torch.Tensor:
        """Polynomial decay to 0 over each run's own number of steps, (R, 1), on the device."""
        return decayed_lr(self.config, self.progress() if progress is None else progress)

    def train_epoch(self) -> dict[str, list[float]]:
        """One epoch of every run; per logged value, each run's mean over its examples."""
        every = self.adversary.reinit_every
        if every and self.epoch and self.epoch % every == 0:
            self.reinit_speaker_heads()
        orders = [r.rng.permutation(len(r.train.rows)) for r in self.runs]
        batch = self.config.batch_size
        tables = EpochTables([r.train for r in self.runs], orders, batch, self.device)
        sc_tables = self.sc_tables() if self.adversary.fresh_batches else []
        sums = {k: torch.zeros(len(self.runs), device=self.device) for k in self.keys}
        for b in range(tables.steps):
            self.step(tables, b, sums, sc_tables)
        self.epoch += 1
        counts = [len(o) for o in orders]
        losses = {k: (v.cpu().numpy() / counts).tolist() for k, v in sums.items()}
        self._check_finite(losses)
        return losses

    def reinit_speaker_heads(self) -> None:
        """``adversary.<regime>.reinit_every``: before epochs N + 1, 2N + 1, ... every run's speaker
        classifiers start again from new weights (drawn from the run's own stream) and a new
        Adam state; the learning-rate schedule goes on."""
        epoch = self.epoch + 1
        seeds = [int(r.run.stream(FRESH_HEADS, epoch).generate_state(1, np.uint64)[0])
                 for r in self.runs]  # fmt: skip
        self.net.reinit_speaker_heads(seeds)
        self.trainer.sc_opt.reset()

    def sc_tables(self) -> list[EpochTables]:
        """``adversary.menan.fresh_batches``: one more epoch of batches per extra SC step of MEnAN,
        each run's a permutation of its own training rows from its own stream, step b of
        table j feeding the j-th extra SC step of encoder step b. Same sizes as the
        encoder's tables, so a run is active at the same steps in all of them."""
        epoch = self.epoch + 1
        rngs = [np.random.default_rng(r.run.stream(FRESH_BATCHES, epoch)) for r in self.runs]
        splits = [r.train for r in self.runs]
        tables = []
        for _ in range(self.config.menan_sc_steps - 1):
            orders = [g.permutation(len(s.rows)) for g, s in zip(rngs, splits, strict=True)]
            tables.append(EpochTables(splits, orders, self.config.batch_size, self.device))
        return tables

    def batch(self, tables: EpochTables, b: int) -> Batch:
        """Step ``b`` of ``tables``, gathered and standardized on the device."""
        return Batch(
            x=self.norm(self.frames.crops(tables.rows[b], self.max_frames)),
            emotion=tables.emotion[b],
            speaker=tables.speaker[b],
            weight=tables.weight[b],
            active=tables.active[b],
        )

    def step(
        self, tables: EpochTables, b: int, sums: dict[str, torch.Tensor],
        sc_tables: list[EpochTables] | None = None,
    ) -> None:  # fmt: skip
        """Step ``b`` of every run: gather and standardize, update, add the logged values to
        ``sums`` (weighted by examples); ``sc_tables``: see :meth:`sc_tables`. Fixed shapes
        and no host synchronisation, so the GPU never waits for Python
        (``benchmarks/gpu_check.py`` checks both)."""
        batch = self.batch(tables, b)
        sc_batches = [self.batch(t, b) for t in sc_tables or ()]
        progress = self.progress()
        logs = self.trainer.step(batch, self.learning_rate(progress), progress, sc_batches)
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
        keep_best = self.config.keeps_best
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
            results, predictions, embeddings = scored(single, inputs, sel, epoch)
            found.append(
                FoldResult(
                    state=state,
                    mean=data.mean,
                    std=data.std,
                    predictions=predictions,
                    embeddings=embeddings,
                    curve=sel.curve,
                    results=results,
                )
            )
        return found
