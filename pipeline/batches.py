"""Training examples as index arithmetic over one frame array: no per-example copies.

Every example is exactly ``max_frames`` long: the middle ``max_frames`` of a longer
utterance, or the utterance cycle-repeated to ``max_frames`` when shorter (paper, section
5). Both are one index formula, so a batch is a single gather from the frame array
followed by standardization, and data handling stays far below the model's step time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import EMOTIONS
from pipeline.feature_store import Features


@dataclass
class FrameStore:
    """Originals and speed copies side by side: rows keyed by (utt_id, speed)."""

    frames: np.ndarray  # (total_frames, 43) float32
    offsets: np.ndarray  # (rows + 1,) int64
    utt_ids: np.ndarray  # (rows,) object
    speeds: np.ndarray  # (rows,) float32
    row_sum: np.ndarray  # (rows, 43) float64: per-row sums, for fold statistics
    row_sq: np.ndarray  # (rows, 43) float64: per-row sums of squares

    @property
    def n_frames(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def combine(cls, *tables: Features) -> FrameStore:
        frames = np.concatenate([t.frames for t in tables]) if len(tables) > 1 else tables[0].frames
        counts = np.concatenate([np.diff(t.offsets) for t in tables])
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        starts = offsets[:-1]
        as64 = frames.astype(np.float64, copy=False)
        return cls(
            frames=frames,
            offsets=offsets,
            utt_ids=np.concatenate([t.utt_ids for t in tables]),
            speeds=np.concatenate([t.speeds for t in tables]),
            row_sum=np.add.reduceat(as64, starts, axis=0),
            row_sq=np.add.reduceat(as64 * as64, starts, axis=0),
        )

    def rows_for(self, utt_ids: pd.Series, originals_only: bool) -> np.ndarray:
        wanted = set(utt_ids)
        keep = np.fromiter((u in wanted for u in self.utt_ids), bool, len(self.utt_ids))
        if originals_only:
            keep &= self.speeds == 1.0
        return np.flatnonzero(keep)

    def standardization(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global mean and std per channel over every frame of ``rows`` (no per-speaker stats)."""
        count = self.n_frames[rows].sum()
        mean = self.row_sum[rows].sum(axis=0) / count
        var = self.row_sq[rows].sum(axis=0) / count - mean**2
        return mean.astype(np.float32), np.sqrt(np.maximum(var, 1e-8)).astype(np.float32)

    def frame_index(self, rows: np.ndarray, max_frames: int) -> np.ndarray:
        """(len(rows), max_frames) indices: middle crop, or cycle-repeat when shorter."""
        n = self.n_frames[rows]
        start = np.where(n > max_frames, (n - max_frames) // 2, 0)
        steps = (start[:, None] + np.arange(max_frames)[None, :]) % n[:, None]
        return self.offsets[rows][:, None] + steps

    def batch(self, rows: np.ndarray, max_frames: int) -> np.ndarray:
        """(len(rows), max_frames, 43) float32, not yet standardized."""
        return self.frames[self.frame_index(rows, max_frames)]


@dataclass
class Split:
    """The examples of one role in a fold: rows of the store plus their targets."""

    rows: np.ndarray
    emotion: np.ndarray  # class index into EMOTIONS
    speaker: np.ndarray  # index into the fold's training speakers; -1 outside training
    utt_ids: np.ndarray
    speakers: np.ndarray  # speaker names


def make_split(
    store: FrameStore,
    labels: pd.DataFrame,
    speakers: list[str],
    train_speakers: list[str],
    originals_only: bool,
) -> Split:
    """Examples of ``speakers`` (with speed copies unless ``originals_only``)."""
    chosen = labels[labels["speaker"].isin(speakers)].set_index("utt_id")
    rows = store.rows_for(chosen.index.to_series(), originals_only)
    utt_ids = store.utt_ids[rows]
    names = chosen.loc[utt_ids, "speaker"].to_numpy()
    speaker_index = {s: i for i, s in enumerate(train_speakers)}
    return Split(
        rows=rows,
        emotion=chosen.loc[utt_ids, "label"].map(EMOTIONS.index).to_numpy(np.int64, copy=True),
        speaker=np.array([speaker_index.get(s, -1) for s in names], dtype=np.int64),
        utt_ids=utt_ids,
        speakers=names,
    )
