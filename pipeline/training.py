"""Training one regime on every fold: seeded, resumable, sessions in parallel.

Per session: standardize with the training speakers' frames only, train once with Adam and
polynomial learning-rate decay, and for each of the session's two folds pick the checkpoint
by its validation speaker's UA (or the last one); then write per fold the checkpoint,
validation/test predictions, embeddings v and the training curve. Finished folds are kept
in ``data/.fold_cache/<regime>/<fingerprint>/`` (outside DVC's outputs), keyed by
everything that determines them, so a stage interrupted part-way does not redo them and
DVC's run-cache still works for the stage itself.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from joblib import Parallel, delayed

from pipeline import EMOTIONS, batches, feature_store, metrics, model, regimes
from pipeline.atomic import atomic_path
from pipeline.batches import FrameStore, Split, make_split
from pipeline.errors import ConfigError
from pipeline.metrics import unweighted_accuracy, weighted_accuracy
from pipeline.model import EMBEDDINGS, EmotionSpeakerNet
from pipeline.regimes import REGIMES, USES_LAMBDA, Trainer

log = logging.getLogger(__name__)

FRAMES_PER_SECOND = 100
SELECTIONS = ("best_val_ua", "last")
CACHE_ROOT = Path("data/.fold_cache")


@dataclass(frozen=True)
class TrainConfig:
    """Everything from params.yaml that shapes one regime's training."""

    seed: int
    epochs: int
    batch_size: int
    lr: float
    lr_decay_power: float
    max_seconds: float
    embedding: str
    selection: str
    menan_sc_steps: int
    device: str
    lam: float | None

    @classmethod
    def from_params(cls, params: dict[str, Any], regime: str) -> TrainConfig:
        train = params["train"]
        config = cls(
            seed=int(train["seed"]),
            epochs=int(train["epochs"]),
            batch_size=int(train["batch_size"]),
            lr=float(train["lr"]),
            lr_decay_power=float(train["lr_decay_power"]),
            max_seconds=float(train["max_seconds"]),
            embedding=str(train["embedding"]),
            selection=str(train["selection"]),
            menan_sc_steps=int(train["menan_sc_steps"]),
            device=resolve_device(str(train["device"])),
            lam=float(params["lambda"]) if regime in USES_LAMBDA else None,
        )
        if config.embedding not in EMBEDDINGS:
            raise ConfigError(
                f"params.yaml train.embedding: one of {EMBEDDINGS}, got {config.embedding!r}"
            )
        if config.selection not in SELECTIONS:
            raise ConfigError(
                f"params.yaml train.selection: one of {SELECTIONS}, got {config.selection!r}"
            )
        if config.lam is not None and not 0 < config.lam < 1:
            raise ConfigError(f"params.yaml lambda: must lie in (0, 1), got {config.lam}")
        return config

    @property
    def max_frames(self) -> int:
        return round(self.max_seconds * FRAMES_PER_SECOND)


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"params.yaml train.device: auto, cpu or cuda[:n], got {name!r}")
    return name


class Inputs:
    """Standardized model inputs for rows of a frame store, on the model's device.

    The statistics are always the fold's training speakers' (``fitted`` while training,
    read back from ``model.pt`` when scoring another corpus), never the scored data's own.
    """

    def __init__(
        self, store: FrameStore, mean: np.ndarray, std: np.ndarray, max_frames: int, device: str
    ) -> None:
        self.store, self.max_frames, self.device = store, max_frames, device
        self.mean, self.std = mean, std
        self._mean = torch.from_numpy(mean).to(device)
        self._scale = torch.from_numpy(1.0 / std).to(device)

    @classmethod
    def fitted(cls, store: FrameStore, rows: np.ndarray, config: TrainConfig) -> Inputs:
        mean, std = store.standardization(rows)
        return cls(store, mean, std, config.max_frames, config.device)

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(self.store.batch(rows, self.max_frames)).to(self.device)
        return (x - self._mean) * self._scale


