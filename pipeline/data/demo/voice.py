"""A small source-filter voice: glottal pulses with jitter and shimmer through formants.

Speaker identity (base f0, vocal-tract length, voice quality) and emotion (f0 level, range
and contour, speaking rate, energy, spectral tilt) both shape the signal, so a classifier
can learn emotion from the demo corpus and a speaker classifier can tell the speakers apart.
That entanglement is exactly what MEnAN is meant to undo, so the demo is a fair smoke test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

SAMPLE_RATE = 16_000

# Formant centre frequencies (Hz) of five vowels for an adult male vocal tract.
_VOWELS = np.array(
    [
        [730, 1090, 2440, 3400],  # a
        [530, 1840, 2480, 3500],  # e
        [270, 2290, 3010, 3600],  # i
        [570, 840, 2410, 3400],  # o
        [300, 870, 2240, 3300],  # u
    ],
    dtype=float,
)
_BANDWIDTHS = np.array([70.0, 100.0, 140.0, 180.0])


@dataclass(frozen=True)
class Speaker:
    """Voice traits that stay fixed across a speaker's utterances."""

    speaker_id: str
    gender: str
    f0_hz: float
    vt_scale: float  # formant scaling; shorter vocal tract -> higher formants
    tilt: float  # glottal low-pass pole; higher -> darker, breathier voice
    breathiness: float
    jitter: float
    shimmer: float
    expressiveness: float  # how strongly this speaker's voice shows emotion


@dataclass(frozen=True)
class Style:
    """How an emotion moves the voice away from the speaker's neutral."""

    f0_scale: float
    f0_range_st: float  # pitch-accent excursion in semitones
    slope_st: float  # whole-utterance rise (+) or declination (-) in semitones
    rate_sps: float  # syllables per second
    energy_db: float
    tilt_shift: float  # added to the glottal pole; negative -> brighter (tenser) voice


STYLES: dict[str, Style] = {
    "neu": Style(1.00, 2.0, -2.0, 4.0, 0.0, 0.0),
    "hap": Style(1.22, 6.0, 2.0, 4.7, 4.0, -0.02),
    "exc": Style(1.30, 7.0, 1.0, 5.2, 6.0, -0.03),
    "ang": Style(1.28, 4.5, -4.0, 5.4, 8.0, -0.05),
    "sad": Style(0.88, 1.0, -4.5, 3.0, -6.0, 0.03),
    "fru": Style(1.10, 3.0, -3.0, 4.6, 3.0, -0.02),
    "sur": Style(1.35, 8.0, 5.0, 4.4, 3.0, -0.01),
    "fea": Style(1.25, 3.0, 1.0, 5.6, -2.0, 0.01),
    "dis": Style(0.95, 3.0, -3.0, 3.6, 1.0, 0.0),
    "oth": Style(1.05, 3.0, -1.0, 4.2, 0.0, 0.0),
    "xxx": Style(1.08, 3.5, -1.5, 4.3, 1.5, -0.01),
}
"""Every raw label the demo writes has a style; the four classes differ the most."""


def random_speaker(rng: np.random.Generator, speaker_id: str, gender: str) -> Speaker:
    """Draw a speaker; female voices have higher f0 and a shorter vocal tract on average."""
    female = gender == "F"
    return Speaker(
        speaker_id=speaker_id,
        gender=gender,
        f0_hz=(205.0 if female else 115.0) * float(np.exp(rng.normal(0, 0.12))),
        vt_scale=(1.16 if female else 1.0) * float(np.exp(rng.normal(0, 0.06))),
        tilt=float(rng.uniform(0.90, 0.96)),
        breathiness=float(rng.uniform(0.02, 0.25)),
        jitter=float(rng.uniform(0.005, 0.02)),
        shimmer=float(rng.uniform(0.03, 0.12)),
        expressiveness=float(rng.uniform(0.6, 1.2)),
    )


def _formant_sos(formants: np.ndarray, sample_rate: int) -> np.ndarray:
    """A cascade of two-pole resonators with unit gain at DC (the Klatt cascade branch)."""
    nyquist = sample_rate / 2
    sos = []
    for freq, bw in zip(formants, _BANDWIDTHS, strict=True):
        if freq >= 0.9 * nyquist:
            continue
        r = np.exp(-np.pi * bw / sample_rate)
        a1, a2 = -2 * r * np.cos(2 * np.pi * freq / sample_rate), r * r
        sos.append([1 + a1 + a2, 0.0, 0.0, 1.0, a1, a2])
    return np.asarray(sos)


