"""Real files through the front end: odd audio, corrupt audio, Parquet round trips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from pipeline.data import labels as label_table
from pipeline.data.corpora import prepare_corpus
from pipeline.features import store as feature_store
from pipeline.features.audio import SAMPLE_RATE, load_segment
from pipeline.features.channels import extract
from pipeline.features.extract import extract_table
from pipeline.features.frontend import Paper43
from pipeline.features.spec import CHANNELS, F0_CHANNEL, PitchRange
from pipeline.runtime.errors import CorpusError
from tests.helpers import REPO, glide, write_frontend, write_params


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    audio, _ = glide(150, 150, 0.5)
    sf.write(tmp_path / "st.wav", np.c_[audio, audio], SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_segment(tmp_path / "st.wav"), audio, atol=1e-6)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100])
def test_other_sample_rates_are_resampled_to_16k(tmp_path: Path, rate: int) -> None:
    t = np.arange(rate) / rate
    sf.write(tmp_path / "r.wav", 0.3 * np.sin(2 * np.pi * 180 * t), rate, subtype="PCM_16")
    audio = load_segment(tmp_path / "r.wav")
    assert len(audio) == pytest.approx(SAMPLE_RATE, abs=2)
    f0 = extract(audio)[5:-5, F0_CHANNEL]
    assert np.median(f0) == pytest.approx(180, rel=0.02)


def test_segment_read_cuts_the_interval(tmp_path: Path) -> None:
    samples = np.linspace(-0.5, 0.5, 3 * SAMPLE_RATE).astype(np.float32)
    sf.write(tmp_path / "v.wav", samples, SAMPLE_RATE, subtype="FLOAT")
    cut = load_segment(tmp_path / "v.wav", 1.0, 2.5)
    np.testing.assert_array_equal(cut, samples[SAMPLE_RATE : int(2.5 * SAMPLE_RATE)])
    assert len(load_segment(tmp_path / "v.wav", 2.5, 9.0)) == SAMPLE_RATE // 2  # clipped at end


def test_clipped_audio_is_processed_as_is(tmp_path: Path) -> None:
    audio, _ = glide(160, 160, 1.0)
    sf.write(tmp_path / "c.wav", np.clip(audio * 8, -1, 1), SAMPLE_RATE, subtype="PCM_16")
    features = extract(load_segment(tmp_path / "c.wav"))
    assert np.isfinite(features).all()
    assert np.median(features[5:-5, F0_CHANNEL]) == pytest.approx(160, rel=0.02)


def test_corrupt_file_names_its_path(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(CorpusError, match=r"bad\.wav: could not decode audio"):
        load_segment(tmp_path / "bad.wav")


def test_round_trip_with_many_row_groups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_store, "FRAMES_PER_ROW_GROUP", 50)
    rng = np.random.default_rng(0)
    written = {
        f"u{i}": rng.standard_normal((rng.integers(1, 40), 43)).astype(np.float32)
        for i in range(30)
    }
    with feature_store.feature_writer(tmp_path / "f.parquet", {"corpus": "x"}) as writer:
        for utt, feats in written.items():
            writer.add(utt, 1.0, feats)
            writer.add(utt, 0.9, feats + 1)
    assert pq.ParquetFile(tmp_path / "f.parquet").num_row_groups > 5
    loaded = feature_store.load(tmp_path / "f.parquet")
    assert len(loaded) == 60 and loaded.frames.shape[1] == 43
    for utt, feats in written.items():
        np.testing.assert_array_equal(loaded.get(utt), feats)
        np.testing.assert_array_equal(loaded.get(utt, 0.9), feats + 1)
    assert loaded.metadata["channels"] == list(CHANNELS) and loaded.metadata["corpus"] == "x"


def _labels(iemocap_root: Path) -> pd.DataFrame:
    table, _ = prepare_corpus("iemocap", {"format": "iemocap", "root": str(iemocap_root)})
    return table.head(12)


def test_extract_table_is_deterministic_across_worker_counts(
    tmp_path: Path, iemocap_root: Path
) -> None:
    labels = _labels(iemocap_root)
    for jobs in (1, 2):
        extract_table(
            labels, tmp_path / f"{jobs}.parquet", [1.0, 1.2], Paper43(PitchRange()), jobs, {}
        )
    one, two = (feature_store.load(tmp_path / f"{j}.parquet") for j in (1, 2))
    np.testing.assert_array_equal(one.frames, two.frames)
    assert list(one.utt_ids) == list(two.utt_ids) and len(one) == 2 * len(labels)
    direct = extract(load_segment(labels["audio_path"].iloc[3]))
    np.testing.assert_array_equal(one.get(labels["utt_id"].iloc[3]), direct)
    assert one.get(labels["utt_id"].iloc[3], 1.2).shape[0] == pytest.approx(
        len(direct) / 1.2, abs=2
    )


def test_feature_stage_with_a_corrupt_wav_fails_without_partial_output(
    tmp_path: Path, iemocap_root: Path
) -> None:
    labels = _labels(iemocap_root)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    labels.loc[labels.index[5], "audio_path"] = str(bad)
    label_table.write(labels, tmp_path / "labels.parquet", "iemocap", {})
    write_params(tmp_path, {"n_jobs": 2})
    write_frontend(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.features",
            "labels.parquet",
            "frontend.json",
            "out/f.parquet",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stderr
    assert f"{bad}: could not decode audio" in result.stderr
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
