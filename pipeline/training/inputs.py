"""Model inputs built on the device: crops gathered from one frame array, standardized per run.

Every example is exactly ``max_frames`` long: the middle ``max_frames`` of a longer
utterance, or the utterance cycle-repeated to ``max_frames`` when shorter (paper, section
5). Both are one index formula, so a batch of all runs of a pack is a single gather from
the frame array. On CUDA the frame array is copied to the GPU once, and batches are then
built there from index tables uploaded once per epoch: no per-step host-to-device copy.
"""

from __future__ import annotations

import numpy as np
import torch

from pipeline.batches import FrameStore


class DeviceFrames:
    """The frames of a store as a tensor on the device, with their row offsets and lengths."""

    def __init__(self, store: FrameStore, device: str) -> None:
        frames = torch.from_numpy(store.frames)  # a memory map stays a memory map on CPU
        self.frames = frames.to(device) if device != "cpu" else frames
        self.offsets = torch.from_numpy(store.offsets[:-1]).to(device)
        self.lengths = torch.from_numpy(np.diff(store.offsets)).to(device)
        self.device = device

    def crops(self, rows: torch.Tensor, max_frames: int) -> torch.Tensor:
        """rows (...,) -> (..., max_frames, 43): middle crop, or cycle-repeat when shorter."""
        n = self.lengths[rows]
        start = torch.where(n > max_frames, (n - max_frames) // 2, 0)
        steps = torch.arange(max_frames, device=rows.device)
        index = self.offsets[rows].unsqueeze(-1) + (start.unsqueeze(-1) + steps) % n.unsqueeze(-1)
        return self.frames[index]


class Standardizer:
    """Per-run (x - mean) / std with the statistics of each run's training speakers."""

    def __init__(self, means: list[np.ndarray], stds: list[np.ndarray], device: str) -> None:
        scale = 1.0 / np.stack(stds)
        self._scale = torch.from_numpy(scale).to(device)[:, None, None, :]
        self._shift = torch.from_numpy(-np.stack(means) * scale).to(device)[:, None, None, :]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (R, B, T, 43), a fresh gather, standardized in place in one pass."""
        return torch.addcmul(self._shift, x, self._scale, out=x)
