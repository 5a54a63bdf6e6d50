"""One optimisation step of each regime (:mod:`pipeline.regimes`) for a pack of runs.

- ``ec_only``:   ENC+EC minimise CE_emo.
- ``multitask``: ENC+EC+SC minimise lambda * CE_emo + (1 - lambda) * CE_spk.
- ``dat``:       as multitask, but SC sees v through a gradient reversal layer, so SC learns
                 to classify speakers while ENC is pushed to make that hard (DANN).
- ``menan``:     alternating (section 3.3). (a) SC alone minimises CE_spk on the detached
                 embedding; (b) with SC frozen, ENC+EC minimise
                 lambda * CE_emo - (1 - lambda) * H(SC(v)), H the entropy of SC's output.

A step serves R independent runs (``PackedNet``): every loss is a per-run mean over that
run's real examples, and the summed loss gives each run exactly its own gradient because
the runs share no weight. Logged values stay on the device (no host synchronisation per
step) as per-run means; a step has fixed shapes and no host synchronisation, so it can be
captured in a CUDA graph (``benchmarks/gpu_check.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import cross_entropy

from pipeline.model.network import entropy
from pipeline.regimes import REGIMES
from pipeline.training.packing import PackedAdam, PackedNet


@dataclass
class Batch:
    """One step's examples for every run of a pack; padding has weight 0."""

    x: torch.Tensor  # (R, B, T, width), standardized
    emotion: torch.Tensor  # (R, B)
    speaker: torch.Tensor  # (R, B), index into the run's training speakers
    weight: torch.Tensor  # (R, B) float: 1 for a real example, 0 for padding
    active: torch.Tensor  # (R, 1) bool: the run has a batch at this step

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Per-run mean over real examples: (R, B) -> (R,); 0 for an inactive run."""
        return (values * self.weight).sum(dim=1) / self.weight.sum(dim=1).clamp(min=1)


def _per_example_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view(
        target.shape
    )


def _accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == target).to(logits.dtype)


class PackedTrainer:
    """The optimisers and the per-batch update of one regime for a pack of runs."""

    def __init__(self, regime: str, net: PackedNet, lam: float, sc_steps: int = 1) -> None:
        if regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
        self.regime, self.net, self.lam, self.sc_steps = regime, net, lam, sc_steps
        self.main_opt = PackedAdam(net.main)  # ENC + EC
        self.sc_opt = PackedAdam(net.sc)

    def step(self, batch: Batch, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        """One update of every active run; per-run means of the logged values, (R,) each."""
        return getattr(self, f"_{self.regime}")(batch, lr)

    def _ec_only(self, batch: Batch, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        net = self.net
        ce_emo = batch.mean(_per_example_ce(net.emotion_logits(net.embed(batch.x)), batch.emotion))
        ce_emo.sum().backward()
        self.main_opt.step(lr, batch.active)
        return {"loss": ce_emo.detach(), "ce_emo": ce_emo.detach()}

    def _multitask(self, batch: Batch, lr: torch.Tensor, reverse: bool = False) -> dict:
        net = self.net
        v = net.embed(batch.x)
        ce_emo = batch.mean(_per_example_ce(net.emotion_logits(v), batch.emotion))
        spk_logits = net.speaker_logits(v, reverse=reverse)
        ce_spk = batch.mean(_per_example_ce(spk_logits, batch.speaker))
        loss = self.lam * ce_emo + (1 - self.lam) * ce_spk
        loss.sum().backward()
        self.main_opt.step(lr, batch.active)
        self.sc_opt.step(lr, batch.active)
        return {
            "loss": loss.detach(),
            "ce_emo": ce_emo.detach(),
            "ce_spk": ce_spk.detach(),
            "sc_acc": batch.mean(_accuracy(spk_logits.detach(), batch.speaker)),
        }

    def _dat(self, batch: Batch, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._multitask(batch, lr, reverse=True)

    def _menan(self, batch: Batch, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        v = self.net.embed(batch.x)
        for _ in range(self.sc_steps):
            ce_spk = self.menan_speaker_step(v, batch, lr)
        return {"ce_spk": ce_spk, **self.menan_encoder_step(v, batch, lr)}

    def menan_speaker_step(self, v: torch.Tensor, batch: Batch, lr: torch.Tensor) -> torch.Tensor:
        """Step (a): SC alone minimises CE_spk on the detached embedding; ENC/EC untouched."""
        ce_spk = batch.mean(_per_example_ce(self.net.speaker_logits(v.detach()), batch.speaker))
        ce_spk.sum().backward()
        self.sc_opt.step(lr, batch.active)
        return ce_spk.detach()

    def menan_encoder_step(self, v: torch.Tensor, batch: Batch, lr: torch.Tensor) -> dict:
        """Step (b): SC frozen; ENC+EC minimise lambda * CE_emo - (1 - lambda) * H(SC(v))."""
        spk_logits = self.net.speaker_logits(v, frozen=True)
        ce_emo = batch.mean(_per_example_ce(self.net.emotion_logits(v), batch.emotion))
        h = batch.mean(entropy(spk_logits))
        loss = self.lam * ce_emo - (1 - self.lam) * h
        loss.sum().backward()
        self.main_opt.step(lr, batch.active)
        return {
            "loss": loss.detach(),
            "ce_emo": ce_emo.detach(),
            "entropy": h.detach(),
            "sc_acc": batch.mean(_accuracy(spk_logits.detach(), batch.speaker)),
        }

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"main_opt": self.main_opt.state(), "sc_opt": self.sc_opt.state()}

    def load(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self.main_opt.load(state["main_opt"])
        self.sc_opt.load(state["sc_opt"])
