"""Training examples as rows of one frame array: splits per fold, statistics per row.

Batches are gathered from the frame array on the model's device
(``pipeline.training.inputs``), so data handling stays far below the model's step time.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline import EMOTIONS
from pipeline.features.spec import (
    PAPER43_FRAMES,
    FrameSpec,
    differences,
    frame_spec,
    model_record,
)
from pipeline.features.store import Features
from pipeline.runtime.errors import CorpusError


@dataclass
class FrameStore:
    """Originals and speed copies side by side: rows keyed by (utt_id, speed)."""

    frames: np.ndarray  # (total_frames, width), float32 or float16 as the tables store them
    offsets: np.ndarray  # (rows + 1,) int64
    utt_ids: np.ndarray  # (rows,) object
    speeds: np.ndarray  # (rows,) float32
    row_sum: np.ndarray  # (rows, width) float64: per-row sums, for fold statistics
    row_sq: np.ndarray  # (rows, width) float64: per-row sums of squares
    spec: FrameSpec = PAPER43_FRAMES  # what a frame holds
    record: dict[str, Any] = field(default_factory=dict)  # how they were made, if known

    @property
    def n_frames(self) -> np.ndarray:
        return np.diff(self.offsets)

    @classmethod
    def combine(cls, *tables: Features) -> FrameStore:
        names = [f"table {i}" for i in range(len(tables))]
        record = same_frames([t.metadata for t in tables], names)
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
            spec=frame_spec(tables[0].metadata),
            record=record,
        )

    def rows_for(self, utt_ids: pd.Series, originals_only: bool) -> np.ndarray:
        wanted = set(utt_ids)
        keep = np.fromiter((u in wanted for u in self.utt_ids), bool, len(self.utt_ids))
        if originals_only:
            keep &= self.speeds == 1.0
        return np.flatnonzero(keep)

    def standardization(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global mean and std per channel over every frame of ``rows`` (no per-speaker stats).

        Summed a few thousand rows at a time: the per-row sums may be a memory map of
        gigabytes (a self-supervised front end), of which only those rows are read.
        """
        count = self.n_frames[rows].sum()
        total, squares = (_row_total(table, rows) for table in (self.row_sum, self.row_sq))
        mean = total / count
        var = squares / count - mean**2
        return mean.astype(np.float32), np.sqrt(np.maximum(var, 1e-8)).astype(np.float32)


def same_frames(metadata: list[dict], names: list[str]) -> dict[str, Any]:
    """How the frames of tables read together were made (:func:`pipeline.features.spec.
    model_record`; ``{}`` for tables without metadata); a CorpusError naming the second of
    two made another way (another front end, model, layers or pitch range)."""
    first = model_record(metadata[0])
    for meta, name in zip(metadata[1:], names[1:], strict=True):
        differ = differences(model_record(meta), first)
        if differ:
            raise CorpusError(name, f"features made another way than {names[0]}'s "
                              f"({'; '.join(differ)}); re-run both with one front end")  # fmt: skip
    return first


TOTAL_ROWS = 4_096
"""Rows of per-row sums added at a time (:meth:`FrameStore.standardization`)."""
CHUNK_VALUES = 40_000_000
"""Values of frames turned into float64 at a time by :func:`row_sums` (320 MB, twice)."""


def _row_total(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``table[rows].sum(axis=0)``, TOTAL_ROWS at a time, in the same order of additions:
    numpy adds the rows of an axis-0 sum one after another, so carrying the running total
    as the first row of the next block changes no bit."""
    total = table[rows[:TOTAL_ROWS]].sum(axis=0)
    for start in range(TOTAL_ROWS, len(rows), TOTAL_ROWS):
        total = np.vstack([total[None], table[rows[start : start + TOTAL_ROWS]]]).sum(axis=0)
    return total


def row_sums(frames: np.ndarray, lengths: np.ndarray, chunk_rows: int = 2_000
             ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-row sums and sums of squares in float64, a few thousand rows at a time.

    Chunked so that no float64 copy of the whole frame array ever exists (it would be
    twice the size of the features); fewer rows at a time for wide frames. Each row's sums
    are its own, so the chunking changes no value.
    """
    mean_values = max(1.0, float(np.mean(lengths)) * frames.shape[1]) if len(lengths) else 1.0
    chunk_rows = max(1, min(chunk_rows, int(CHUNK_VALUES / mean_values)))
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
