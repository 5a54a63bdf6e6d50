"""The network of the paper's Table 1, the gradient reversal layer and the entropy loss.

ENC: Conv1D(43->32, k=10, s=2) PReLU; Conv1D(32->32, k=5, s=2) PReLU; GRU(32, 32);
Linear(32, 32) PReLU; statistics pooling [mean, std, max] over time.
EC:  Linear(in, 32) PReLU; Linear(32, 10) PReLU; Linear(10, 4).
SC:  the same with one output per training speaker.

Table 1 is inconsistent: pooling three statistics of 32 channels gives 96 values, yet EC
and SC start with in=32. By default (``embedding: pooled``) the heads take the 96-dim
pooled vector directly, with no extra layer; ``embedding: projected`` instead adds a
Linear(96, 32) after pooling and uses its output as the embedding v, so the two readings
of the table can be compared.

On a self-supervised front end (:mod:`pipeline.features.ssl`) a frame holds L layers'
hidden states side by side; the encoder first takes their softmax-weighted sum with L
learned weights (SUPERB's featurizer; initialised equal), then runs Table 1's encoder with
its first convolution as wide as one layer (768 for a base model instead of 43). With one
stored layer there is no sum. The paper's 43 channels are one "layer" of 43.

An erasure regime (:mod:`pipeline.regimes`, ours) ends the encoder with an
:class:`Eraser`: optionally fixed random Fourier features of v, then an affine map fitted
in closed form (LEACE), so that v as every head, probe and exported graph sees it is the
erased one.

This is the authoritative definition of the network. Training computes the same network
for R runs at once (:class:`pipeline.training.packing.PackedNet`), reading these modules'
weights by name; ``tests/test_packing.py`` fails, naming both files, when the two differ.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pipeline.features.spec import PAPER43_FRAMES, FrameSpec
from pipeline.params import EMBEDDING_KINDS


class GradientReversal(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``-coeff`` backward (Ganin & Lempitsky).

    ``coeff`` is a number, or a tensor that broadcasts against x (one coefficient per run of
    a pack, (R, 1, 1), for DAT's ramp); it gets no gradient itself."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, coeff: float | torch.Tensor) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coeff * grad, None


def reverse_gradient(x: torch.Tensor, coeff: float | torch.Tensor = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, coeff)


def stats_pool(h: torch.Tensor) -> torch.Tensor:
    """[mean, std, max] over time of (batch, time, channels) -> (batch, 3 * channels)."""
    mean = h.mean(dim=1)
    std = (h.var(dim=1, unbiased=False) + 1e-5).sqrt()
    return torch.cat([mean, std, h.amax(dim=1)], dim=1)


def layer_sum(x: torch.Tensor, weights: torch.Tensor, layers: int) -> torch.Tensor:
    """(..., T, layers * D) -> (..., T, D): the layers' sum weighted by softmax(weights)."""
    stacked = x.reshape(*x.shape[:-1], layers, x.shape[-1] // layers)  # traced: any batch
    return torch.einsum("...tld,l->...td", stacked, torch.softmax(weights, dim=-1))


class Eraser(nn.Module):
    """A concept eraser on v: ``features`` > 0 first maps v to that many random Fourier
    features sqrt(2 / F) cos(v W^T + b) (fixed buffers, an RBF kernel's), then an affine
    map x P^T + c (LEACE's: identity minus a low-rank projection). Fitted in closed form by
    :mod:`pipeline.training.erasure`; here it only applies what was fitted."""

    def __init__(self, dim: int, features: int = 0) -> None:
        super().__init__()
        self.features = features
        if features:
            self.register_buffer("rff_weight", torch.zeros(features, dim))
            self.register_buffer("rff_bias", torch.zeros(features))
        self.dim = features or dim
        self.affine = nn.Linear(self.dim, self.dim)

    def lift(self, v: torch.Tensor) -> torch.Tensor:
        """The space the affine map erases in: v itself, or its random Fourier features."""
        if not self.features:
            return v
        return math.sqrt(2.0 / self.features) * torch.cos(
            nn.functional.linear(v, self.rff_weight, self.rff_bias)
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.affine(self.lift(v))


class Encoder(nn.Module):
    """ENC of Table 1: frames (batch, time, width) -> utterance embedding v (erased, when
    ``erase_features`` is given: 0 for LEACE on v, F for LEACE on F random Fourier
    features)."""

    def __init__(self, embedding: str = "pooled", frames: FrameSpec = PAPER43_FRAMES,
                 erase_features: int | None = None) -> None:  # fmt: skip
        super().__init__()
        if embedding not in EMBEDDING_KINDS:
            raise ValueError(f"embedding must be one of {EMBEDDING_KINDS}, got {embedding!r}")
        self.layers = frames.layers
        # only where there is a sum: the paper's network keeps its exact parameters
        if self.layers > 1:
            self.layer_weights = nn.Parameter(torch.zeros(self.layers))
        self.conv = nn.Sequential(
            nn.Conv1d(frames.layer_width, 32, kernel_size=10, stride=2),
            nn.PReLU(),
            nn.Conv1d(32, 32, kernel_size=5, stride=2),
            nn.PReLU(),
        )
        self.gru = nn.GRU(32, 32, num_layers=1, batch_first=True)
        self.frame_out = nn.Sequential(nn.Linear(32, 32), nn.PReLU())
        self.project = nn.Linear(96, 32) if embedding == "projected" else None
        self.dim = 32 if self.project is not None else 96
        self.erase = None if erase_features is None else Eraser(self.dim, erase_features)
        if self.erase is not None:
            self.dim = self.erase.dim

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.layers > 1:
            frames = layer_sum(frames, self.layer_weights, self.layers)
        h = self.conv(frames.transpose(1, 2)).transpose(1, 2)
        h, _ = self.gru(h)
        v = stats_pool(self.frame_out(h))
        v = self.project(v) if self.project is not None else v
        return self.erase(v) if self.erase is not None else v


def head(in_dim: int, classes: int) -> nn.Sequential:
    """EC/SC of Table 1: Linear(in, 32) PReLU, Linear(32, 10) PReLU, Linear(10, classes)."""
    return nn.Sequential(
        nn.Linear(in_dim, 32), nn.PReLU(), nn.Linear(32, 10), nn.PReLU(), nn.Linear(10, classes)
    )


def speaker_heads(heads: int) -> list[str]:
    """The module names of K speaker classifiers: Table 1's ``sc``, then ``sc_extra.0`` ..."""
    return ["sc", *(f"sc_extra.{k}" for k in range(heads - 1))]


class EmotionSpeakerNet(nn.Module):
    """ENC with the emotion classifier EC and the speaker classifier SC on top.

    ``sc_heads`` > 1 (``adversary.<regime>.ensemble``, ours) adds K - 1 more speaker classifiers of
    SC's shape as ``sc_extra``, built last so that ENC, EC and SC draw the same initial
    weights as with one; with one, the network and its state dict are Table 1's exactly."""

    def __init__(self, n_emotions: int, n_speakers: int, embedding: str = "pooled",
                 frames: FrameSpec = PAPER43_FRAMES,
                 erase_features: int | None = None, sc_heads: int = 1) -> None:  # fmt: skip
        super().__init__()
        self.enc = Encoder(embedding, frames, erase_features)
        self.ec = head(self.enc.dim, n_emotions)
        self.sc = head(self.enc.dim, n_speakers)
        self.sc_heads = sc_heads
        if sc_heads > 1:
            extra = (head(self.enc.dim, n_speakers) for _ in range(sc_heads - 1))
            self.sc_extra = nn.ModuleList(extra)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(p) = -sum_k p_k log p_k per example, p = softmax over the last dimension.

    Per example, so that a pack of runs can average it over each run's real examples.
    Computed from log_softmax, so a probability of exactly 0 gives 0 * (-inf)-free terms
    and never NaN. Maximal (log K) for a uniform output.
    """
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)
