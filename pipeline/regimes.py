"""The four training regimes of the paper, as one optimisation step each.

All share the network and configuration; they differ only in what is optimised:

- ``ec_only``:   ENC+EC minimise CE_emo.
- ``multitask``: ENC+EC+SC minimise lambda * CE_emo + (1 - lambda) * CE_spk.
- ``dat``:       as multitask, but SC sees v through a gradient reversal layer, so SC learns
                 to classify speakers while ENC is pushed to make that hard (DANN).
- ``menan``:     alternating (section 3.3). (a) SC alone minimises CE_spk on the detached
                 embedding; (b) with SC frozen, ENC+EC minimise
                 lambda * CE_emo - (1 - lambda) * H(SC(v)), H the entropy of SC's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from pipeline.model import EmotionSpeakerNet, entropy, reverse_gradient

REGIMES = ("ec_only", "multitask", "dat", "menan")
USES_LAMBDA = frozenset({"multitask", "dat", "menan"})


def _accuracy(logits: torch.Tensor, target: torch.Tensor) -> float:
    return (logits.argmax(dim=1) == target).float().mean().item()


@dataclass
class Trainer:
    """Optimisers and the per-batch update of one regime."""

    regime: str
    net: EmotionSpeakerNet
    lam: float
    lr: float
    sc_steps: int = 1
    optimizers: list[torch.optim.Optimizer] = field(init=False)

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {REGIMES}, got {self.regime!r}")
        net = self.net
        main = [*net.enc.parameters(), *net.ec.parameters()]
        if self.regime == "ec_only":
            self.optimizers = [torch.optim.Adam(main, lr=self.lr)]
        elif self.regime == "menan":
            self.optimizers = [
                torch.optim.Adam(main, lr=self.lr),
                torch.optim.Adam(net.sc.parameters(), lr=self.lr),
            ]
        else:
            self.optimizers = [torch.optim.Adam(net.parameters(), lr=self.lr)]

    def step(
        self, x: torch.Tensor, emotion: torch.Tensor, speaker: torch.Tensor
    ) -> dict[str, float]:
        return getattr(self, f"_{self.regime}")(x, emotion, speaker)

    def _update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def _ec_only(self, x, emotion, speaker) -> dict[str, float]:
        loss = cross_entropy(self.net.ec(self.net.enc(x)), emotion)
        self._update(self.optimizers[0], loss)
        return {"loss": loss.item(), "ce_emo": loss.item()}

    def _multitask(self, x, emotion, speaker, reverse: bool = False) -> dict[str, float]:
        v = self.net.enc(x)
        ce_emo = cross_entropy(self.net.ec(v), emotion)
        spk_logits = self.net.sc(reverse_gradient(v) if reverse else v)
        ce_spk = cross_entropy(spk_logits, speaker)
        loss = self.lam * ce_emo + (1 - self.lam) * ce_spk
        self._update(self.optimizers[0], loss)
        return {
            "loss": loss.item(),
            "ce_emo": ce_emo.item(),
            "ce_spk": ce_spk.item(),
            "sc_acc": _accuracy(spk_logits, speaker),
        }

    def _dat(self, x, emotion, speaker) -> dict[str, float]:
        return self._multitask(x, emotion, speaker, reverse=True)

    def _menan(self, x, emotion, speaker) -> dict[str, float]:
        v = self.net.enc(x)
        for _ in range(self.sc_steps):
            ce_spk = self.menan_speaker_step(v, speaker)
        return {"ce_spk": ce_spk, **self.menan_encoder_step(v, emotion, speaker)}

    def menan_speaker_step(self, v: torch.Tensor, speaker: torch.Tensor) -> float:
        """Step (a): SC alone minimises CE_spk on the detached embedding; ENC/EC untouched."""
        ce_spk = cross_entropy(self.net.sc(v.detach()), speaker)
        self._update(self.optimizers[1], ce_spk)
        return ce_spk.item()

    def menan_encoder_step(
        self, v: torch.Tensor, emotion: torch.Tensor, speaker: torch.Tensor
    ) -> dict[str, float]:
        """Step (b): SC frozen; ENC+EC minimise lambda * CE_emo - (1 - lambda) * H(SC(v))."""
        set_trainable(self.net.sc, False)
        try:
            spk_logits = self.net.sc(v)
            ce_emo = cross_entropy(self.net.ec(v), emotion)
            h = entropy(spk_logits)
            loss = self.lam * ce_emo - (1 - self.lam) * h
            self._update(self.optimizers[0], loss)
        finally:
            set_trainable(self.net.sc, True)
        return {
            "loss": loss.item(),
            "ce_emo": ce_emo.item(),
            "entropy": h.item(),
            "sc_acc": _accuracy(spk_logits, speaker),
        }


def set_trainable(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)
