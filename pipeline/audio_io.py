"""Loading one utterance as 16 kHz mono float32, whatever the file holds.

Stereo is averaged to mono; other sample rates are resampled with soxr's HQ filter (the
fastest of the alias-free choices measured here). Only the requested segment is read, so
cutting MOSEI segments from hour-long videos costs no more than the segment itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from pipeline.errors import CorpusError
from pipeline.features import SAMPLE_RATE


def resample(audio: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Band-limited resampling (soxr HQ), float32 in and out."""
    return soxr.resample(audio, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


def load_segment(path: str | Path, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
    """Samples of ``[start_s, end_s)`` of ``path`` as 16 kHz mono float32 in [-1, 1]."""
    try:
        with sf.SoundFile(str(path)) as handle:
            rate = handle.samplerate
            start = min(round(start_s * rate), handle.frames)
            stop = handle.frames if end_s is None else min(round(end_s * rate), handle.frames)
            handle.seek(start)
            audio = handle.read(max(stop - start, 0), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise CorpusError(path, f"could not decode audio ({exc})") from exc
    if not np.isfinite(audio).all():
        raise CorpusError(path, f"NaN or infinite samples in [{start_s}, {end_s}) s")
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if rate != SAMPLE_RATE and len(mono):
        mono = resample(mono, rate, SAMPLE_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi/sox ``speed``: play ``factor`` times faster, so tempo and pitch change together.

    Resampling from ``SAMPLE_RATE * factor`` to ``SAMPLE_RATE`` keeps ``len / factor``
    samples; played at ``SAMPLE_RATE`` the duration is ``duration / factor`` and every
    frequency, f0 included, is multiplied by ``factor``.
    """
    if factor == 1.0:
        return audio
    return resample(audio, SAMPLE_RATE * factor, SAMPLE_RATE)