def _pulse_train(
    rng: np.random.Generator, f0: np.ndarray, speaker: Speaker, sample_rate: int
) -> np.ndarray:
    """Glottal impulses at the contour's periods, each period and amplitude perturbed."""
    out = np.zeros(len(f0))
    t = int(rng.integers(0, int(sample_rate / f0[0])))
    while t < len(f0):
        out[t] = 1.0 + speaker.shimmer * rng.standard_normal()
        period = sample_rate / f0[t] * (1.0 + speaker.jitter * rng.standard_normal())
        t += max(1, round(period))
    return out


def synthesize(
    rng: np.random.Generator,
    speaker: Speaker,
    emotion: str,
    duration_s: float,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """One utterance of ``duration_s`` seconds, float32 in [-1, 1]."""
    base = STYLES[emotion]
    e = speaker.expressiveness
    # Per-utterance variation keeps the classes overlapping, as real emotions do.
    # Expressiveness is an exponent on the change from neutral (neutral: 1.0 f0, 4 syll/s).
    f0_level = speaker.f0_hz * base.f0_scale**e * np.exp(rng.normal(0, 0.05))
    rate = STYLES["neu"].rate_sps * (base.rate_sps / STYLES["neu"].rate_sps) ** e
    rate *= np.exp(rng.normal(0, 0.08))
    energy_db = e * base.energy_db + rng.normal(0, 1.5)
    pole = float(np.clip(speaker.tilt + e * base.tilt_shift, 0.80, 0.985))

    n = max(1, round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    lead = min(0.12, 0.1 * duration_s)
    voiced_span = max(duration_s - 2 * lead, 0.05)
    n_syl = max(1, round(voiced_span * rate))
    bounds = np.cumsum(np.r_[0, rng.uniform(0.7, 1.3, n_syl)])
    bounds = lead + bounds / bounds[-1] * voiced_span

    accents = rng.uniform(-1, 1, n_syl) * base.f0_range_st * e / 2
    syl_index = np.clip(np.searchsorted(bounds, t, side="right") - 1, 0, n_syl - 1)
    semitones = base.slope_st * (t / max(duration_s, 1e-3) - 0.5) + accents[syl_index]
    semitones = (
        signal.filtfilt(*signal.butter(2, 8 / (sample_rate / 2)), semitones)
        if n > 30
        else semitones
    )
    f0 = np.clip(f0_level * 2 ** (semitones / 12), 50, 500)

    source = _pulse_train(rng, f0, speaker, sample_rate)
    source = signal.lfilter([1.0], [1.0, -2 * pole, pole * pole], source)  # glottal roll-off
    source = np.diff(source, prepend=0.0)  # lip radiation
    source /= np.std(source) + 1e-9
    noise = rng.standard_normal(n)

    out = np.zeros(n)
    for k in range(n_syl):
        a, b = int(bounds[k] * sample_rate), int(bounds[k + 1] * sample_rate)
        if b - a < 8:
            continue
        seg = np.arange(a, b)
        onset = int(0.3 * (b - a)) if rng.random() < 0.6 else 0  # a fricative before the vowel
        formants = _VOWELS[rng.integers(len(_VOWELS))] * speaker.vt_scale
        formants[0] *= 1 + 0.08 * e * max(base.energy_db, 0) / 8  # effort raises F1
        excitation = source[seg] + speaker.breathiness * noise[seg]
        vowel = signal.sosfilt(_formant_sos(formants, sample_rate), excitation)
        envelope = np.ones(b - a)
        envelope[:onset] = 0.0
        ramp = min(int(0.02 * sample_rate), (b - a - onset) // 3)
        if ramp > 0:
            envelope[onset : onset + ramp] = np.linspace(0, 1, ramp)
            envelope[b - a - ramp :] *= np.linspace(1, 0, ramp)
        out[seg] += vowel * envelope
        if onset:
            hiss = signal.sosfilt(
                signal.butter(
                    4, min(3500 * speaker.vt_scale, 7000) / (sample_rate / 2), "high", output="sos"
                ),
                noise[a : a + onset],
            )
            out[a : a + onset] += 0.3 * hiss * np.hanning(onset)
    out /= np.sqrt(np.mean(out**2)) + 1e-9
    out *= 0.05 * 10 ** (energy_db / 20)
    out += 1e-4 * rng.standard_normal(n)  # a recording's noise floor, never digital silence
    peak = np.max(np.abs(out))
    if peak > 0.97:
        out *= 0.97 / peak
    return out.astype(np.float32)
