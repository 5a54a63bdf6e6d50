"""The erasure regimes (ours, not the paper's): a closed-form eraser, then EC retrained.

An adversary fooled during training leaves the attribute recoverable by a fresh probe
(Elazar & Goldberg 2018); a closed-form eraser is built to leave nothing for the probes it
targets. LEACE (Belrose et al. 2023, the ``concept-erasure`` package) is the affine map with
the least change to v (in the least-squares sense) after which the training speakers' mean
embeddings are equal on the utterances it was fitted on, so that no linear classifier
trained with a convex loss (logistic regression) predicts the speaker better than a
constant there. ``kernel`` applies it to fixed random Fourier features of v (Rahimi & Recht
2007; the RBF kernel exp(-||a - b||^2 / dim) of the standardized v), where a linear trace is
a nonlinear one of v, so it removes some of what a kernel probe finds.

Per (fold, seed) run of the base regime (EC only): its selected network embeds the run's
*training* utterances (originals and speed copies, without the probe hold-out; the
validation and test speakers are never read here), the eraser is fitted on (v, training
speaker), and a fresh emotion classifier (Table 1's EC, seeded from the run) is trained on
the erased embeddings with the run's own batch size, Adam, learning-rate decay and
checkpoint selection on its validation speaker. The encoder is the base run's, unchanged:
the difference from the base regime is the eraser alone. The network saved is ENC + eraser
+ EC (``enc.erase``, :class:`pipeline.model.network.Eraser`), so evaluation, probes, the
released model, ``menan`` and ONNX all see the erased v.

Everything runs in one process, run after run: the encoder passes are a fraction of an
epoch of training, and the classifier trains on vectors.
"""

from __future__ import annotations

import logging
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from concept_erasure import LeaceFitter
from torch.nn.functional import cross_entropy, one_hot

from pipeline.data.folds import Fold, speakers_of
from pipeline.features.frame_store import FrameStore, Split, make_split, probe_holdout
from pipeline.model import run_files
from pipeline.model.network import EmotionSpeakerNet, Eraser
from pipeline.model.run_files import FoldResult
from pipeline.model.scoring import DeviceFrames, FoldModel, Inputs
from pipeline.params import EraseSettings, RunSettings, validate_as
from pipeline.regimes import ERASED
from pipeline.runtime.errors import ModelError, NonFiniteError
from pipeline.training.config import decayed_lr
from pipeline.training.selection import FoldSelector, scored

log = logging.getLogger(__name__)

RESIDUAL = 1e-6
"""The largest cross-covariance between erased features and speaker a fitted eraser may
leave, relative to the largest before erasure: LEACE's guarantee, checked on every fit."""


def features_of(regime: str, settings: EraseSettings) -> int:
    """The width the regime's eraser lifts v to first: 0 (none) or the Fourier features."""
    return settings.kernel_features if ERASED[regime][1] == "kernel" else 0


def _seed_int(parts: list[int]) -> int:
    """One 63-bit torch seed from a run's seed parts, the same on every machine."""
    return int(np.random.SeedSequence(parts).generate_state(1, np.uint64)[0] >> np.uint64(1))


