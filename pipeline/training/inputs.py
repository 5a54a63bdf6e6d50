"""A pack's batches: per-epoch index tables uploaded once, and validation of all runs at once.

A batch is a gather from the frame array on the device (:class:`pipeline.model.scoring.
DeviceFrames`), indexed by a table built here once per epoch for every run of the pack.
The step loop then never copies from the host: no ``.to(device)``, no ``from_numpy``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from pipeline.features.frame_store import Split
from pipeline.model.scoring import DeviceFrames, Standardizer
from pipeline.training.packing import PackedNet


class EpochTables:
    """One epoch's batches for every run as (steps, R, B) tables on the device.

    Runs of unequal size share a pack: a run's table is padded by repeating its own rows
    with weight 0, and a step where a run has no real example marks it inactive.
    """

    def __init__(
        self, splits: Sequence[Split], orders: Sequence[np.ndarray], batch: int, device: str
    ) -> None:
        steps = max(math.ceil(len(o) / batch) for o in orders)
        shape = (steps, len(splits), batch)
        rows = np.zeros(shape, np.int64)
        emotion = np.zeros(shape, np.int64)
        speaker = np.zeros(shape, np.int64)
        weight = np.zeros(shape, np.float32)
        for r, (split, order) in enumerate(zip(splits, orders, strict=True)):
            padded = np.resize(order, steps * batch)  # padding repeats real rows, weight 0
            rows[:, r] = split.rows[padded].reshape(steps, batch)
            emotion[:, r] = split.emotion[padded].reshape(steps, batch)
            speaker[:, r] = split.speaker[padded].reshape(steps, batch)
            weight[:, r] = (np.arange(steps * batch) < len(order)).reshape(steps, batch)
        self.steps = steps
        self.rows, self.emotion, self.speaker, self.weight = (
            torch.from_numpy(a).to(device) for a in (rows, emotion, speaker, weight)
        )
        self.active = self.weight.sum(dim=2, keepdim=True) > 0  # (steps, R, 1)


def packed_probs(
    net: PackedNet,
    frames: DeviceFrames,
    norm: Standardizer,
    rows: Sequence[np.ndarray],
    max_frames: int,
    chunk: int = 64,
) -> list[np.ndarray]:
    """Emotion probabilities of each run's rows with that run's weights, all runs at once."""
    longest = max(len(r) for r in rows)
    out: list[list[np.ndarray]] = [[] for _ in rows]
    net.eval()
    with torch.no_grad():
        for start in range(0, longest, chunk):
            parts = [r[start : start + chunk] for r in rows]
            width = max(len(p) for p in parts)
            table = np.stack(
                [np.resize(p if len(p) else r[:1], width) for p, r in zip(parts, rows, strict=True)]
            )
            index = torch.from_numpy(table).to(frames.device)
            v = net.embed(norm(frames.crops(index, max_frames)))
            probs = torch.softmax(net.emotion_logits(v), dim=-1).cpu().numpy()
            for r, p in enumerate(parts):
                out[r].append(probs[r, : len(p)])
    net.train()
    return [np.concatenate(o) for o in out]
