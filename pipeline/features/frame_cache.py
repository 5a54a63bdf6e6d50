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
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.features.frame_store import FrameStore, row_sums
from pipeline.features.spec import CHANNELS
from pipeline.runtime.atomic import atomic_path

CACHE_DIR = Path("data/.fold_cache")
ROWS_PER_BATCH = 256
"""Utterances read at a time while building the map."""


def file_digest(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def open_frames(
    feature_paths: Sequence[Path], cache_dir: Path = CACHE_DIR, digests: Sequence[str] = ()
) -> FrameStore:
    """A FrameStore over the memory-mapped frames of ``feature_paths`` (built on first use).

    ``digests`` are the files' SHA-256, when the caller has them already.
    """
    digests = list(digests) or [file_digest(p) for p in feature_paths]
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


def _build(feature_paths: Sequence[Path], frames_path: Path, meta_path: Path) -> None:
    # pre_buffer=False: with pyarrow's default, iter_batches buffers every row group of the
    # file first (measured: 1.6 GB held for a 1.7 GB table), whatever the batch size
    files = [pq.ParquetFile(p, pre_buffer=False) for p in feature_paths]
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
            batches = parquet.iter_batches(
                batch_size=ROWS_PER_BATCH, columns=["n_frames", "features"], use_threads=False
            )
            for batch in batches:
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
