"""Several independent runs of the Table 1 network computed as one network per step.

Training is bound by per-operation overhead (batch 16, a GRU of 32 units), so R runs that
share a stage are stacked and every operation is issued once for all of them:

- parameters live in two flat buffers of shape (R, P), one row per run: ``main`` (ENC+EC)
  and ``sc`` (SC), so that MEnAN can update SC in place while the encoder's graph is alive;
  with K speaker classifiers (``adversary.ensemble``) a row of ``sc`` holds all K, in the
  order of the network's state dict (``sc``, then ``sc_extra.0`` ...);
- the two convolutions run once per run (the first is arithmetic-bound, so a loop costs
  nothing; grouped and im2col forms measured slower), on channels-last frames;
- the GRU runs in one of two forms, chosen by ``fused_gru`` (training sets it for CUDA):
  the batched recurrence of :mod:`pipeline.training.gru` (the CPU form), or one fused GRU
  of R*32 units whose weights are block-diagonal (block r holds run r's weights, the
  off-diagonal blocks are constant zeros, so no run sees another), which cuDNN runs over
  the whole sequence in one call. The fused form costs R times the arithmetic of R
  separate GRUs (the zero blocks are multiplied too); how far a GPU absorbs that at a
  pack's size is what ``benchmarks/gpu_check.py`` measures. Its weights are built as
  views of one contiguous buffer in cuDNN's layout, so cuDNN reads them in place instead of
  warning and copying them on every call. Both forms are tested on the CPU, forward and
  backward;
- the per-frame Linear, the pooling and the heads are batched over the run dimension, and
  Adam (``PackedAdam``) updates the (R, P) buffers with per-run state and learning rates.

Each run keeps its own weights, batches, optimizer state and learning-rate schedule; its
result equals a separate run up to float rounding (summation order inside the kernels).
A row of a buffer converts to and from an ``EmotionSpeakerNet`` state dict, so the
checkpoints on disk are ordinary single-run models. ``EmotionSpeakerNet`` is the
authoritative definition; this module reads its weights by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from pipeline.model.network import EmotionSpeakerNet, head, reverse_gradient, speaker_heads
from pipeline.training.gru import packed_gru

HIDDEN = 32
GRU_WEIGHTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


@dataclass(frozen=True)
class Layout:
    """Where each tensor of one run's state dict sits in a flat row: name -> (start, shape)."""

    slots: dict[str, tuple[int, torch.Size]]
    size: int

    @classmethod
    def of(cls, tensors: dict[str, torch.Tensor]) -> Layout:
        slots, start = {}, 0
        for name, tensor in tensors.items():
            slots[name] = (start, tensor.shape)
            start += tensor.numel()
        return cls(slots, start)

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[name].reshape(-1) for name in self.slots])

    def unflatten(self, row: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            n: row[s : s + math.prod(shape)].view(shape) for n, (s, shape) in self.slots.items()
        }

    def views(self, flat: torch.Tensor) -> Weights:
        """Per-name views of an (R, P) buffer, each (R, *shape)."""
        runs = flat.shape[0]
        return Weights(
            (n, flat[:, s : s + math.prod(shape)].view(runs, *shape))
            for n, (s, shape) in self.slots.items()
        )


class Weights(dict):
    """Per-run weights by ``EmotionSpeakerNet`` name; a name it lacks is a clear error."""

    def __missing__(self, name: str) -> torch.Tensor:
        raise KeyError(
            f"pipeline/training/packing.py computes with {name!r}, which the network of "
            "pipeline/model/network.py (EmotionSpeakerNet) does not define: change both together"
        )


def _split_state(net: EmotionSpeakerNet) -> tuple[dict, dict]:
    state = net.state_dict()
    speaker = tuple(f"{name}." for name in speaker_heads(net.sc_heads))
    main = {k: v for k, v in state.items() if not k.startswith(speaker)}
    sc = {k: v for k, v in state.items() if k.startswith(speaker)}
    return main, sc


