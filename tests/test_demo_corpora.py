"""The demo corpora are deterministic and laid out like the real ones."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import soundfile as sf

from pipeline.data.demo.corpora import used_demos, write_demo
from tests.helpers import TINY_DEMO, tree_digest


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path: Path, demo_root: Path) -> None:
    write_demo(tmp_path / "again", TINY_DEMO, n_jobs=2)  # worker count must not matter
    assert tree_digest(tmp_path / "again") == tree_digest(demo_root)
    write_demo(tmp_path / "other", {**TINY_DEMO, "seed": TINY_DEMO["seed"] + 1}, n_jobs=1)
    assert tree_digest(tmp_path / "other") != tree_digest(demo_root)


def test_iemocap_layout(iemocap_root: Path, truth: dict) -> None:
    sessions = sorted(p.name for p in iemocap_root.iterdir())
    assert sessions == [f"Session{i}" for i in range(1, 6)]
    dialogs = {p.stem for p in iemocap_root.glob("Session*/dialog/EmoEvaluation/*.txt")}
    assert any("_impro" in d for d in dialogs) and any("_script" in d for d in dialogs)
    for dialog in dialogs:
        assert (iemocap_root / f"Session{int(dialog[3:5])}" / "sentences" / "wav" / dialog).is_dir()
    raw = truth["iemocap"]["raw_label_counts"]
    assert raw.get("exc", 0) > 0 and set(raw) - {"ang", "hap", "neu", "sad", "exc"}
    info = sf.info(next(iemocap_root.glob("Session1/sentences/wav/*/*.wav")))
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")


def test_mosei_layout_is_the_sdk_computational_sequence(mosei_root: Path, truth: dict) -> None:
    with h5py.File(mosei_root / "CMU_MOSEI_Labels.csd", "r") as handle:
        assert list(handle) == ["All Labels"]
        data = handle["All Labels"]["data"]
        assert len(data) == truth["mosei"]["videos"]
        vid = next(iter(data))
        assert data[vid]["features"].shape[1] == 7 and data[vid]["intervals"].shape[1] == 2
        names = json.loads(handle["All Labels"]["metadata"]["dimension names"][0])
        assert names == ["sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear"]
        wav = mosei_root / "Audio" / "Full" / "WAV_16000" / f"{vid}.wav"
        assert sf.info(wav).samplerate == 16_000
        assert sf.info(wav).duration >= data[vid]["intervals"][-1, 1]


def test_only_the_demo_corpora_params_yaml_reads_are_written(tmp_path: Path) -> None:
    """With every corpus real, the demo stage writes nothing but an empty truth.json."""
    out = tmp_path / "demo"
    real = str(tmp_path / "IEMOCAP_full_release")
    assert used_demos(out, [real, str(out / "CMU_MOSEI")]) == ["mosei"]
    assert used_demos(out, [str(out / "IEMOCAP_full_release"), str(out / "CMU_MOSEI")]) == [
        "iemocap", "mosei",
    ]  # fmt: skip
    assert used_demos(out, [real, str(tmp_path / "CMU_MOSEI")]) == []
    assert write_demo(out, {"seed": 1}, corpora=()) == {}
    assert sorted(p.name for p in out.iterdir()) == ["truth.json"]
