"""Outputs appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.data import labels as label_table
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.errors import OutputError


def test_failure_inside_leaves_neither_target_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_output_and_success_replaces_it(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target, replace_dir=True) as tmp:
        tmp.mkdir()
        raise RuntimeError("crash")
    assert [p.name for p in target.iterdir()] == ["old"]
    with atomic_path(target, replace_dir=True) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


@pytest.mark.parametrize("link", [False, True])
def test_an_existing_folder_is_never_replaced_unless_the_stage_owns_it(
    tmp_path: Path, link: bool
) -> None:
    """The writer once removed any folder standing at its target: `menan export --onnx u/`
    replaced the user's folder of audio by one ONNX file."""
    folder = tmp_path / "user"
    (folder / "rec").mkdir(parents=True)
    (folder / "rec" / "a.wav").write_bytes(b"RIFF audio")
    target = tmp_path / "link" if link else folder
    if link:
        target.symlink_to(folder)
    for body in (lambda tmp: tmp.write_text("onnx"), lambda tmp: tmp.mkdir()):
        with pytest.raises(OutputError, match="existing folder"), atomic_path(target) as tmp:
            body(tmp)
    assert (folder / "rec" / "a.wav").read_bytes() == b"RIFF audio"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"user", target.name})


def test_a_folder_that_appears_while_writing_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out.onnx"
    with pytest.raises(OutputError, match="existing folder"), atomic_path(target) as tmp:
        tmp.write_text("graph")
        target.mkdir()  # another process made a folder there meanwhile
        (target / "theirs").write_text("kept")
    assert (target / "theirs").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx"]


def _table(**overrides) -> pd.DataFrame:
    row = {
        "utt_id": "u1", "corpus": "c", "audio_path": "a.wav", "start_s": 0.0, "end_s": 1.0,
        "speaker": "s", "session": None, "gender": None, "label": "neu", "correct": ["neu"],
    }  # fmt: skip
    return pd.DataFrame([{**row, **overrides}])


def test_label_table_round_trips_with_its_scheme(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    label_table.write(_table(), target, "c", {"format": "manifest"})
    back = label_table.read(target)
    assert back["utt_id"].tolist() == ["u1"] and list(back["correct"].iloc[0]) == ["neu"]
    assert label_table.read_metadata(target) == {
        "corpus": "c", "format": "manifest", "labels": ["ang", "hap", "neu", "sad"],
    }  # fmt: skip


def test_invalid_table_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "t.parquet"
    with pytest.raises(ValueError, match="labels outside"):
        label_table.write(_table(label="joy"), target, "c", {})
    with pytest.raises(ValueError, match="end_s <= start_s"):
        label_table.write(_table(end_s=0.0), target, "c", {})
    assert list(tmp_path.iterdir()) == []


def test_corpus_error_survives_pickling() -> None:
    import pickle

    from pipeline.runtime.errors import CorpusError

    error = pickle.loads(pickle.dumps(CorpusError("a/b.wav", "could not decode", line=3)))
    assert str(error) == "a/b.wav:3: could not decode" and error.line == 3