class PackedNet(nn.Module):
    """R networks of identical shape, one row of ``main``/``sc`` each.

    ``fused_gru`` picks the GRU form (see the module docstring); it changes arithmetic
    cost and float rounding, never what is computed.
    """

    def __init__(self, nets: Sequence[EmotionSpeakerNet], fused_gru: bool = False) -> None:
        super().__init__()
        self.fused_gru = fused_gru
        mains, scs = zip(*(_split_state(n) for n in nets), strict=True)
        self.main_layout, self.sc_layout = Layout.of(mains[0]), Layout.of(scs[0])
        self.projected = nets[0].enc.project is not None
        self.layers = nets[0].enc.layers
        self.n_speakers = nets[0].sc[-1].out_features
        self.heads = speaker_heads(nets[0].sc_heads)
        self.dim = nets[0].enc.dim
        self.n_emotions = nets[0].ec[-1].out_features
        self.main = nn.Parameter(torch.stack([self.main_layout.flatten(m) for m in mains]))
        self.sc = nn.Parameter(torch.stack([self.sc_layout.flatten(s) for s in scs]))
        self.runs = len(nets)
        # constant selector of the diagonal blocks of the packed GRU weights
        self.register_buffer("eye", torch.eye(self.runs), persistent=False)

    def state_dict_of(
        self, run: int, main: torch.Tensor | None = None, sc: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Run ``run``'s weights (or the given rows) as an ``EmotionSpeakerNet`` state dict."""
        main = self.main[run] if main is None else main
        sc = self.sc[run] if sc is None else sc
        state = {
            **self.main_layout.unflatten(main.detach()),
            **self.sc_layout.unflatten(sc.detach()),
        }
        return {k: v.clone().cpu() for k, v in state.items()}

    # -- forward ------------------------------------------------------------------------

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """ENC for every run: x (R, B, T, width) -> v (R, B, dim), run r seeing only x[r]."""
        w = self.main_layout.views(self.main)
        runs, batch = x.shape[:2]
        if self.layers > 1:  # each run's own weighted sum of the stored layers
            mix = torch.softmax(w["enc.layer_weights"], dim=-1)
            x = torch.einsum("rbtld,rl->rbtd", x.unflatten(-1, (self.layers, -1)), mix)
        h = torch.stack([self._convs(x[r], w, r) for r in range(runs)])  # (R, B, T', 32)
        if self.fused_gru:
            h = self.fused(h, w)
        else:
            h = packed_gru(h, *(w[f"enc.gru.{name}"] for name in GRU_WEIGHTS))
        h = h.reshape(runs, -1, HIDDEN)
        h = _prelu(
            _linear(h, w["enc.frame_out.0.weight"], w["enc.frame_out.0.bias"]),
            w["enc.frame_out.1.weight"],
        )
        h = h.view(runs, batch, -1, HIDDEN)
        var, mean = torch.var_mean(h, dim=2, unbiased=False)
        std = (var + 1e-5).sqrt()
        v = torch.cat([mean, std, h.amax(dim=2)], dim=2)
        if self.projected:
            v = _linear(v, w["enc.project.weight"], w["enc.project.bias"])
        return v

    @staticmethod
    def _convs(x: torch.Tensor, w: dict[str, torch.Tensor], r: int) -> torch.Tensor:
        """Run r's two convolutions, (B, T, C) -> (B, T', 32), channels last throughout.

        Frames are stored channels last, which seen as (B, C, 1, T) is PyTorch's
        ``channels_last`` layout: oneDNN convolves it as it is, with no transposing copy
        in or out (forward and backward 1.6x faster than a channels-first Conv1d with its
        copies, measured). One call per run: the first convolution is arithmetic-bound,
        and a grouped or im2col form of it measured slower on CPU than this loop.
        """
        h = x.transpose(1, 2).unsqueeze(2)
        for conv, act in (("enc.conv.0", "enc.conv.1"), ("enc.conv.2", "enc.conv.3")):
            h = F.conv2d(h, w[f"{conv}.weight"][r].unsqueeze(2), w[f"{conv}.bias"][r],
                         stride=(1, 2))  # fmt: skip
            h = F.prelu(h, w[f"{act}.weight"][r])
        return h.squeeze(2).transpose(1, 2)

    def fused(self, h: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """All runs as one GRU of R*32 units: h (R, B, T, 32) -> (R, B, T, 32)."""
        runs, batch, steps, _ = h.shape
        wide = h.permute(1, 2, 0, 3).reshape(batch, steps, runs * HIDDEN)
        hx = h.new_zeros(1, batch, runs * HIDDEN)
        weights = self.block_diagonal_weights(w)
        out, _ = torch._VF.gru(wide, hx, weights, True, 1, 0.0, self.training, False, True)
        return out.reshape(batch, steps, runs, HIDDEN).permute(2, 0, 1, 3)

    def block_diagonal_weights(self, w: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """[w_ih, w_hh, b_ih, b_hh] of the fused GRU as views of one contiguous buffer.

        cuDNN takes a GRU's weights in place only when they lie in one buffer, from its
        start, in its own flat layout (a layer's input weights, recurrent weights, input
        biases, recurrent biases, gates r, z, n in each): otherwise it warns and copies them
        into such a buffer on every call. Built here in that layout, with one ``cat``.
        """
        runs = self.runs
        parts, shapes = [], []
        for name in GRU_WEIGHTS:
            t = w[f"enc.gru.{name}"].reshape(runs, 3, HIDDEN, -1)  # (R, gate, out, in | 1)
            if name.startswith("weight"):
                # block-diagonal per gate: [gate, run_out, out, run_in, in]
                t = torch.einsum("rgoi,rs->grosi", t, self.eye)
                shapes.append((3 * runs * HIDDEN, runs * t.shape[-1]))
            else:
                t = t.permute(1, 0, 2, 3)
                shapes.append((3 * runs * HIDDEN,))
            parts.append(t.reshape(-1))
        flat = torch.cat(parts)
        sizes = [math.prod(shape) for shape in shapes]
        return [p.view(shape) for p, shape in zip(flat.split(sizes), shapes, strict=True)]

    def emotion_logits(self, v: torch.Tensor) -> torch.Tensor:
        return _head(v, self.main_layout.views(self.main), "ec")

    def speaker_logits(
        self, v: torch.Tensor, frozen: bool = False,
        reverse: float | torch.Tensor | None = None, index: int = 0,
    ) -> torch.Tensor:  # fmt: skip
        """Speaker classifier ``index`` (0: SC) on v; ``frozen``: its weights get no gradient;
        ``reverse``: v's gradient reversed with this coefficient (None: not reversed)."""
        flat = self.sc.detach() if frozen else self.sc
        v = v if reverse is None else reverse_gradient(v, reverse)
        return _head(v, self.sc_layout.views(flat), self.heads[index])

    @torch.no_grad()
    def reinit_speaker_heads(self, seeds: Sequence[int]) -> None:
        """New weights for every speaker classifier of every run, drawn as the network's
        constructor draws them (PyTorch's default initialisation), run r's from a generator
        seeded with ``seeds[r]`` alone: what a run gets never depends on the pack it is in,
        and the global random state is left as it was."""
        for r, seed in enumerate(seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                fresh = [head(self.dim, self.n_speakers) for _ in self.heads]
            state = {
                f"{name}.{key}": tensor
                for name, module in zip(self.heads, fresh, strict=True)
                for key, tensor in module.state_dict().items()
            }
            self.sc[r].copy_(self.sc_layout.flatten(state))


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per-run Linear: x (R, N, in), weight (R, out, in), bias (R, out) -> (R, N, out)."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _prelu(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-run PReLU with one slope per run: weight (R, 1)."""
    slope = weight.view(-1, *([1] * (x.dim() - 1)))
    return torch.where(x > 0, x, slope * x)


def _head(v: torch.Tensor, w: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    h = _prelu(_linear(v, w[f"{name}.0.weight"], w[f"{name}.0.bias"]), w[f"{name}.1.weight"])
    h = _prelu(_linear(h, w[f"{name}.2.weight"], w[f"{name}.2.bias"]), w[f"{name}.3.weight"])
    return _linear(h, w[f"{name}.4.weight"], w[f"{name}.4.bias"])


class PackedAdam:
    """Adam (torch's defaults) over an (R, P) buffer, each run with its own state and lr.

    Elementwise like ``torch.optim.Adam``, so packing changes nothing but rounding. Only
    the runs marked ``active`` move: a run whose epoch has ended while others go on keeps
    its weights and moments untouched, exactly as if it were alone.
    """

    def __init__(
        self, param: torch.Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.param, self.betas, self.eps = param, betas, eps
        self.exp_avg = torch.zeros_like(param)
        self.exp_avg_sq = torch.zeros_like(param)
        self.steps = torch.zeros(param.shape[0], 1, dtype=param.dtype, device=param.device)

    @torch.no_grad()
    def step(self, lr: torch.Tensor, active: torch.Tensor) -> None:
        """One update of the active runs; ``lr`` and ``active`` are (R, 1) device tensors."""
        beta1, beta2 = self.betas
        grad = self.param.grad
        self.steps += active
        new_avg = torch.lerp(self.exp_avg, grad, 1 - beta1)
        new_sq = self.exp_avg_sq * beta2 + (1 - beta2) * grad * grad
        self.exp_avg.copy_(torch.where(active, new_avg, self.exp_avg))
        self.exp_avg_sq.copy_(torch.where(active, new_sq, self.exp_avg_sq))
        steps = self.steps.clamp(min=1)
        step_size = lr / (1 - beta1**steps)
        denom = (self.exp_avg_sq.sqrt() / (1 - beta2**steps).sqrt()) + self.eps
        self.param.sub_(torch.where(active, step_size * self.exp_avg / denom, 0.0))
        self.param.grad = None

    def state(self) -> dict[str, torch.Tensor]:
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "steps": self.steps}

    def reset(self) -> None:
        """A new optimiser's state for every run: moments and step counts back to 0, so
        the bias correction starts over with the weights it now updates."""
        for tensor in self.state().values():
            tensor.zero_()

    def load(self, state: dict[str, torch.Tensor]) -> None:
        for name, tensor in state.items():
            getattr(self, name).copy_(tensor)