@torch.no_grad()
def predict(
    net: EmotionSpeakerNet, inputs: Inputs, rows: np.ndarray, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(emotion probabilities, embeddings v) of the given rows of the frame store."""
    net.eval()
    probs, embeddings = [], []
    for start in range(0, len(rows), batch_size):
        v = net.enc(inputs(rows[start : start + batch_size]))
        probs.append(torch.softmax(net.ec(v), dim=1).cpu().numpy())
        embeddings.append(v.cpu().numpy())
    net.train()
    return np.concatenate(probs), np.concatenate(embeddings)


@dataclass
class _Selector:
    """One fold riding on a shared training run: its held-out splits and its best epoch."""

    fold: dict[str, Any]
    val: Split
    test: Split
    curve: list[dict[str, Any]]
    best_ua: float = -1.0
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None


def train_fold(
    store: FrameStore, labels: pd.DataFrame, fold: dict[str, Any], regime: str, config: TrainConfig
) -> dict[str, Any]:
    """Train one fold; return the state to keep, the predictions and the curve."""
    return train_session(store, labels, [fold], regime, config)[0]


def train_session(
    store: FrameStore,
    labels: pd.DataFrame,
    folds: list[dict[str, Any]],
    regime: str,
    config: TrainConfig,
) -> list[dict[str, Any]]:
    """Train once for folds that share a session; select a checkpoint for each fold.

    The two folds of a session train on the same speakers with the same seed (derived from
    the session, not the fold), so their training runs would be identical: one run serves
    both, and each fold keeps the epoch its own validation speaker prefers. Δ = test - val
    thus measures checkpoint selection alone (exactly 0 with ``selection: last``), and the
    protocol costs half the training.
    """
    sessions = {(f["session"], tuple(f["train"])) for f in folds}
    if len(sessions) != 1:
        raise ValueError(f"folds {[f['fold'] for f in folds]} do not share one session")
    first = folds[0]
    session_key = zlib.crc32(str(first["session"]).encode())
    torch.manual_seed(config.seed * 2**32 + session_key)
    rng = np.random.default_rng([config.seed, session_key])
    train = make_split(store, labels, first["train"], first["train"], originals_only=False)
    selectors = [
        _Selector(
            fold=f,
            val=make_split(store, labels, [f["val"]], f["train"], originals_only=True),
            test=make_split(store, labels, [f["test"]], f["train"], originals_only=True),
            curve=[],
        )
        for f in folds
    ]
    inputs = Inputs.fitted(store, train.rows, config)
    net = EmotionSpeakerNet(len(EMOTIONS), len(first["train"]), config.embedding)
    net = net.to(config.device)
    trainer = Trainer(regime, net, config.lam or 0.0, config.lr, config.menan_sc_steps)
    steps = math.ceil(len(train.rows) / config.batch_size)
    schedulers = [
        torch.optim.lr_scheduler.PolynomialLR(
            opt, total_iters=config.epochs * steps, power=config.lr_decay_power
        )
        for opt in trainer.optimizers
    ]
    emotion = torch.from_numpy(train.emotion).to(config.device)
    speaker = torch.from_numpy(train.speaker).to(config.device)
    data_s = model_s = 0.0  # wall-clock, logged only: outputs must not depend on timing
    for epoch in range(1, config.epochs + 1):
        order = rng.permutation(len(train.rows))
        totals: dict[str, float] = defaultdict(float)
        for b in range(steps):
            take = order[b * config.batch_size : (b + 1) * config.batch_size]
            t0 = time.perf_counter()
            x = inputs(train.rows[take])
            index_t = torch.from_numpy(take).to(config.device)
            t1 = time.perf_counter()
            logs = trainer.step(x, emotion[index_t], speaker[index_t])
            for scheduler in schedulers:
                scheduler.step()
            model_s += time.perf_counter() - t1
            data_s += t1 - t0
            for key, value in logs.items():
                totals[key] += value * len(take)
        losses = {k: v / len(train.rows) for k, v in sorted(totals.items())}
        for sel in selectors:
            probs, _ = predict(net, inputs, sel.val.rows)
            val_pred = probs.argmax(axis=1)
            val_ua = unweighted_accuracy(sel.val.emotion, val_pred)
            sel.curve.append(
                {
                    "fold": int(sel.fold["fold"]),
                    "epoch": epoch,
                    **losses,
                    "val_wa": weighted_accuracy(sel.val.emotion, val_pred),
                    "val_ua": val_ua,
                    "lr": schedulers[0].get_last_lr()[0],
                }
            )
            if config.selection == "best_val_ua" and val_ua > sel.best_ua:
                sel.best_ua, sel.best_epoch = val_ua, epoch
                sel.best_state = copy.deepcopy(net.state_dict())
    log.info("session %s: %.1f %% of the training loop inside forward/backward/update",
             first["session"], 100 * model_s / max(model_s + data_s, 1e-9))  # fmt: skip
    last_state = copy.deepcopy(net.state_dict())
    return [_selected_outputs(net, inputs, sel, last_state, config) for sel in selectors]


def _selected_outputs(
    net: EmotionSpeakerNet,
    inputs: Inputs,
    sel: _Selector,
    last_state: dict[str, torch.Tensor],
    config: TrainConfig,
) -> dict[str, Any]:
    """Load the fold's chosen checkpoint; its predictions and embeddings of val and test."""
    state, epoch = sel.best_state, sel.best_epoch
    if config.selection == "last" or state is None:
        state, epoch = last_state, config.epochs
    net.load_state_dict(state)
    results: dict[str, Any] = {"selected_epoch": epoch}
    tables, embeddings = [], {}
    for name, split in (("val", sel.val), ("test", sel.test)):
        probs, v = predict(net, inputs, split.rows)
        pred = probs.argmax(axis=1)
        results[f"{name}_wa"] = weighted_accuracy(split.emotion, pred)
        results[f"{name}_ua"] = unweighted_accuracy(split.emotion, pred)
        tables.append(prediction_table(name, split, probs))
        embeddings[name] = (split.utt_ids, v)
    return {
        "state": {k: t.detach().cpu().clone() for k, t in state.items()},
        "mean": inputs.mean,
        "std": inputs.std,
        "predictions": pd.concat(tables, ignore_index=True),
        "embeddings": embeddings,
        "curve": sel.curve,
        "results": results,
    }


def prediction_table(split_name: str, split: Split, probs: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "split": split_name,
            "utt_id": split.utt_ids.astype(str),
            "speaker": split.speakers.astype(str),
            "label": [EMOTIONS[i] for i in split.emotion],
            "predicted": [EMOTIONS[i] for i in probs.argmax(axis=1)],
        }
    )
    for k, name in enumerate(EMOTIONS):
        table[f"prob_{name}"] = probs[:, k].astype(np.float32)
    return table


