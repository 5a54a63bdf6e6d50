"""One optimisation step of each regime (:mod:`pipeline.regimes`) for a pack of runs.

- ``ec_only``:   ENC+EC minimise CE_emo.
- ``multitask``: ENC+EC+SC minimise lambda * CE_emo + (1 - lambda) * CE_spk.
- ``dat``:       as multitask, but SC sees v through a gradient reversal layer, so SC learns
                 to classify speakers while ENC is pushed to make that hard (DANN).
- ``menan``:     alternating (section 3.3). (a) SC alone minimises CE_spk on the detached
                 embedding; (b) with SC frozen, ENC+EC minimise
                 lambda * CE_emo - (1 - lambda) * H(SC(v)), H the entropy of SC's output.

The ``adversary`` settings (ours; defaults are the paper's, and compute exactly the above):
with K speaker classifiers, CE_spk, H and the logged SC accuracy are means over the K (each
head is trained on its own CE; Adam makes the 1/K scale of its gradient irrelevant up to
eps), DAT reverses the gradient of that mean, and MEnAN's encoder maximises the mean
entropy; ``dat_ramp`` scales DAT's reversal by Ganin & Lempitsky's 2 / (1 + exp(-10 p)) - 1
at each run's progress p; MEnAN's extra SC steps may take batches of their own.

A step serves R independent runs (``PackedNet``): every loss is a per-run mean over that
run's real examples, and the summed loss gives each run exactly its own gradient because
the runs share no weight. Logged values stay on the device (no host synchronisation per
step) as per-run means; a step has fixed shapes and no host synchronisation, so it can be
captured in a CUDA graph (``benchmarks/gpu_check.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.nn.functional import cross_entropy

from pipeline.model.network import entropy
from pipeline.regimes import TRAINED
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


def _mean_over_heads(values: list[torch.Tensor]) -> torch.Tensor:
    """The mean over the speaker classifiers of per-run values; one head's value as it is,
    so that the paper's single SC computes exactly what it did before ensembles."""
    return values[0] if len(values) == 1 else torch.stack(values).mean(dim=0)


def _speaker_ce(logits: list[torch.Tensor], batch: Batch) -> torch.Tensor:
    """CE_spk per run: each head's mean over the run's real examples, then over heads."""
    return _mean_over_heads([batch.mean(_per_example_ce(x, batch.speaker)) for x in logits])


def _speaker_accuracy(logits: list[torch.Tensor], batch: Batch) -> torch.Tensor:
    """SC accuracy per run (a logged value, no gradient), averaged over heads like CE_spk."""
    return _mean_over_heads([batch.mean(_accuracy(x.detach(), batch.speaker)) for x in logits])


