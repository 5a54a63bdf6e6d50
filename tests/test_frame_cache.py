"""The frame map: feature tables streamed into one memory-mapped array, a few utterances at a
time, equal to the tables themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.features import frame_cache
from pipeline.features import store as feature_store
from pipeline.features.frame_store import FrameStore
from tests.helpers import toy_corpus


def _write(path: Path, table: feature_store.Features) -> Path:
    with feature_store.feature_writer(path, {}) as writer:
        for i in range(len(table)):
            writer.add(str(table.utt_ids[i]), float(table.speeds[i]), table.utterance(i))
    return path


def test_the_map_streams_a_few_utterances_at_a_time_and_equals_the_tables(
    tmp_path: Path, monkeypatch
) -> None:
    """Arrow holds about one row group while the map is built, never the whole table: the
    first run of a training stage costs no more memory than a later one."""
    _, originals, copies = toy_corpus(per_speaker=120)
    monkeypatch.setattr(feature_store, "FRAMES_PER_ROW_GROUP", 2_000)  # ~30 row groups a file
    paths = [_write(tmp_path / "f.parquet", originals), _write(tmp_path / "s.parquet", copies)]
    assert pq.ParquetFile(paths[0]).metadata.num_row_groups >= 10
    read: list[int] = []
    held: list[int] = []
    real = pq.ParquetFile.iter_batches

    def counted(self, *args, **kwargs):
        for batch in real(self, *args, **kwargs):
            read.append(batch.num_rows)
            held.append(pa.default_memory_pool().bytes_allocated())
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", counted)
    monkeypatch.setattr(frame_cache, "ROWS_PER_BATCH", 7)
    store = frame_cache.open_frames(paths, tmp_path / "cache")
    assert max(read) == 7 and sum(read) == len(originals) + len(copies)
    assert max(held) < originals.frames.nbytes / 4, (max(held), originals.frames.nbytes)

    expected = FrameStore.combine(originals, copies)
    assert isinstance(store.frames, np.memmap)
    np.testing.assert_array_equal(store.frames, expected.frames)
    np.testing.assert_array_equal(store.offsets, expected.offsets)
    np.testing.assert_array_equal(store.utt_ids, expected.utt_ids)
    np.testing.assert_array_equal(store.speeds, expected.speeds)
    np.testing.assert_array_equal(store.row_sum, expected.row_sum)
    np.testing.assert_array_equal(store.row_sq, expected.row_sq)

    read.clear()
    frame_cache.open_frames(paths, tmp_path / "cache")  # built once, then only opened
    assert read == []


def test_wide_float16_frames_stay_float16_and_their_sums_are_mapped(tmp_path: Path) -> None:
    """A self-supervised front end's table (3 layers of 16, float16): the map keeps float16,
    the per-row sums are memory maps, and the fold statistics equal numpy's over the same
    frames."""
    rng = np.random.default_rng(0)
    counts = rng.integers(20, 90, 40)
    frames = rng.standard_normal((int(counts.sum()), 48)).astype(np.float16)
    meta = {"frontend": "ssl", "layers": [0, 1, 2], "hidden_size": 16, "hop": 320,
            "window": 400, "dtype": "float16"}  # fmt: skip
    offsets = np.r_[0, np.cumsum(counts)]
    with feature_store.feature_writer(tmp_path / "w.parquet", meta) as writer:
        for i in range(len(counts)):
            writer.add(f"u{i}", 1.0, frames[offsets[i] : offsets[i + 1]])
    store = frame_cache.open_frames([tmp_path / "w.parquet"], tmp_path / "cache")
    assert store.frames.dtype == np.float16 and store.spec.layers == 3
    assert isinstance(store.row_sum, np.memmap) and store.row_sum.shape == (40, 48)
    rows = np.arange(0, 40, 3)
    mean, std = store.standardization(rows)
    chosen = np.concatenate([frames[offsets[r] : offsets[r + 1]] for r in rows]).astype(float)
    np.testing.assert_allclose(mean, chosen.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, chosen.std(axis=0), rtol=1e-4)


def test_fold_statistics_sum_blocks_of_rows_without_changing_a_bit(monkeypatch) -> None:
    """Summed a few rows at a time (the sums may be a large memory map), the statistics are
    bit for bit those of one sum over every row: the paper's outputs do not move."""
    from pipeline.features import frame_store

    rng = np.random.default_rng(1)
    table = rng.standard_normal((5_000, 43)) * 1e3
    rows = rng.permutation(5_000)[:4_500]
    monkeypatch.setattr(frame_store, "TOTAL_ROWS", 97)
    np.testing.assert_array_equal(frame_store._row_total(table, rows), table[rows].sum(axis=0))
