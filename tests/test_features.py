"""The 43-channel front end: pitch, NCCF, framing, log-Mel and speed perturbation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest

from pipeline.features.audio import SAMPLE_RATE, speed_perturb
from pipeline.features.channels import FLOOR, extract, frames_of, n_frames
from pipeline.features.spec import CHANNELS, F0_CHANNEL, HOP, N_MELS, NCCF_CHANNEL, WINDOW
from tests.helpers import glide


def frame_truth(f0: np.ndarray, count: int) -> np.ndarray:
    return f0[np.minimum(np.arange(count) * HOP + WINDOW // 2, len(f0) - 1)]


@pytest.mark.parametrize(("f_start", "f_end"), [(90, 160), (180, 320), (250, 140), (120, 120)])
def test_f0_within_two_percent_on_voiced_frames(f_start: float, f_end: float) -> None:
    audio, f0 = glide(f_start, f_end, 1.5)
    features = extract(audio)
    truth = frame_truth(f0, len(features))
    error = np.abs(features[:, F0_CHANNEL] - truth) / truth
    assert np.max(error[2:-2]) < 0.02, np.max(error)
    assert np.median(features[:, NCCF_CHANNEL]) > 0.95


def test_nccf_is_low_on_noise_and_f0_is_held_through_it() -> None:
    voiced, _ = glide(150, 150, 1.0)
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.2
    features = extract(np.concatenate([voiced, noise]))
    in_noise = slice(110, len(features))
    assert np.median(features[20:90, NCCF_CHANNEL]) > 0.95
    assert np.abs(features[in_noise, NCCF_CHANNEL]).mean() < 0.15
    # unvoiced frames hold the last voiced f0 (interpolation, held at the edges)
    assert np.allclose(features[in_noise, F0_CHANNEL], features[85, F0_CHANNEL], rtol=0.03)


def test_white_noise_alone_has_no_pitch() -> None:
    noise = np.random.default_rng(1).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.2
    features = extract(noise)
    assert (features[:, F0_CHANNEL] == 0).all() and (features[:, NCCF_CHANNEL] == 0).all()


def test_silence_gives_floor_values_and_no_nan() -> None:
    voiced, _ = glide(200, 200, 0.5)
    audio = np.concatenate([np.zeros(8000, np.float32), voiced, np.zeros(8000, np.float32)])
    features = extract(audio)
    assert np.isfinite(features).all()
    assert features[0, N_MELS] == pytest.approx(np.log(FLOOR))
    assert features[0, NCCF_CHANNEL] == 0
    assert (features[:, F0_CHANNEL] > 0).all()  # held from the voiced middle
    silent = extract(np.zeros(4000, np.float32))
    assert (silent[:, F0_CHANNEL] == 0).all() and np.isfinite(silent).all()


@pytest.mark.parametrize("n_samples", [640, 641, 799, 800, 801, 16_000, 16_123])
def test_frame_count_follows_the_formula(n_samples: int) -> None:
    audio = np.random.default_rng(n_samples).standard_normal(n_samples).astype(np.float32) * 0.1
    expected = 1 + (n_samples - WINDOW) // HOP
    assert n_frames(n_samples) == expected == len(frames_of(audio)) == len(extract(audio))


def test_shorter_than_one_window_gives_one_frame() -> None:
    assert extract(np.full(100, 0.1, np.float32)).shape == (1, len(CHANNELS))
    assert n_frames(0) == 1


def test_log_mel_and_energy_match_their_definitions() -> None:
    audio, _ = glide(140, 220, 1.0)
    audio += np.random.default_rng(2).standard_normal(len(audio)).astype(np.float32) * 0.01
    features = extract(audio)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, n_fft=WINDOW, hop_length=HOP, center=False, n_mels=N_MELS
    )
    np.testing.assert_allclose(features[:, :N_MELS], np.log(np.maximum(mel, FLOOR)).T, atol=1e-3)
    frames = frames_of(audio).astype(np.float64)
    np.testing.assert_allclose(features[:, N_MELS], np.log((frames**2).sum(axis=1)), rtol=1e-5)
    assert len(CHANNELS) == 43 and CHANNELS[-3:] == ("log_energy", "f0_hz", "nccf")


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.1, 1.2])
def test_speed_changes_frames_by_one_over_f_and_f0_by_f(factor: float) -> None:
    audio, _ = glide(150, 150, 2.0)
    original = extract(audio)
    fast = extract(speed_perturb(audio, factor))
    assert len(speed_perturb(audio, factor)) == pytest.approx(len(audio) / factor, abs=2)
    assert len(fast) == pytest.approx(len(original) / factor, abs=2)
    ratio = np.median(fast[5:-5, F0_CHANNEL]) / np.median(original[5:-5, F0_CHANNEL])
    assert ratio == pytest.approx(factor, rel=0.01)


def test_features_are_float32_and_deterministic() -> None:
    audio, _ = glide(100, 200, 0.8)
    a, b = extract(audio), extract(audio.copy())
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_pitch_does_not_depend_on_what_was_analysed_before() -> None:
    """SPTK's RAPT keeps static state across calls; isolation must make that invisible."""
    target, _ = glide(110, 230, 1.2)
    target += np.random.default_rng(4).standard_normal(len(target)).astype(np.float32) * 0.05
    alone = extract(target)
    others = [glide(f, 1.7 * f, 0.3 + 0.4 * k)[0] for k, f in enumerate((90, 150, 260))]
    for other in others:
        extract(other)
        np.testing.assert_array_equal(extract(target), alone)
    # ... and equals what a brand-new process computes.
    code = (
        "import sys, numpy as np; from pipeline.features.channels import extract;"
        "x = np.frombuffer(sys.stdin.buffer.read(), np.float32);"
        "sys.stdout.buffer.write(extract(x).tobytes())"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code],
        input=target.tobytes(),
        capture_output=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    np.testing.assert_array_equal(np.frombuffer(fresh, np.float32).reshape(alone.shape), alone)


def test_inconsistent_pitch_range_is_a_config_error() -> None:
    from pipeline.features.spec import PitchRange
    from pipeline.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="f0_min_hz=300"):
        PitchRange(300, 200)
    with pytest.raises(ConfigError, match="f0_max_hz=9000"):
        PitchRange(60, 9000)
