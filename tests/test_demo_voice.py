"""The demo voice must carry both emotion and speaker, or the demo tests nothing."""

from __future__ import annotations

import librosa
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.data.demo.voice import SAMPLE_RATE, STYLES, random_speaker, synthesize
from pipeline.features.channels import extract
from pipeline.features.spec import F0_CHANNEL

EMOTIONS = ("ang", "hap", "neu", "sad")


def _summary(audio: np.ndarray) -> np.ndarray:
    mel = librosa.power_to_db(
        librosa.feature.melspectrogram(
            y=audio, sr=SAMPLE_RATE, n_fft=640, hop_length=160, n_mels=40
        )
    )
    return np.r_[mel.mean(axis=1), mel.std(axis=1)]


def test_emotion_and_speaker_are_both_learnable() -> None:
    rng = np.random.default_rng(3)
    speakers = [random_speaker(rng, f"S{i}", "FM"[i % 2]) for i in range(4)]
    x, emo, spk = [], [], []
    for s, speaker in enumerate(speakers):
        for e in EMOTIONS:
            for _ in range(5):
                x.append(_summary(synthesize(rng, speaker, e, 1.5)))
                emo.append(e)
                spk.append(s)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    emotion_acc = cross_val_score(model, np.array(x), emo, cv=5).mean()
    speaker_acc = cross_val_score(model, np.array(x), spk, cv=5).mean()
    assert emotion_acc > 0.6, emotion_acc  # chance 0.25
    assert speaker_acc > 0.6, speaker_acc  # chance 0.25


def test_pitch_follows_speaker_and_emotion() -> None:
    rng = np.random.default_rng(5)
    low = random_speaker(rng, "M", "M")
    medians = {}
    for e in ("sad", "ang"):
        audio = synthesize(np.random.default_rng(1), low, e, 2.0)
        features = extract(audio)
        medians[e] = np.median(features[features[:, -1] > 0.8, F0_CHANNEL])
    assert STYLES["ang"].f0_scale > STYLES["sad"].f0_scale
    assert medians["ang"] > 1.2 * medians["sad"], medians
    assert 40 < medians["sad"] < 1.3 * low.f0_hz, (medians, low.f0_hz)


def test_synthesis_is_deterministic_and_bounded() -> None:
    speaker = random_speaker(np.random.default_rng(0), "S", "F")
    a = synthesize(np.random.default_rng(9), speaker, "hap", 0.6)
    b = synthesize(np.random.default_rng(9), speaker, "hap", 0.6)
    assert a.dtype == np.float32 and len(a) == int(0.6 * SAMPLE_RATE)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 0.97 and np.sqrt(np.mean(a**2)) > 1e-3