def fit_eraser(
    v: np.ndarray, speaker: np.ndarray, n_speakers: int, features: int, seed: list[int]
) -> Eraser:
    """An :class:`Eraser` fitted on embeddings ``v`` (N, dim) of training speakers
    ``speaker`` (N,), indices below ``n_speakers``; ``features`` random Fourier features
    first (0: none), drawn from ``seed``. Fitted in float64, returned in float32.

    LEACE without the library's two relaxations: every direction of the cross-covariance is
    erased (``svd_tol`` 1e-12, not 0.01) and the covariance trace is not constrained (that
    option can mix in a map that does not zero the cross-covariance); the fit is then checked
    (:data:`RESIDUAL`).
    """
    x = torch.from_numpy(np.asarray(v, dtype=np.float64))
    eraser = Eraser(x.shape[1], features).double()
    z = one_hot(torch.from_numpy(np.asarray(speaker, dtype=np.int64)), n_speakers).double()
    with torch.no_grad():
        if features:
            gen = torch.Generator().manual_seed(_seed_int(seed))
            # exp(-||a - b||^2 / dim) on the standardized v: W ~ N(0, 2 / dim), b ~ U(0, 2 pi)
            w = torch.randn(features, x.shape[1], generator=gen, dtype=torch.float64)
            w *= math.sqrt(2.0 / x.shape[1])
            b = 2 * math.pi * torch.rand(features, generator=gen, dtype=torch.float64)
            mean, std = x.mean(dim=0), x.std(dim=0)
            std = torch.where(std > 1e-6, std, 1.0)  # a constant unit: not scaled (sklearn's)
            # cos(((v - mean) / std) W^T + b) as cos(v W'^T + b'): the standardization folded
            eraser.rff_weight.copy_(w / std)
            eraser.rff_bias.copy_(b - (mean / std) @ w.T)
        lifted = eraser.lift(x)
        fitted = LeaceFitter.fit(lifted, z, svd_tol=1e-12, constrain_cov_trace=False).eraser
        # x - (x - bias) R^T L^T  =  x (I - L R)^T + L R bias
        low_rank = fitted.proj_left @ fitted.proj_right
        eraser.affine.weight.copy_(torch.eye(lifted.shape[1], dtype=torch.float64) - low_rank)
        eraser.affine.bias.copy_(low_rank @ fitted.bias)
        before, after = (_cross_covariance(t, z) for t in (lifted, eraser.affine(lifted)))
    if not after <= RESIDUAL * max(before, 1e-300):
        raise NonFiniteError(
            f"the eraser left a speaker cross-covariance of {after:.3g} (of {before:.3g} "
            "before): the embeddings are degenerate (check the base regime's training)"
        )
    return eraser.float()


def _cross_covariance(x: torch.Tensor, z: torch.Tensor) -> float:
    """The largest absolute cross-covariance between a feature and a speaker indicator."""
    return float(((x - x.mean(dim=0)).T @ (z - z.mean(dim=0)) / len(x)).abs().max())


