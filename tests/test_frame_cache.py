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