def write_fold(
    target: Path, fold: dict[str, Any], regime: str, config: TrainConfig, out: dict
) -> None:
    """Write one fold's files atomically; ``fold.json`` doubles as the completion record."""
    with atomic_path(target) as tmp:
        tmp.mkdir()
        torch.save(
            {
                "state_dict": out["state"],
                "regime": regime,
                "config": asdict(config),
                "train_speakers": fold["train"],
                "mean": torch.from_numpy(out["mean"]),
                "std": torch.from_numpy(out["std"]),
                "emotions": list(EMOTIONS),
            },
            tmp / "model.pt",
        )
        pq.write_table(
            pa.Table.from_pandas(out["predictions"], preserve_index=False),
            tmp / "predictions.parquet",
        )
        np.savez(
            tmp / "embeddings.npz",
            **{f"{s}_utt_id": ids.astype(str) for s, (ids, _) in out["embeddings"].items()},
            **{f"{s}_v": v for s, (_, v) in out["embeddings"].items()},
        )
        (tmp / "curve.json").write_text(json.dumps(out["curve"], indent=1) + "\n")
        (tmp / "fold.json").write_text(
            json.dumps({**fold, "regime": regime, **out["results"]}, indent=2, sort_keys=True)
            + "\n"
        )


def load_fold_model(path: Path, store: FrameStore, device: str) -> tuple[EmotionSpeakerNet, Inputs]:
    """A fold's selected network, and inputs from ``store`` standardized as in its training."""
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    config = checkpoint["config"]
    net = EmotionSpeakerNet(
        len(checkpoint["emotions"]), len(checkpoint["train_speakers"]), config["embedding"]
    )
    net.load_state_dict(checkpoint["state_dict"])
    max_frames = round(config["max_seconds"] * FRAMES_PER_SECOND)
    mean, std = checkpoint["mean"].numpy(), checkpoint["std"].numpy()
    return net.to(device), Inputs(store, mean, std, max_frames, device)


