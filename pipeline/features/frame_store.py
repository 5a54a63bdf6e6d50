"""Training examples as rows of one frame array: splits per fold, statistics per row.

Batches are gathered from the frame array on the model's device
(``pipeline.training.inputs``), so data handling stays far below the model's step time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import EMOTIONS
from pipeline.features.store import Features


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
        row_sum, row_sq = row_sums(frames, counts)
        return cls(
            frames=frames,
            offsets=offsets,
            utt_ids=np.concatenate([t.utt_ids for t in tables]),
            speeds=np.concatenate([t.speeds for t in tables]),
            row_sum=row_sum,
            row_sq=row_sq,
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


def row_sums(frames: np.ndarray, lengths: np.ndarray, chunk_rows: int = 2_000
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-row sums and sums of squares in float64, a few thousand rows at a time.

    Chunked so that no float64 copy of the whole frame array ever exists (it would be
    twice the size of the features).
    """
    sums = np.empty((len(lengths), frames.shape[1]), np.float64)
    squares = np.empty_like(sums)
    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    for start in range(0, len(lengths), chunk_rows):
        stop = min(start + chunk_rows, len(lengths))
        block = frames[offsets[start] : offsets[stop]].astype(np.float64)
        starts = offsets[start:stop] - offsets[start]
        sums[start:stop] = np.add.reduceat(block, starts, axis=0)
        squares[start:stop] = np.add.reduceat(block * block, starts, axis=0)
    return sums, squares


@dataclass
class Split:
    """The examples of one role in a fold: rows of the store plus their targets."""

    rows: np.ndarray
    emotion: np.ndarray  # class index into EMOTIONS
    speaker: np.ndarray  # index into the fold's training speakers; -1 outside training
    utt_ids: np.ndarray
    speakers: np.ndarray  # speaker names


def probe_holdout(utt_ids: np.ndarray, share: float) -> np.ndarray:
    """Whether each utterance is kept out of training for the held-out speaker probe.

    A fixed ``share`` of utterances, chosen by a hash of the id alone, so the slice is the
    same in every fold, seed and stage, and evaluation finds it again without a record.
    Speed copies share their source's id, so they stay out with it.
    """
    if share <= 0:
        return np.zeros(len(utt_ids), dtype=bool)
    keys = np.fromiter((zlib.crc32(str(u).encode()) % 10_000 for u in utt_ids), np.int64,
                       len(utt_ids))  # fmt: skip
    return keys < share * 10_000


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
