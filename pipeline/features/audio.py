"""Loading one utterance as 16 kHz mono float32, whatever the file holds.

Stereo is averaged to mono; other sample rates are resampled with soxr's HQ filter (the
fastest of the alias-free choices measured here). Only the requested segment is read, so
cutting MOSEI segments from hour-long videos costs no more than the segment itself.

:func:`read_native` is the one place audio is decoded; :func:`to_model_rate` the one place
samples become what the features expect. The pipeline's stages go through both in
:func:`load_segment`; ``menan`` reads natively first, to judge the audio (sample rate,
clipping, cancelling channels) before it is mixed and resampled.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from pipeline.features.spec import SAMPLE_RATE
from pipeline.runtime.errors import CorpusError


def resample(audio: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Band-limited resampling (soxr HQ), float32 in and out."""
    return soxr.resample(audio, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)


@dataclass(frozen=True)
class Native:
    """A segment as the file holds it: (samples, channels) float32 in [-1, 1] at ``rate``."""

    samples: np.ndarray
    rate: int
    truncated_s: float = 0.0
    """Seconds a WAV's header promises beyond the data the file holds (0: complete, or not
    judged): :func:`truncated_seconds`, which only ``menan`` asks."""


def read_native(path: str | Path, start_s: float = 0.0, end_s: float | None = None) -> Native:
    """Samples of ``[start_s, end_s)`` of ``path`` at the file's own rate and channels.

    A decoding error anywhere in the segment (a corrupt FLAC midway, say) is a
    :class:`CorpusError` naming the file, as are NaN or infinite samples.
    """
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
    return Native(audio, rate)


def to_model_rate(native: Native) -> np.ndarray:
    """The samples the features are computed on: mono (the channels' mean) at 16 kHz."""
    audio = native.samples
    mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if native.rate != SAMPLE_RATE and len(mono):
        mono = resample(mono, native.rate, SAMPLE_RATE)
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_segment(path: str | Path, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
    """Samples of ``[start_s, end_s)`` of ``path`` as 16 kHz mono float32 in [-1, 1]."""
    return to_model_rate(read_native(path, start_s, end_s))


def truncated_seconds(path: str | Path) -> float:
    """Seconds a WAV's ``data`` chunk declares beyond what the file holds.

    libsndfile quietly shortens a truncated WAV to the bytes present, so a copy cut off
    mid-transfer reads as a shorter recording; the declared size tells. RIFF WAV and
    WAVE_FORMAT_EXTENSIBLE with a known sample size only (RF64, compressed subtypes and other
    formats: 0, not judged). A second read of the header, so the pipeline's own loading
    (:func:`load_segment`) never pays for it.
    """
    info = sf.info(str(path))
    width = SAMPLE_BYTES.get(info.subtype)
    if info.format not in ("WAV", "WAVEX") or width is None:
        return 0.0
    with open(path, "rb") as raw:
        head = raw.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0.0
        while chunk := raw.read(8):
            if len(chunk) < 8:
                return 0.0
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"data":
                if size in UNKNOWN_SIZES:  # written while streaming: the size is not known
                    return 0.0
                declared = size // (info.channels * width)
                return max(declared - info.frames, 0) / info.samplerate
            raw.seek(size + (size & 1), 1)
    return 0.0


UNKNOWN_SIZES = (0, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000)
"""``data`` sizes streaming writers (sox, ffmpeg, arecord) put in a header they never fix."""


SAMPLE_BYTES = {"PCM_U8": 1, "PCM_S8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4,
                "DOUBLE": 8, "ULAW": 1, "ALAW": 1}  # fmt: skip
"""Bytes per sample of the uncompressed WAV subtypes."""


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi/sox ``speed``: play ``factor`` times faster, so tempo and pitch change together.

    Resampling from ``SAMPLE_RATE * factor`` to ``SAMPLE_RATE`` keeps ``len / factor``
    samples; played at ``SAMPLE_RATE`` the duration is ``duration / factor`` and every
    frequency, f0 included, is multiplied by ``factor``.
    """
    if factor == 1.0:
        return audio
    return resample(audio, SAMPLE_RATE * factor, SAMPLE_RATE)
