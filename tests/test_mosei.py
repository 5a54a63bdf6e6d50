"""CMU-MOSEI rules: kept, dropped, neutral and multi-label segments; the CSD layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from pipeline.data.corpora import mosei
from pipeline.runtime.errors import CorpusError
from tests.helpers import write_tone

WAV_DIR = "Audio/Full/WAV_16000"


def ratings(happy=0.0, sad=0.0, anger=0.0, surprise=0.0, disgust=0.0, fear=0.0, sentiment=0.5):
    return [sentiment, happy, sad, anger, surprise, disgust, fear]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (ratings(happy=1.0), ("hap", ["hap"])),
        (ratings(sad=0.333, fear=2.0), ("sad", ["sad"])),
        (ratings(anger=2.0, happy=0.667), ("ang", ["ang", "hap"])),
        (ratings(happy=1.0, sad=1.0), ("hap", ["hap", "sad"])),  # tie -> class order
        (ratings(sentiment=-2.0), ("neu", ["neu"])),  # all six zero; sentiment is ignored
        (ratings(surprise=1.0), None),
        (ratings(disgust=0.333, fear=0.333), None),
    ],
)
def test_classify(row: list[float], expected) -> None:
    assert mosei.classify(dict(zip(mosei.SDK_COLUMNS, row, strict=True))) == expected


def make_corpus(
    root: Path,
    videos: dict[str, tuple[list[list[float]], list[tuple[float, float]]]],
    seconds: float = 10.0,
) -> Path:
    for vid in videos:
        write_tone(root / WAV_DIR / f"{vid}.wav", seconds)
    mosei.write_csd(
        root / "CMU_MOSEI_Labels.csd",
        {vid: (np.array(rows), np.array(spans)) for vid, (rows, spans) in videos.items()},
    )
    return root


def test_reader_keeps_neutral_and_multilabel_and_drops_others(tmp_path: Path) -> None:
    root = make_corpus(
        tmp_path,
        {
            "-abc_DEF123": (
                [ratings(happy=1.0), ratings(), ratings(surprise=3.0), ratings(sad=1, anger=2)],
                [(0.5, 2.0), (2.5, 4.0), (4.5, 6.0), (6.5, 9.0)],
            ),
            "zz9": ([ratings(anger=0.333)], [(1.0, 3.0)]),
        },
    )
    table, info = mosei.prepare(root)
    rows = table.set_index("utt_id")
    assert sorted(rows.index) == ["-abc_DEF123[0]", "-abc_DEF123[1]", "-abc_DEF123[3]", "zz9[0]"]
    assert rows.loc["-abc_DEF123[1]", "label"] == "neu"
    assert list(rows.loc["-abc_DEF123[3]", "correct"]) == ["ang", "sad"]
    assert rows.loc["-abc_DEF123[3]", "label"] == "ang"
    assert rows.loc["zz9[0]", "speaker"] == "zz9"
    assert (rows.loc["-abc_DEF123[3]", ["start_s", "end_s"]] == [6.5, 9.0]).all()
    assert rows.loc["-abc_DEF123[0]", "happy"] == pytest.approx(1.0)
    assert info["dropped"] == {"only_surprise_disgust_fear": 1}
    assert info["multi_label"] == 1 and info["segments"] == 5 and info["videos"] == 2


def test_reader_matches_the_demo_truth(mosei_root: Path, truth: dict) -> None:
    table, info = mosei.prepare(mosei_root)
    expected = truth["mosei"]
    assert len(table) == expected["kept"]
    assert info["dropped"].get("only_surprise_disgust_fear", 0) == expected["dropped"]
    assert (table["label"] == "neu").sum() == expected["neutral"] >= 1
    assert (table["correct"].map(len) > 1).sum() == expected["multi_label"] >= 1
    assert table["label"].value_counts().to_dict() == expected["class_counts"]
    assert table["speaker"].nunique() == expected["videos"]


def test_segments_past_the_audio_end_are_dropped_and_overruns_clipped(tmp_path: Path) -> None:
    root = make_corpus(
        tmp_path,
        {
            "vid": (
                [ratings(happy=1), ratings(sad=1), ratings(anger=1)],
                [(1.0, 10.3), (10.5, 12.0), (2.0, 2.0)],
            )
        },
        seconds=10.0,
    )
    table, info = mosei.prepare(root)
    assert table["utt_id"].tolist() == ["vid[0]"]
    assert table["end_s"].iloc[0] == pytest.approx(10.0)
    assert info["dropped"] == {"bad_interval": 1, "beyond_audio_end": 1}


def test_csd_with_wrong_shapes_names_the_dataset(tmp_path: Path) -> None:
    write_tone(tmp_path / WAV_DIR / "v1.wav", 1.0)
    with h5py.File(tmp_path / "CMU_MOSEI_Labels.csd", "w") as handle:
        group = handle.create_group("All Labels/data/v1")
        group["features"] = np.zeros((2, 6))
        group["intervals"] = np.zeros((2, 2))
    with pytest.raises(
        CorpusError, match=r"CMU_MOSEI_Labels.csd: /All Labels/data/v1/features: expected N x 7"
    ):
        mosei.prepare(tmp_path)


def test_missing_label_file_and_wav_dir_are_named(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="WAV_16000"):
        mosei.prepare(tmp_path)
    (tmp_path / WAV_DIR).mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"CMU_MOSEI_Labels\.csd: CMU-MOSEI label file not found"):
        mosei.prepare(tmp_path)
    (tmp_path / "CMU_MOSEI_Labels.csd").write_text("not hdf5")
    with pytest.raises(CorpusError, match="not an HDF5 computational sequence"):
        mosei.prepare(tmp_path)
