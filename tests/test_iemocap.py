"""IEMOCAP rules on the demo layout and on hand-written EmoEvaluation files."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from pipeline import EMOTIONS
from pipeline.data.corpora import iemocap
from pipeline.runtime.errors import CorpusError
from tests.helpers import make_session


def test_class_counts_equal_what_the_generator_wrote(iemocap_root: Path, truth: dict) -> None:
    table, info = iemocap.prepare(iemocap_root)
    expected = truth["iemocap"]
    assert table["label"].value_counts().to_dict() == expected["class_counts"]
    for speaker, counts in expected["speakers"].items():
        got = table[table["speaker"] == speaker]["label"].value_counts().to_dict()
        assert got == counts, speaker
    assert len(table) == sum(expected["class_counts"].values())
    assert info["evaluated_utterances"] == expected["utterances"]


def test_speaker_is_session_plus_gender_of_last_field(iemocap_root: Path) -> None:
    table, _ = iemocap.prepare(iemocap_root)
    last_gender = table["utt_id"].str.rsplit("_", n=1).str[1].str[0]
    assert (table["speaker"] == table["utt_id"].str[:5] + last_gender).all()
    assert (table["gender"] == last_gender).all()
    # The demo must contain turns whose dialog prefix names the *other* actor.
    prefix_gender = table["utt_id"].str[5]
    assert (prefix_gender != last_gender).sum() > 10
    assert table["speaker"].nunique() == 10 and table["session"].nunique() == 5


def test_speaker_rule_on_a_handwritten_dialog(tmp_path: Path) -> None:
    make_session(
        tmp_path, "Ses01F_impro01", [("Ses01F_impro01_M013", "ang"), ("Ses01F_impro01_F000", "neu")]
    )
    table, _ = iemocap.prepare(tmp_path, expected_counts=None)
    speakers = dict(zip(table["utt_id"], table["speaker"], strict=True))
    assert speakers == {"Ses01F_impro01_M013": "Ses01M", "Ses01F_impro01_F000": "Ses01F"}


def test_exc_merges_into_hap_and_other_labels_are_dropped(tmp_path: Path) -> None:
    raw = ["exc", "hap", "ang", "neu", "sad", "fru", "sur", "xxx", "oth", "fea", "dis"]
    turns = [(f"Ses02M_script01_1_F{k:03d}", label) for k, label in enumerate(raw)]
    make_session(tmp_path, "Ses02M_script01_1", turns, session=2)
    table, info = iemocap.prepare(tmp_path, expected_counts=None)
    labels = dict(zip(table["utt_id"], table["label"], strict=True))
    assert labels == {
        "Ses02M_script01_1_F000": "hap",
        "Ses02M_script01_1_F001": "hap",
        "Ses02M_script01_1_F002": "ang",
        "Ses02M_script01_1_F003": "neu",
        "Ses02M_script01_1_F004": "sad",
    }
    assert info["dropped"] == {"dis": 1, "fea": 1, "fru": 1, "oth": 1, "sur": 1, "xxx": 1}
    assert info["merged_exc_into_hap"] == 1
    assert set(table["label"]) <= set(EMOTIONS)
    assert table["correct"].map(list).tolist() == [[label] for label in table["label"]]


def test_durations_come_from_the_wav_and_include_long_and_short(
    iemocap_root: Path, truth: dict
) -> None:
    table, _ = iemocap.prepare(iemocap_root)
    assert (table["start_s"] == 0).all()
    for path, end in zip(table["audio_path"], table["end_s"], strict=True):
        info = sf.info(path)
        assert end == pytest.approx(info.frames / info.samplerate)
    long_ids, short_ids = truth["iemocap"]["long_utterances"], truth["iemocap"]["short_utterances"]
    assert long_ids and short_ids
    assert all(sf.info(iemocap.wav_path(iemocap_root, u)).duration > 14 for u in long_ids)
    assert all(sf.info(iemocap.wav_path(iemocap_root, u)).duration < 1 for u in short_ids)


def test_expected_counts_guard_an_incomplete_copy(iemocap_root: Path, truth: dict) -> None:
    counts = truth["iemocap"]["class_counts"]
    iemocap.prepare(iemocap_root, expected_counts=counts)
    with pytest.raises(CorpusError, match="expected class counts"):
        iemocap.prepare(iemocap_root, expected_counts={**counts, "ang": counts["ang"] + 1})


def test_a_real_copy_is_held_to_the_papers_counts_by_default(
    tmp_path: Path, iemocap_root: Path
) -> None:
    """``expected_counts: auto``: any copy the demo generator did not write must hold the
    paper's 5,531 utterances, so an incomplete copy fails by default; the demo does not."""
    make_session(tmp_path, "Ses01F_impro01", [("Ses01F_impro01_F000", "sad")])
    with pytest.raises(CorpusError, match=r"'ang': 1103, 'hap': 1636.*an incomplete copy"):
        iemocap.prepare(tmp_path)
    _, info = iemocap.prepare(tmp_path, expected_counts=None)
    assert info["counts_checked"] == "no (expected_counts: null)"
    _, info = iemocap.prepare(iemocap_root)
    assert info["counts_checked"] == "no: the synthetic demo corpus"


def test_appledouble_files_are_ignored(tmp_path: Path) -> None:
    make_session(tmp_path, "Ses01F_impro01", [("Ses01F_impro01_F000", "sad")])
    folder = tmp_path / "Session1" / "dialog" / "EmoEvaluation"
    (folder / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07 binary resource fork")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "notes.doc").write_bytes(b"not an evaluation")
    table, info = iemocap.prepare(tmp_path, expected_counts=None)
    assert table["utt_id"].tolist() == ["Ses01F_impro01_F000"]
    assert info["left_out"] == {"copy debris": 2, "not .txt": 1}


def test_a_wav_whose_name_differs_only_in_case_is_named(tmp_path: Path) -> None:
    """IEMOCAP's audio is looked up by name; a copy that upper-cased a suffix gets an error
    naming the file it found."""
    make_session(tmp_path, "Ses01F_impro01", [("Ses01F_impro01_F000", "sad")])
    wav = iemocap.wav_path(tmp_path, "Ses01F_impro01_F000")
    wav.rename(wav.with_suffix(".WAV"))
    with pytest.raises(CorpusError, match=r"there is Ses01F_impro01_F000.WAV: names differ only"):
        iemocap.prepare(tmp_path)
