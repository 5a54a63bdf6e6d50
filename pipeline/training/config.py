"""What one regime's training depends on: the ``train`` settings, lambda and the device."""

from __future__ import annotations

from typing import Any

import torch

from pipeline.data.folds import Fold
from pipeline.params import Params, RunSettings
from pipeline.regimes import USES_LAMBDA
from pipeline.runtime import device as devices
from pipeline.runtime.errors import ConfigError

CPU_PACK = 3
"""``pack: auto`` on the CPU: the best measured on CPU (``benchmarks/bench_training.py``)."""


class TrainConfig(RunSettings):
    """The settings a stage trains with (:class:`~pipeline.params.RunSettings`: params.yaml
    ``train``, lambda and ``adversary`` for the regimes that read them, the device), and how
    it packs runs."""

    @classmethod
    def for_regime(cls, params: Params, regime: str) -> TrainConfig:
        return cls(
            **params.train.model_dump(),
            lam=params.lam if regime in USES_LAMBDA else None,
            device=devices.resolve(params.device),
            adversary=params.adversary.for_regime(regime, params.train.menan_sc_steps),
        )

    def pack_size(self, runs: int) -> int:
        """Runs per pack: ``pack``, or for ``auto`` all runs on a GPU and CPU_PACK on a CPU.

        One pack per GPU is what a GPU wants: the step's cost hardly grows with the runs
        in it (it is bound by kernel launches and latency), so one process holding every
        run beats several processes time-slicing one GPU, each with its own copy of the
        frames and its own CUDA context.
        """
        if self.pack != "auto":
            return self.pack
        return max(runs, 1) if devices.is_cuda(self.device) else CPU_PACK

    def fingerprint_fields(self) -> dict[str, Any]:
        """Everything that shapes results: the device only by its type (cpu or cuda)."""
        return {**self.model_dump(exclude={"device"}), "device": devices.kind(self.device)}


def decayed_lr(settings: RunSettings, progress: torch.Tensor) -> torch.Tensor:
    """``train.lr`` decayed polynomially to 0 (power ``lr_decay_power``) at ``progress``, the
    share of its steps a run has done: the one learning-rate schedule of every training."""
    return settings.lr * (1 - progress).clamp(min=0) ** settings.lr_decay_power


def chosen_folds(folds: list[Fold], which: Any) -> list[Fold]:
    """The folds ``train.folds`` picks; indices are checked here, against the folds file."""
    if which == "all":
        return folds
    wanted = sorted(set(which))
    unknown = [i for i in wanted if not 0 <= i < len(folds)]
    if unknown:
        raise ConfigError(f"params.yaml train.folds: no folds {unknown} (there are {len(folds)})")
    return [folds[i] for i in wanted]
