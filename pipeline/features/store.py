"""Feature tables in Parquet: one row per utterance, streamed in row groups, loaded zero-copy.

Layout: ``utt_id`` (string), ``speed`` (float32; 1.0 for original audio), ``n_frames``
(int32) and ``features``, for the paper's front end a ``list<fixed_size_list<float32,
43>>``: the frames of the utterance, each a fixed-size vector of the channels in
:data:`pipeline.features.spec.CHANNELS`. The channel names and extraction settings live
in the schema metadata. A self-supervised front end's table has the same columns with
frames as wide as its stored layers (:func:`pipeline.features.spec.frame_spec`), in
float16 when its ``dtype`` says so (half the disk and page cache; the network computes in
float32 after the gather). ``(utt_id, speed)`` is the key; a speed copy keeps its source's
``utt_id`` so it joins to the same label and speaker and can never leak into another fold
under a different name.

Compression is zstd level 1, chosen by measurement (``benchmarks/bench_features.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.features.spec import CHANNELS, frame_spec
from pipeline.runtime.atomic import atomic_path

METADATA_KEY = b"menan.features"
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1
FRAMES_PER_ROW_GROUP = 200_000  # ~34 MB of float32 buffered at most before a flush
"""Of 43 values each: a wider table's row groups hold as many values, in fewer frames."""


def value_type(metadata: Mapping[str, Any]) -> np.dtype:
    """How a table stores its values: float32, or float16 where its front end asks."""
    return np.dtype(metadata.get("dtype", "float32"))


def schema(width: int, dtype: np.dtype) -> pa.Schema:
    return pa.schema(
        [
            pa.field("utt_id", pa.string(), nullable=False),
            pa.field("speed", pa.float32(), nullable=False),
            pa.field("n_frames", pa.int32(), nullable=False),
            pa.field(
                "features", pa.list_(pa.list_(pa.from_numpy_dtype(dtype), width)), nullable=False
            ),
        ]
    )


class FeatureWriter:
    """Buffers utterances and writes a Parquet row group whenever enough values piled up."""

    def __init__(self, writer: pq.ParquetWriter, width: int, dtype: np.dtype) -> None:
        self._writer, self.width, self.dtype = writer, width, dtype
        self._rows: list[tuple[str, float, np.ndarray]] = []
        self._frames = 0
        self.utterances = 0
        self.frames = 0

    def add(self, utt_id: str, speed: float, features: np.ndarray) -> None:
        if features.ndim != 2 or features.shape[1] != self.width:
            raise ValueError(f"{utt_id}: expected (n, {self.width}) features, got {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError(f"{utt_id}: NaN or infinite features; nothing non-finite is stored")
        stored = np.ascontiguousarray(features, dtype=self.dtype)
        if not np.isfinite(stored).all():
            raise ValueError(f"{utt_id}: features beyond {self.dtype}'s range; store float32")
        self._rows.append((utt_id, speed, stored))
        self._frames += len(features)
        if self._frames * self.width >= FRAMES_PER_ROW_GROUP * len(CHANNELS):
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        counts = np.array([len(f) for _, _, f in self._rows], dtype=np.int32)
        flat = pa.array(np.concatenate([f.ravel() for _, _, f in self._rows]))
        frames = pa.FixedSizeListArray.from_arrays(flat, self.width)
        offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))
        batch = pa.record_batch(
            [
                pa.array([u for u, _, _ in self._rows], pa.string()),
                pa.array([s for _, s, _ in self._rows], pa.float32()),
                pa.array(counts),
                pa.ListArray.from_arrays(offsets, frames),
            ],
            schema=self._writer.schema,
        )
        self._writer.write_batch(batch)
        self.utterances += len(self._rows)
        self.frames += int(counts.sum())
        self._rows, self._frames = [], 0


@contextmanager
def feature_writer(target: str | Path, metadata: Mapping[str, Any]) -> Iterator[FeatureWriter]:
    """Stream utterances into ``target``; the file appears only once it is complete.
    ``metadata`` says what the frames are (:func:`pipeline.features.spec.frame_spec`)."""
    meta = dict(metadata) if "frontend" in metadata else {"channels": list(CHANNELS), **metadata}
    width, dtype = frame_spec(meta).width, value_type(meta)
    table_schema = schema(width, dtype).with_metadata(
        {METADATA_KEY: json.dumps(meta, sort_keys=True).encode()}
    )
    with (
        atomic_path(target) as tmp,
        pq.ParquetWriter(
            tmp, table_schema, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL
        ) as parquet,
    ):
        writer = FeatureWriter(parquet, width, dtype)
        yield writer
        writer.flush()


@dataclass
class Features:
    """A whole feature table in memory: one (total_frames, width) array plus row offsets."""

    utt_ids: np.ndarray
    speeds: np.ndarray
    offsets: np.ndarray  # int64, len(utt_ids) + 1
    frames: np.ndarray  # (total_frames, width), as stored (float32, or float16)
    metadata: dict[str, Any] = field(default_factory=dict)
    _index: dict[tuple[str, float], int] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.utt_ids)

    def utterance(self, row: int) -> np.ndarray:
        """The (n_frames, width) frames of one row, a view into :attr:`frames`."""
        return self.frames[self.offsets[row] : self.offsets[row + 1]]

    def row(self, utt_id: str, speed: float = 1.0) -> int:
        if self._index is None:
            keys = zip(self.utt_ids.tolist(), self.speeds.tolist(), strict=True)
            self._index = {(u, round(s, 4)): i for i, (u, s) in enumerate(keys)}
        return self._index[(utt_id, round(speed, 4))]

    def get(self, utt_id: str, speed: float = 1.0) -> np.ndarray:
        return self.utterance(self.row(utt_id, speed))


def read_metadata(path: str | Path) -> dict[str, Any]:
    return json.loads((pq.read_schema(path).metadata or {})[METADATA_KEY])


def load(path: str | Path) -> Features:
    """Load a feature table; the frames are copied exactly once, from Arrow into one array."""
    table = pq.read_table(path)
    metadata = read_metadata(path)
    width = frame_spec(metadata).width
    n_frames = table.column("n_frames").to_numpy()
    frames = np.empty((int(n_frames.sum()), width), dtype=value_type(metadata))
    position = 0
    for chunk in table.column("features").chunks:
        # flatten() honours slicing; to_numpy(zero_copy_only=True) is a view of Arrow's buffer
        flat = chunk.flatten().flatten().to_numpy(zero_copy_only=True)
        rows = len(flat) // width
        frames[position : position + rows] = flat.reshape(rows, width)
        position += rows
    offsets = np.zeros(len(n_frames) + 1, dtype=np.int64)
    np.cumsum(n_frames, out=offsets[1:])
    return Features(
        utt_ids=np.asarray(table.column("utt_id").to_pylist(), dtype=object),
        speeds=table.column("speed").to_numpy(),
        offsets=offsets,
        frames=frames,
        metadata=metadata,
    )
