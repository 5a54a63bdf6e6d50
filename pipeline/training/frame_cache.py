"""The training corpus's feature tables as one raw float32 memory map, shared by all workers.

The Parquet tables are compressed, so every worker that loaded them would hold its own
copy (at IEMOCAP size with speed copies, about 2.2 GB each). Instead the driver streams
them once, row group by row group, into ``frames-<digest>.npy`` beside the fold cache,
and every worker maps that file: the operating system keeps one copy in its page cache
for all processes on the machine, and a worker touches only the pages its batches need.
The file is keyed by the tables' content hashes, so it is rebuilt exactly when they
change, and written through :func:`pipeline.atomic.atomic_path`, so a kill never leaves
half a file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.atomic import atomic_path
from pipeline.batches import FrameStore, row_sums
from pipeline.features import CHANNELS


def open_frames(feature_paths: list[Path], digests: list[str], cache_dir: Path) -> FrameStore:
    """A FrameStore over the memory-mapped frames of ``feature_paths`` (built on first use)."""
    key = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
    frames_path = cache_dir / f"frames-{key}.npy"
    meta_path = cache_dir / f"frames-{key}.npz"
    if not (frames_path.is_file() and meta_path.is_file()):
        _build(feature_paths, frames_path, meta_path)
    with np.load(meta_path) as meta:
        fields = {name: meta[name] for name in meta.files}
    # copy-on-write: torch can wrap it without a read-only warning; nothing writes to it
    frames = np.load(frames_path, mmap_mode="c")
    return FrameStore(frames=frames, utt_ids=fields.pop("utt_ids").astype(object), **fields)


def _build(feature_paths: list[Path], frames_path: Path, meta_path: Path) -> None:
    files = [pq.ParquetFile(p) for p in feature_paths]
    columns = [f.read(columns=["utt_id", "speed", "n_frames"]) for f in files]
    counts = np.concatenate([c.column("n_frames").to_numpy().astype(np.int64) for c in columns])
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": (int(offsets[-1]), len(CHANNELS)),
    }
    sums, squares = [], []
    # Plain sequential writes, not a writable memory map: on a full disk a write fails
    # with ENOSPC (reported with the path), where a memory map would die of SIGBUS.
    with atomic_path(frames_path) as tmp, tmp.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for parquet in files:
            for batch in parquet.iter_batches(columns=["n_frames", "features"]):
                flat = batch.column("features").flatten().flatten()
                chunk = flat.to_numpy(zero_copy_only=True).reshape(-1, len(CHANNELS))
                handle.write(chunk)  # the array's own buffer, no copy
                lengths = batch.column("n_frames").to_numpy().astype(np.int64)
                chunk_sum, chunk_sq = row_sums(chunk, lengths)
                sums.append(chunk_sum)
                squares.append(chunk_sq)
    with atomic_path(meta_path) as tmp:
        np.savez(
            tmp,
            offsets=offsets,
            utt_ids=np.concatenate(
                [c.column("utt_id").to_numpy(zero_copy_only=False) for c in columns]
            ).astype(str),
            speeds=np.concatenate([c.column("speed").to_numpy() for c in columns]),
            row_sum=np.concatenate(sums),
            row_sq=np.concatenate(squares),
        )
