"""The manifest reader for a user's own corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.data.corpora import manifest
from pipeline.runtime.errors import CorpusError
from tests.helpers import write_tone

MAP = {
    "angry": "ang",
    "happy": "hap",
    "excited": "hap",
    "neutral": "neu",
    "sad": "sad",
    "bored": None,
}


def write_manifest(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.csv").write_text(text)
    return root


def test_reads_rows_maps_labels_and_numbers_segments(tmp_path: Path) -> None:
    write_tone(tmp_path / "audio" / "a.wav", 3.0)
    write_tone(tmp_path / "audio" / "b.wav", 1.0)
    write_manifest(
        tmp_path,
        (
            "path,speaker,label,session,start_s,end_s\n"
            "audio/a.wav,spk1,angry,s1,0.0,1.0\n"
            "audio/a.wav,spk1,excited,s1,1.0,3.5\n"
            "audio/b.wav,spk2,bored,s1,0,1\n"
            "audio/b.wav,spk2,neutral,s1,0.25,0.75\n"
        ),
    )
    table, info = manifest.prepare(tmp_path, label_map=MAP)
    rows = table.set_index("utt_id")
    assert sorted(rows.index) == ["audio/a[0]", "audio/a[1]", "audio/b"]
    assert rows.loc["audio/a[1]", "label"] == "hap"
    assert rows.loc["audio/a[1]", "end_s"] == pytest.approx(3.0)  # clipped to the file
    assert rows.loc["audio/b", "speaker"] == "spk2" and rows.loc["audio/b", "session"] == "s1"
    assert rows.loc["audio/a[0]", "audio_path"] == str(tmp_path / "audio" / "a.wav")
    assert info == {"rows": 4, "dropped": {"bored": 1}, "left_out": {}}


def test_whole_files_and_optional_columns(tmp_path: Path) -> None:
    write_tone(tmp_path / "x.wav", 1.5)
    write_manifest(tmp_path, "path,speaker,label,gender,utt_id\nx.wav,p,sad,F,my-id\n")
    table, _ = manifest.prepare(tmp_path)
    row = table.iloc[0]
    assert (row["utt_id"], row["start_s"], row["gender"], row["session"]) == (
        "my-id",
        0.0,
        "F",
        None,
    )
    assert row["end_s"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("path,label\nx.wav,sad\n", r"manifest.csv:1: missing columns \['speaker'\]"),
        (
            "path,speaker,label\nx.wav,p,sad\ny.wav,p,furious\n",
            r"manifest.csv:3: label 'furious' is not in the label map",
        ),
        ("path,speaker,label\nx.wav,,sad\n", r"manifest.csv:2: empty value in \['speaker'\]"),
        (
            "path,speaker,label,start_s,end_s\nx.wav,p,sad,zero,1\n",
            r"manifest.csv:2: column 'start_s': expected seconds",
        ),
        (
            "path,speaker,label,start_s,end_s\nx.wav,p,sad,1,0.5\n",
            r"manifest.csv:2: need 0 <= start_s < end_s",
        ),
        ("path,speaker,label\nx.wav,p,sad,extra\n", r"manifest.csv:2: more fields"),
        (
            "path,speaker,label,utt_id\nx.wav,p,sad,u\ny.wav,p,ang,u\n",
            r"manifest.csv:2: utt_id 'u' is not unique",
        ),
        ("path,speaker,label\nx.wav,p,sad\nx.wav,p,sad\n", r"manifest.csv:3: repeats line 2"),
        (
            "path,speaker,label,start_s,end_s\nx.wav,p,sad,0,0.5\nx.wav,q,ang,0,0.5\n",
            r"manifest.csv:3: the same segment \(path, start_s, end_s\) as line 2",
        ),
        (
            "path,speaker,label,start_s,end_s\nx.wav,p,sad,0,0.5\nx.wav,p,ang,0.5,1000\n",
            r"manifest.csv:3: end_s 1000.0 lies 999.00 s past the end of .*x\.wav "
            r"\(1\.00 s long.*not milliseconds",
        ),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    write_tone(tmp_path / "x.wav", 1.0)
    write_manifest(tmp_path, text)
    with pytest.raises(CorpusError, match=pattern):
        manifest.prepare(tmp_path)


def test_label_map_targets_are_checked(tmp_path: Path) -> None:
    write_manifest(tmp_path, "path,speaker,label\nx.wav,p,sad\n")
    with pytest.raises(CorpusError, match="label map targets"):
        manifest.prepare(tmp_path, label_map={"joy": "happy"})


def test_a_byte_order_mark_is_read_as_spreadsheets_write_it(tmp_path: Path) -> None:
    write_tone(tmp_path / "x.wav", 1.0)
    (tmp_path / "manifest.csv").write_bytes("\ufeffpath,speaker,label\nx.wav,p,sad\n".encode())
    table, _ = manifest.prepare(tmp_path)
    assert table["audio_path"].tolist() == [str(tmp_path / "x.wav")]


def test_an_end_within_half_a_second_of_the_file_is_clipped(tmp_path: Path) -> None:
    write_tone(tmp_path / "x.wav", 1.0)
    write_manifest(tmp_path, "path,speaker,label,start_s,end_s\nx.wav,p,sad,0.2,1.3\n")
    table, _ = manifest.prepare(tmp_path)
    assert table["end_s"].tolist() == [pytest.approx(1.0)]


def test_a_split_column_is_read_and_checked(tmp_path: Path) -> None:
    """A corpus's own partition, for the ``split`` fold protocol."""
    for name in "abc":
        write_tone(tmp_path / f"{name}.wav", 1.0)
    write_manifest(tmp_path, "path,speaker,label,split\na.wav,s1,sad,train\n"
                   "b.wav,s2,sad,validation\nc.wav,s3,sad,test\n")  # fmt: skip
    table, _ = manifest.prepare(tmp_path)
    assert table.set_index("utt_id")["split"].to_dict() == {
        "a": "train", "b": "validation", "c": "test"
    }  # fmt: skip
    write_manifest(tmp_path, "path,speaker,label,split\na.wav,s1,sad,train\nb.wav,s2,sad,dev\n")
    with pytest.raises(CorpusError, match=r"manifest.csv:3: split: expected one of"):
        manifest.prepare(tmp_path)
    write_manifest(tmp_path, "path,speaker,label\na.wav,s1,sad\n")
    assert "split" not in manifest.prepare(tmp_path)[0]  # no column, no protocol of its own
