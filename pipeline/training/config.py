"""The training settings of params.yaml as one object (checked by :mod:`pipeline.params`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pipeline.errors import ConfigError
from pipeline.regimes import USES_LAMBDA

FRAMES_PER_SECOND = 100


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
        """Build from params already checked by :func:`pipeline.params.validate`."""
        train = params["train"]
        return cls(
            seeds=tuple(train["seeds"]),
            epochs=train["epochs"],
            batch_size=train["batch_size"],
            lr=float(train["lr"]),
            lr_decay_power=float(train["lr_decay_power"]),
            max_seconds=float(train["max_seconds"]),
            embedding=train["embedding"],
            selection=train["selection"],
            menan_sc_steps=train["menan_sc_steps"],
            pack=train["pack"],
            device=resolve_device(train["device"]),
            lam=float(params["lambda"]) if regime in USES_LAMBDA else None,
        )

    @property
    def max_frames(self) -> int:
        return round(self.max_seconds * FRAMES_PER_SECOND)


def resolve_device(name: str) -> str:
    """``auto`` becomes CUDA where torch sees a GPU, else the CPU; other names stay."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def chosen_folds(folds: list[dict[str, Any]], which: Any) -> list[dict[str, Any]]:
    """The folds ``train.folds`` picks; indices are checked here, against the folds file."""
    if which == "all":
        return folds
    wanted = sorted(set(which))
    unknown = [i for i in wanted if not 0 <= i < len(folds)]
    if unknown:
        raise ConfigError(f"params.yaml train.folds: no folds {unknown} (there are {len(folds)})")
    return [folds[i] for i in wanted]