class PackedTrainer:
    """The optimisers and the per-batch update of one regime for a pack of runs."""

    def __init__(
        self, regime: str, net: PackedNet, lam: float, sc_steps: int = 1, dat_ramp: bool = False
    ) -> None:
        if regime not in TRAINED:
            raise ValueError(f"regime must be one of {TRAINED}, got {regime!r}")
        self.regime, self.net, self.lam, self.sc_steps = regime, net, lam, sc_steps
        self.dat_ramp = dat_ramp
        self.main_opt = PackedAdam(net.main)  # ENC + EC
        self.sc_opt = PackedAdam(net.sc)

    def step(
        self, batch: Batch, lr: torch.Tensor, progress: torch.Tensor | None = None,
        sc_batches: Sequence[Batch] = (),
    ) -> dict[str, torch.Tensor]:  # fmt: skip
        """One update of every active run; per-run means of the logged values, (R,) each.

        ``progress``: each run's share of its steps done, (R, 1), which DAT's ramp reads;
        ``sc_batches``: MEnAN's batches of its own for each extra SC step (``_menan``)."""
        if self.regime == "dat":
            return self._multitask(batch, lr, reverse=self.reversal(progress))
        if self.regime == "menan":
            return self._menan(batch, lr, sc_batches)
        return getattr(self, f"_{self.regime}")(batch, lr)

    def reversal(self, progress: torch.Tensor | None) -> float | torch.Tensor:
        """DAT's reversal coefficient: 1 (the paper's), or with ``dat_ramp`` Ganin &
        Lempitsky's 2 / (1 + exp(-10 p)) - 1 at each run's progress p, as (R, 1, 1)."""
        if not self.dat_ramp:
            return 1.0
        if progress is None:
            raise ValueError("dat_ramp needs each run's progress")
        return (2 / (1 + torch.exp(-10 * progress)) - 1).unsqueeze(-1)

    def speaker_logits(
        self, v: torch.Tensor, frozen: bool = False, reverse: float | torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """Every speaker classifier's logits on v (see :meth:`PackedNet.speaker_logits`)."""
        heads = range(len(self.net.heads))
        return [self.net.speaker_logits(v, frozen, reverse, k) for k in heads]

    def _ec_only(self, batch: Batch, lr: torch.Tensor) -> dict[str, torch.Tensor]:
        net = self.net
        ce_emo = batch.mean(_per_example_ce(net.emotion_logits(net.embed(batch.x)), batch.emotion))
        ce_emo.sum().backward()
        self.main_opt.step(lr, batch.active)
        return {"loss": ce_emo.detach(), "ce_emo": ce_emo.detach()}

    def _multitask(
        self, batch: Batch, lr: torch.Tensor, reverse: float | torch.Tensor | None = None
    ) -> dict:
        """Multitask, or with ``reverse`` (DAT) the speaker term's gradient reversed at v."""
        net = self.net
        v = net.embed(batch.x)
        ce_emo = batch.mean(_per_example_ce(net.emotion_logits(v), batch.emotion))
        spk_logits = self.speaker_logits(v, reverse=reverse)
        ce_spk = _speaker_ce(spk_logits, batch)
        loss = self.lam * ce_emo + (1 - self.lam) * ce_spk
        loss.sum().backward()
        self.main_opt.step(lr, batch.active)
        self.sc_opt.step(lr, batch.active)
        return {
            "loss": loss.detach(),
            "ce_emo": ce_emo.detach(),
            "ce_spk": ce_spk.detach(),
            "sc_acc": _speaker_accuracy(spk_logits, batch),
        }

    def _menan(
        self, batch: Batch, lr: torch.Tensor, sc_batches: Sequence[Batch] = ()
    ) -> dict[str, torch.Tensor]:
        """``train.menan_sc_steps`` steps (a), then step (b) on ``batch``. The first steps
        (a) take ``sc_batches``, one each, embedded without a graph (ENC does not learn from
        them); the rest, at least the last, take ``batch``, as all of them do in the paper."""
        if len(sc_batches) >= self.sc_steps:
            raise ValueError(f"{len(sc_batches)} SC batches for {self.sc_steps} SC steps")
        v = self.net.embed(batch.x)
        for own in sc_batches:
            with torch.no_grad():
                v_own = self.net.embed(own.x)
            self.menan_speaker_step(v_own, own, lr)
        for _ in range(self.sc_steps - len(sc_batches)):
            ce_spk = self.menan_speaker_step(v, batch, lr)
        return {"ce_spk": ce_spk, **self.menan_encoder_step(v, batch, lr)}

    def menan_speaker_step(self, v: torch.Tensor, batch: Batch, lr: torch.Tensor) -> torch.Tensor:
        """Step (a): SC alone minimises CE_spk on the detached embedding; ENC/EC untouched."""
        ce_spk = _speaker_ce(self.speaker_logits(v.detach()), batch)
        ce_spk.sum().backward()
        self.sc_opt.step(lr, batch.active)
        return ce_spk.detach()

    def menan_encoder_step(self, v: torch.Tensor, batch: Batch, lr: torch.Tensor) -> dict:
        """Step (b): SC frozen; ENC+EC minimise lambda * CE_emo - (1 - lambda) * H(SC(v))."""
        spk_logits = self.speaker_logits(v, frozen=True)
        ce_emo = batch.mean(_per_example_ce(self.net.emotion_logits(v), batch.emotion))
        h = _mean_over_heads([batch.mean(entropy(x)) for x in spk_logits])
        loss = self.lam * ce_emo - (1 - self.lam) * h
        loss.sum().backward()
        self.main_opt.step(lr, batch.active)
        return {
            "loss": loss.detach(),
            "ce_emo": ce_emo.detach(),
            "entropy": h.detach(),
            "sc_acc": _speaker_accuracy(spk_logits, batch),
        }

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"main_opt": self.main_opt.state(), "sc_opt": self.sc_opt.state()}

    def load(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        self.main_opt.load(state["main_opt"])
        self.sc_opt.load(state["sc_opt"])
