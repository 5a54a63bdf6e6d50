"""The readers of EmoDB, RAVDESS, CREMA-D and MSP-Podcast on copies in their real layouts:
counts per class, speaker and gender, what they skip, and errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.corpora import prepare_corpus
from pipeline.runtime.errors import CorpusError
from tests.helpers import MSP_SPLITS, write_crema_d, write_emodb, write_msp_podcast, write_ravdess


@pytest.fixture(scope="module")
def corpora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("corpora")
    writers = {"emodb": write_emodb, "ravdess": write_ravdess, "crema_d": write_crema_d,
               "msp_podcast": write_msp_podcast}  # fmt: skip
    return {name: (base / name, write(base / name)) for name, write in writers.items()}


def _read(corpora: dict, name: str, **options) -> tuple[pd.DataFrame, dict]:
    return prepare_corpus(name, {"format": name, "root": str(corpora[name][0]), **options})


def _per_speaker(table: pd.DataFrame) -> set[int]:
    return set(table.groupby("speaker").size())


def test_emodb(corpora: dict) -> None:
    """With a macOS copy's debris and one upper-case suffix (03a01Fa.WAV) in wav/."""
    table, info = _read(corpora, "emodb")
    assert len(table) + sum(info["dropped"].values()) == corpora["emodb"][1]["files"]
    assert info["left_out"] == {"copy debris": 3, ".wav in a subfolder": 1}
    assert table.loc[table["utt_id"] == "03a01Fa", "audio_path"].item().endswith("03a01Fa.WAV")
    assert table["label"].value_counts().to_dict() == {"ang": 20, "hap": 20, "neu": 20, "sad": 20}
    assert info["dropped"] == {"boredom": 20, "fear": 20}
    assert table["speaker"].nunique() == 10 and _per_speaker(table) == {8}
    assert info["genders"] == {"F": 5, "M": 5}
    assert table.groupby("gender").size().to_dict() == {"F": 40, "M": 40}
    assert (table.loc[table["speaker"] == "08", "gender"] == "F").all()
    assert table.loc[table["utt_id"] == "03a01Wa", "label"].item() == "ang"
    assert (table["end_s"] > 0.9).all() and table["session"].isna().all()


def test_ravdess_skips_song_and_video_and_keeps_calm_apart(corpora: dict) -> None:
    table, info = _read(corpora, "ravdess")
    assert table["label"].value_counts().to_dict() == {"ang": 24, "hap": 24, "neu": 24, "sad": 24}
    assert info["left_out"] == {"copy debris": 3, "song": 24, "video": 24}
    assert "03-01-01-01-01-01-01" in set(table["utt_id"])  # its .WAV suffix read as .wav
    assert info["dropped"] == {"calm": 24, "disgust": 24, "fearful": 24, "surprised": 24}
    assert info["genders"] == {"F": 12, "M": 12}
    assert table.loc[table["speaker"] == "Actor_01", "gender"].unique().tolist() == ["M"]
    mapped, _ = _read(corpora, "ravdess", label_map={"calm": "neu"})
    assert mapped["label"].value_counts()["neu"] == 48


def test_crema_d_takes_genders_from_the_demographics(corpora: dict) -> None:
    table, info = _read(corpora, "crema_d")
    assert info["left_out"] == {"copy debris": 3} and "1001_DFA_ANG_HI" in set(table["utt_id"])
    assert table["label"].value_counts().to_dict() == {"ang": 91, "hap": 91, "neu": 91, "sad": 91}
    assert info["dropped"] == {"disgust": 91}
    assert table["speaker"].nunique() == 91 and _per_speaker(table) == {4}
    assert (
        info["genders"]
        == {"F": 31, "M": 60}
        == {k[0]: v for k, v in corpora["crema_d"][1]["genders"].items()}
    )


def test_msp_podcast_reads_the_split_and_drops_what_it_documents(corpora: dict) -> None:
    table, info = _read(corpora, "msp_podcast")
    assert info["left_out"] == {"EmoClass O": 1, "EmoClass X": 1, "Split_Set Test2": 1,
                                "unknown speaker": 1}  # fmt: skip
    assert info["dropped"] == {"surprise": sum(MSP_SPLITS.values())}
    speakers = table.groupby("split")["speaker"].nunique().to_dict()
    assert speakers == {"train": 8, "validation": 3, "test": 3}
    assert table["label"].value_counts().to_dict() == {"ang": 14, "hap": 14, "neu": 14, "sad": 14}


def test_expected_counts_and_label_map_are_checked(corpora: dict) -> None:
    with pytest.raises(CorpusError, match="expected class counts"):
        _read(corpora, "emodb", expected_counts={"ang": 127, "hap": 71, "neu": 79, "sad": 62})
    with pytest.raises(CorpusError, match=r"label_map names classes .* \['anger_'\]"):
        _read(corpora, "emodb", label_map={"anger_": "ang"})


def test_wrong_layouts_name_the_file(corpora: dict, tmp_path: Path) -> None:
    bad = tmp_path / "emodb" / "wav" / "03a01Xa.WAV"  # misnamed corpus audio: still an error
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"")
    with pytest.raises(CorpusError, match=r"03a01Xa.WAV: not an EmoDB name"):
        prepare_corpus("e", {"format": "emodb", "root": str(tmp_path / "emodb")})
    with pytest.raises(CorpusError, match=r"nowhere/wav: folder not found"):
        prepare_corpus("e", {"format": "emodb", "root": str(tmp_path / "nowhere")})
    crema = tmp_path / "crema"
    (crema / "AudioWAV").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"VideoDemographics.csv: missing"):
        prepare_corpus("c", {"format": "crema_d", "root": str(crema)})
    (crema / "VideoDemographics.csv").write_text("ActorID,Age,Sex\n1001,30,Unknown\n")
    with pytest.raises(CorpusError, match=r"VideoDemographics.csv:2: Sex: expected one of"):
        prepare_corpus("c", {"format": "crema_d", "root": str(crema)})
    actor = tmp_path / "ravdess" / "Actor_03"
    actor.mkdir(parents=True)
    (actor / "03-01-05-01-01-01-04.wav").write_bytes(b"")
    with pytest.raises(CorpusError, match=r"03-01-05-01-01-01-04.wav: actor 04 in the name"):
        prepare_corpus("r", {"format": "ravdess", "root": str(tmp_path / "ravdess")})
    msp = tmp_path / "msp" / "Labels"
    msp.mkdir(parents=True)
    (msp / "labels_consensus.csv").write_text("FileName,EmoClass,SpkrID\n")
    with pytest.raises(CorpusError, match=r"labels_consensus.csv:1: missing columns"):
        prepare_corpus("m", {"format": "msp_podcast", "root": str(tmp_path / "msp")})