def _run_session(
    store, labels, folds: list[dict], regime, config, threads: int, targets: dict[int, Path]
) -> None:
    if not logging.getLogger().handlers:  # worker processes do not inherit the stage's logging
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.perf_counter()
    for fold, out in zip(folds, train_session(store, labels, folds, regime, config), strict=True):
        write_fold(targets[fold["fold"]], fold, regime, config, out)
        r = out["results"]
        log.info(
            "%s fold %d: val UA %.3f, test UA %.3f (epoch %d); session trained in %.1f s",
            regime, fold["fold"], r["val_ua"], r["test_ua"], r["selected_epoch"],
            time.perf_counter() - started,
        )  # fmt: skip


def file_digest(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def code_digest() -> str:
    """Hash of the source of every module that shapes a fold's result.

    Part of the fold fingerprint, so that a code change never gets stale cached folds back.
    """
    modules = (batches, metrics, model, regimes, sys.modules[__name__])
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def fingerprint(regime: str, fold: dict, config: TrainConfig, inputs: dict[str, str]) -> str:
    """Hash of everything that determines a fold's outputs."""
    payload = {"regime": regime, "fold": fold, "config": asdict(config), "inputs": inputs,
               "torch": torch.__version__, "code": code_digest()}  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def chosen_folds(folds: list[dict[str, Any]], which: Any) -> list[dict[str, Any]]:
    if which == "all":
        return folds
    wanted = sorted({int(i) for i in which})
    unknown = [i for i in wanted if not 0 <= i < len(folds)]
    if unknown:
        raise ConfigError(f"params.yaml train.folds: no folds {unknown} (there are {len(folds)})")
    return [folds[i] for i in wanted]


def run_regime(
    regime: str,
    params: dict[str, Any],
    labels_path: Path,
    feature_paths: list[Path],
    folds_path: Path,
    out_dir: Path,
    n_jobs: int,
) -> list[dict[str, Any]]:
    """Train (or reuse) every chosen fold of ``regime`` and assemble ``out_dir``."""
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}; one of {REGIMES}")
    config = TrainConfig.from_params(params, regime)
    folds = chosen_folds(json.loads(folds_path.read_text()), params["train"]["folds"])
    digests = {str(p): file_digest(p) for p in (labels_path, folds_path, *feature_paths)}
    cache = CACHE_ROOT / regime
    targets = {f["fold"]: cache / fingerprint(regime, f, config, digests) for f in folds}
    todo = [f for f in folds if not (targets[f["fold"]] / "fold.json").is_file()]
    log.info("%s: %d folds, %d cached, %d to train (one run per session) on %s", regime,
             len(folds), len(folds) - len(todo), len(todo), config.device)  # fmt: skip
    if todo:
        labels = pd.read_parquet(labels_path)
        store = FrameStore.combine(*(feature_store.load(p) for p in feature_paths))
        sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for f in todo:
            sessions[f["session"]].append(f)
        cores = os.cpu_count() or 1
        workers = min(len(sessions), cores if n_jobs < 0 else max(1, n_jobs))
        threads = max(1, cores // workers) if config.device == "cpu" else 1
        Parallel(n_jobs=workers)(
            delayed(_run_session)(store, labels, group, regime, config, threads, targets)
            for group in sessions.values()
        )
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for f in folds:
            shutil.copytree(targets[f["fold"]], tmp / f"fold{f['fold']:02d}")
    return [json.loads((out_dir / f"fold{f['fold']:02d}" / "fold.json").read_text()) for f in folds]