@dataclass
class HeadTraining:
    """The emotion classifier's training on fixed (erased) embeddings: the base run's
    settings (batch size, learning rate, its decay, selection), ``erase.epochs`` epochs."""

    settings: RunSettings
    epochs: int

    def train(
        self, head: torch.nn.Module, v: torch.Tensor, emotion: torch.Tensor,
        rng: np.random.Generator, where: str, selector: FoldSelector | None = None,
        val_v: torch.Tensor | None = None, stop_after: int | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Train ``head`` on (v, emotion) in place; returns its curve rows.

        Adam (torch's defaults), the engine's learning-rate schedule over all ``epochs``,
        a fresh ``rng`` permutation per epoch. With a ``selector`` every epoch is scored on
        its validation speaker (``val_v``: their erased v) and the selected epoch's weights
        are loaded at the end (:class:`FoldSelector`, as every regime's); ``stop_after``:
        stop after that many epochs of the same schedule (a release).
        """
        batch = self.settings.batch_size
        opt = torch.optim.Adam(head.parameters(), lr=self.settings.lr)
        total, done = math.ceil(len(v) / batch) * self.epochs, 0
        rows: list[dict[str, Any]] = []
        for epoch in range(1, (stop_after or self.epochs) + 1):
            order = torch.from_numpy(rng.permutation(len(v))).to(v.device)
            lr_start, loss_sum = self._lr(done / total), 0.0
            for start in range(0, len(v), batch):
                picked = order[start : start + batch]
                for group in opt.param_groups:
                    group["lr"] = self._lr(done / total)
                loss = cross_entropy(head(v[picked]), emotion[picked])
                opt.zero_grad()
                loss.backward()
                opt.step()
                done += 1
                loss_sum += float(loss.detach()) * len(picked)
            logged = {"loss": loss_sum / len(v), "ce_emo": loss_sum / len(v)}
            if not math.isfinite(logged["loss"]):
                raise NonFiniteError(
                    f"{where}, epoch {epoch}: the emotion classifier's loss on erased "
                    "embeddings is not finite; nothing was saved"
                )
            if selector is None:
                rows.append({"epoch": epoch, **logged, "lr": lr_start})
                continue
            with torch.no_grad():
                pred = head(val_v).argmax(dim=1).cpu().numpy()
            weights = tuple(head.parameters())
            selector.observe(epoch, pred, logged, lr_start, self.settings.keeps_best, weights)
        if selector is None:
            return rows
        if selector.best is not None:
            with torch.no_grad():
                for param, best in zip(head.parameters(), selector.best, strict=True):
                    param.copy_(best)
        return selector.curve

    def _lr(self, progress: float) -> float:
        return float(decayed_lr(self.settings, torch.tensor(progress)))


def training_split(
    store: FrameStore, labels: pd.DataFrame, speakers: list[str], holdout: float
) -> Split:
    """The utterances a run trained on: its speakers' originals and speed copies, less the
    probe hold-out; the same rows the engine trained the base network on."""
    trained_on = labels[~probe_holdout(labels["utt_id"].to_numpy(), holdout)]
    return make_split(store, trained_on, speakers, speakers, originals_only=False)


@dataclass
class Erased:
    """A base network with an eraser fitted on it, a fresh EC to train, and the training
    data: what a cross-validation run and a release share."""

    net: EmotionSpeakerNet  # ENC of the base, ``enc.erase``, fresh heads; on the device
    base: FoldModel
    settings: RunSettings  # the base run's
    train: Split
    erased: torch.Tensor  # the training utterances' erased v, on the device
    record: dict[str, Any]  # model.pt's ``erasure``

    @classmethod
    def fit(
        cls, regime: str, saved: dict[str, Any], source: Path, frames: DeviceFrames,
        store: FrameStore, labels: pd.DataFrame, settings: EraseSettings, seed: list[int],
    ) -> Erased:  # fmt: skip
        """The base model ``saved`` (read from ``source``), checked to be the regime's base,
        with its eraser fitted on its training speakers' training utterances."""
        base_regime = ERASED[regime][0]
        if saved["regime"] != base_regime:
            raise ModelError(source, f"a {saved['regime']} model; {regime} erases {base_regime}'s")
        base = FoldModel.from_saved(saved, frames.device, str(source))
        config = validate_as(RunSettings, saved["config"], f"{source} config")
        speakers = list(saved["train_speakers"])
        train = training_split(store, labels, speakers, config.probe_holdout)
        _, v_train = base.predict(frames, train.rows)
        eraser = fit_eraser(v_train, train.speaker, len(speakers), features_of(regime, settings),
                            seed)  # fmt: skip
        torch.manual_seed(_seed_int(seed))  # the fresh heads
        net = EmotionSpeakerNet(len(saved["emotions"]), len(speakers), config.embedding,
                                base.frames, eraser.features)  # fmt: skip
        net.enc.load_state_dict(
            base.net.enc.state_dict() | {f"erase.{k}": t for k, t in eraser.state_dict().items()}
        )
        net.to(frames.device)
        with torch.no_grad():
            erased = net.enc.erase(torch.from_numpy(v_train).to(frames.device))
        record = {"base": base_regime, "method": ERASED[regime][1], "features": eraser.features,
                  "fitted_on": {"utterances": len(train.rows), "speakers": len(speakers)},
                  "classifier_epochs": settings.epochs}  # fmt: skip
        return cls(net, base, config, train, erased, record)

    def train_head(self, settings: EraseSettings, seed: list[int], where: str,
                   **selection: Any) -> list[dict[str, Any]]:  # fmt: skip
        """:meth:`HeadTraining.train` of this network's EC on the erased training data."""
        emotion = torch.from_numpy(self.train.emotion).to(self.erased.device)
        return HeadTraining(self.settings, settings.epochs).train(
            self.net.ec, self.erased, emotion, np.random.default_rng(seed), where, **selection
        )

    def state(self) -> dict[str, torch.Tensor]:
        return {k: t.detach().cpu() for k, t in self.net.state_dict().items()}


def erase_run(
    regime: str, base_run: Path, fold: Fold, store: FrameStore, frames: DeviceFrames,
    labels: pd.DataFrame, settings: EraseSettings,
) -> tuple[FoldResult, dict[str, Any]]:  # fmt: skip
    """One (fold, seed) run of an erasure regime from the base regime's run folder: its
    result, and the base run's settings (which the run's ``model.pt`` records)."""
    saved = run_files.read_model(base_run)
    source = run_files.model_file(base_run)
    if list(saved["train_speakers"]) != list(fold["train"]):
        raise ModelError(source, f"trained on {saved['train_speakers']}, not on fold "
                         f"{fold['fold']}'s training speakers {fold['train']}")  # fmt: skip
    seed = [int(saved["seed"]), zlib.crc32(str(fold["session"]).encode()), int(fold["fold"])]
    erased = Erased.fit(regime, saved, source, frames, store, labels, settings, seed)
    speakers = list(fold["train"])
    selector = FoldSelector(
        fold=fold,
        val=make_split(store, labels, speakers_of(fold["val"]), speakers, True),
        test=make_split(store, labels, speakers_of(fold["test"]), speakers, True),
    )
    inputs = Inputs(frames, erased.base.mean, erased.base.std, erased.base.max_frames)
    with torch.no_grad():
        _, v_val = erased.base.predict(frames, selector.val.rows)
        val_v = erased.net.enc.erase(torch.from_numpy(v_val).to(frames.device))
    where = f"{regime} fold {fold['fold']} seed {saved['seed']}"
    curve = erased.train_head(settings, seed, where, selector=selector, val_v=val_v)
    keep = erased.settings.keeps_best and selector.best is not None
    epoch = selector.best_epoch if keep else settings.epochs
    results, predictions, embeddings = scored(erased.net, inputs, selector, epoch)
    results["base_selected_epoch"] = run_files.read_summary(base_run)["selected_epoch"]
    result = FoldResult(
        state=erased.state(), mean=erased.base.mean, std=erased.base.std,
        predictions=predictions, embeddings=embeddings, curve=curve, results=results,
        erasure=erased.record,
    )  # fmt: skip
    return result, saved["config"]


@dataclass
class ErasedRelease:
    """An erasure regime's released network: what :mod:`stages.erase_release` saves."""

    state: dict[str, torch.Tensor]
    erasure: dict[str, Any]
    curve: list[dict[str, Any]]


def erase_release(
    regime: str, base_saved: dict[str, Any], source: Path, store: FrameStore,
    frames: DeviceFrames, labels: pd.DataFrame, settings: EraseSettings, epochs: int,
) -> ErasedRelease:  # fmt: skip
    """The base regime's released network (every speaker) with an eraser fitted on every
    speaker's training utterances, and EC retrained for ``epochs`` (cross-validation's
    choice, :func:`pipeline.training.release.chosen_epochs`) on the schedule of
    ``erase.epochs``, as the base release stops its own."""
    seed = [int(base_saved["seed"]), zlib.crc32(b"all")]
    erased = Erased.fit(regime, base_saved, source, frames, store, labels, settings, seed)
    curve = erased.train_head(settings, seed, f"release {regime}", stop_after=epochs)
    for row in curve:
        log.info("release %s epoch %d/%d: loss %.3f", regime, row["epoch"], epochs, row["loss"])
    return ErasedRelease(erased.state(), erased.record, curve)
