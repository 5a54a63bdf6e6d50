"""Feature tables as one raw float32 memory map: the one way from Parquet to a FrameStore.

The Parquet tables are compressed, so every process that loaded them would hold its own
copy (at IEMOCAP size with speed copies, about 2.2 GB each). Instead they are streamed
once, a few hundred utterances at a time, into ``frames-<digest>.npy`` in the cache
folder, and every process maps that file: the operating system keeps one copy in its page
cache for all of them, and a process touches only the pages it reads. Training workers,
evaluation and inference all open features this way.

The build holds one batch of utterances at a time (about 20 MB at IEMOCAP's mean length),
so a first run costs no more memory than later ones. The file is keyed by the tables'
content hashes, so it is rebuilt exactly when they change, and written through
:func:`pipeline.runtime.atomic.atomic_path`, so a kill never leaves half a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow.parquet as pq

from pipeline.features.frame_store import FrameStore, row_sums, same_frames
from pipeline.features.spec import CHANNELS, frame_spec
from pipeline.features.store import read_metadata, value_type
from pipeline.runtime.atomic import atomic_path

CACHE_DIR = Path("data/.fold_cache")
ROWS_PER_BATCH = 256
"""Utterances of 43 channels read at a time while building the map (of a wider front end,
as many values: fewer utterances)."""


def file_digest(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def open_frames(
    feature_paths: Sequence[Path], cache_dir: Path = CACHE_DIR, digests: Sequence[str] = ()
) -> FrameStore:
    """A FrameStore over the memory-mapped frames of ``feature_paths`` (built on first use).

    ``digests`` are the files' SHA-256, when the caller has them already. The per-row sums
    are memory-mapped too: a self-supervised front end's (rows x 9,984 values, float64)
    would otherwise be gigabytes in every process.
    """
    metadata = [read_metadata(p) for p in feature_paths]
    record = same_frames(metadata, [str(p) for p in feature_paths])
    spec = frame_spec(metadata[0])
    digests = list(digests) or [file_digest(p) for p in feature_paths]
    key = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
    paths = {part: cache_dir / f"frames-{key}{suffix}" for part, suffix in PARTS.items()}
    if not all(path.is_file() for path in paths.values()):
        _build(feature_paths, paths, spec.width, value_type(metadata[0]))
    with np.load(paths["index"]) as index:
        fields = {name: index[name] for name in index.files}
    # copy-on-write: torch can wrap it without a read-only warning; nothing writes to it
    frames = np.load(paths["frames"], mmap_mode="c")
    sums = {name: np.load(paths[name], mmap_mode="r") for name in ("row_sum", "row_sq")}
    return FrameStore(frames=frames, utt_ids=fields.pop("utt_ids").astype(object), spec=spec,
                      record=record, **fields, **sums)  # fmt: skip


PARTS = {"frames": ".npy", "index": ".index.npz", "row_sum": ".sum.npy", "row_sq": ".sq.npy"}
"""The cache's files per key: the frames, the rows' offsets, ids and speeds, the per-row
sums and sums of squares (float64)."""


@contextmanager
def _npy_stream(path: Path, shape: tuple[int, int], dtype: np.dtype) -> Iterator[BinaryIO]:
    """An ``.npy`` file written by appending rows: plain sequential writes, not a writable
    memory map, so that a full disk fails with ENOSPC naming the path (a memory map would die
    of SIGBUS); the file appears only once complete."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": shape}  # fmt: skip
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        yield handle


def _build(feature_paths: Sequence[Path], paths: dict[str, Path], width: int,
           dtype: np.dtype) -> None:  # fmt: skip
    # pre_buffer=False: with pyarrow's default, iter_batches buffers every row group of the
    # file first (measured: 1.6 GB held for a 1.7 GB table), whatever the batch size
    files = [pq.ParquetFile(p, pre_buffer=False) for p in feature_paths]
    columns = [f.read(columns=["utt_id", "speed", "n_frames"]) for f in files]
    counts = np.concatenate([c.column("n_frames").to_numpy().astype(np.int64) for c in columns])
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    rows_per_batch = max(1, ROWS_PER_BATCH * len(CHANNELS) // width)  # as many values
    with (
        _npy_stream(paths["frames"], (int(offsets[-1]), width), dtype) as frames,
        _npy_stream(paths["row_sum"], (len(counts), width), np.float64) as sums,
        _npy_stream(paths["row_sq"], (len(counts), width), np.float64) as squares,
    ):
        for parquet in files:
            batches = parquet.iter_batches(
                batch_size=rows_per_batch, columns=["n_frames", "features"], use_threads=False
            )
            for batch in batches:
                flat = batch.column("features").flatten().flatten()
                chunk = flat.to_numpy(zero_copy_only=True).reshape(-1, width)
                frames.write(chunk)  # the array's own buffer, no copy
                lengths = batch.column("n_frames").to_numpy().astype(np.int64)
                chunk_sum, chunk_sq = row_sums(chunk, lengths)
                sums.write(chunk_sum)
                squares.write(chunk_sq)
    with atomic_path(paths["index"]) as tmp:
        np.savez(
            tmp,
            offsets=offsets,
            utt_ids=np.concatenate(
                [c.column("utt_id").to_numpy(zero_copy_only=False) for c in columns]
            ).astype(str),
            speeds=np.concatenate([c.column("speed").to_numpy() for c in columns]),
        )
