"""The training settings of params.yaml, checked before any work so a typo never costs a run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pipeline.errors import ConfigError
from pipeline.model import EMBEDDINGS
from pipeline.regimes import USES_LAMBDA

FRAMES_PER_SECOND = 100
SELECTIONS = ("best_val_ua", "last")


def _count(train: dict[str, Any], key: str) -> int:
    value = train.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"params.yaml train.{key}: an integer >= 1, got {value!r}")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"params.yaml {key}: a number, got {value!r}")
    return float(value)


def _seeds(value: Any) -> tuple[int, ...]:
    ok = (
        isinstance(value, list)
        and value
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
    )
    if not ok or len(set(value)) != len(value):
        raise ConfigError(
            f"params.yaml train.seeds: a non-empty list of distinct integers >= 0, got {value!r}"
        )
    return tuple(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything from params.yaml that shapes one regime's training."""

    seeds: tuple[int, ...]
    epochs: int
    batch_size: int
    lr: float
    lr_decay_power: float
    max_seconds: float
    embedding: str
    selection: str
    menan_sc_steps: int
    pack: int
    device: str
    lam: float | None

    @classmethod
    def from_params(cls, params: dict[str, Any], regime: str) -> TrainConfig:
        train = params["train"]
        config = cls(
            seeds=_seeds(train.get("seeds")),
            epochs=_count(train, "epochs"),
            batch_size=_count(train, "batch_size"),
            lr=_number(train.get("lr"), "train.lr"),
            lr_decay_power=_number(train.get("lr_decay_power"), "train.lr_decay_power"),
            max_seconds=_number(train.get("max_seconds"), "train.max_seconds"),
            embedding=str(train["embedding"]),
            selection=str(train["selection"]),
            menan_sc_steps=_count(train, "menan_sc_steps"),
            pack=_count(train, "pack"),
            device=resolve_device(str(train["device"])),
            lam=_number(params.get("lambda"), "lambda") if regime in USES_LAMBDA else None,
        )
        if config.lr <= 0 or config.lr_decay_power < 0 or config.max_seconds <= 0:
            raise ConfigError(
                "params.yaml train: lr and max_seconds must be > 0 and lr_decay_power >= 0, got "
                f"{config.lr}, {config.max_seconds}, {config.lr_decay_power}"
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


def chosen_folds(folds: list[dict[str, Any]], which: Any) -> list[dict[str, Any]]:
    if which == "all":
        return folds
    indices = isinstance(which, list) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in which
    )
    if not indices or not which:
        raise ConfigError(
            f"params.yaml train.folds: 'all' or a list of fold indices, got {which!r}"
        )
    wanted = sorted(set(which))
    unknown = [i for i in wanted if not 0 <= i < len(folds)]
    if unknown:
        raise ConfigError(f"params.yaml train.folds: no folds {unknown} (there are {len(folds)})")
    return [folds[i] for i in wanted]
