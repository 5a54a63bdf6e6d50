"""The paper's 43 acoustic channels per frame (section 5): the one place that defines them.

40 ms Hann windows every 10 ms at 16 kHz, with Kaldi's "snip edges" framing: frame ``j``
covers samples ``[160 j, 160 j + 640)`` and a signal of ``N >= 640`` samples has
``1 + (N - 640) // 160`` frames. A signal shorter than one window is zero-padded to one
window (one frame), so no utterance ever has zero frames.

Channels, in order:

- ``logmel_00..39``: natural log of 40 Mel filterbank energies of the power spectrum
  (librosa's Slaney Mel filters, ``n_fft = 640``), floored at 1e-10.
- ``log_energy``: natural log of the frame's raw energy (sum of squared samples before
  windowing, as Kaldi's raw energy), floored at 1e-10.
- ``f0_hz``: RAPT pitch (pysptk) in Hz. Unvoiced frames hold the linear interpolation of
  the neighbouring voiced frames' f0 (held constant before the first and after the last
  voiced frame), as Kaldi's pitch tracker outputs a continuous pitch; 0 throughout an
  utterance with no voiced frame.
- ``nccf``: the normalized cross-correlation of the frame with itself one pitch period
  later, at the period of the ``f0_hz`` channel: near 1 for clean voiced speech, low for
  noise and unvoiced frames, so it carries voicing strength as Kaldi's NCCF does; 0 where
  ``f0_hz`` is 0 or the frame is silent.

No per-speaker or per-utterance normalization is applied (the paper says so).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.signal

from pipeline.features import rapt as rapt_server
from pipeline.features.spec import (
    CHANNELS,
    F0_CHANNEL,
    HOP,
    N_MELS,
    NCCF_CHANNEL,
    SAMPLE_RATE,
    WINDOW,
    PitchRange,
)  # fmt: skip

FLOOR = 1e-10
BLOCK_FRAMES = 6000
"""Frames (one minute) whose per-frame channels are computed at once (:func:`blocks`)."""
_SEND_BLOCK = 1 << 20  # samples converted and sent to the RAPT helper at once
_INT16 = 32768.0  # RAPT silently finds no voicing on [-1, 1] audio: give it int16 levels
_RAPT_OFFSET = 1  # RAPT frame i is centred at (i + 1) * HOP; ours at j * HOP + WINDOW / 2


def n_frames(n_samples: int) -> int:
    """Frames of a signal of ``n_samples`` under snip-edges framing (at least one)."""
    return 1 + (max(n_samples, WINDOW) - WINDOW) // HOP


def frames_of(audio: np.ndarray) -> np.ndarray:
    """A (n_frames, WINDOW) strided view; short signals are zero-padded to one window."""
    if len(audio) < WINDOW:
        audio = np.pad(audio, (0, WINDOW - len(audio)))
    return np.lib.stride_tricks.sliding_window_view(audio, WINDOW)[::HOP]


@cache
def _mel_basis() -> np.ndarray:
    import librosa  # here, not at the top: the training engine reads CHANNELS, never audio

    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=WINDOW, n_mels=N_MELS).T


@cache
def _hann() -> np.ndarray:
    return scipy.signal.get_window("hann", WINDOW, fftbins=True)


def log_mel(frames: np.ndarray) -> np.ndarray:
    """(n, 40) log Mel energies, the same values as librosa's melspectrogram(center=False).

    Computed in float64 like librosa's windowing; on 2 cores it is also faster than float32,
    whose strided window product dominated.
    """
    spectrum = scipy.fft.rfft(frames * _hann(), axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    return np.log(np.maximum(power @ _mel_basis(), FLOOR))


def log_energy(frames: np.ndarray) -> np.ndarray:
    """(n,) natural log of each frame's raw energy."""
    return np.log(np.maximum(np.einsum("ij,ij->i", frames, frames), FLOOR))


class _RaptClient:
    """This process's connection to its own RAPT server (started on first use)."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.process = subprocess.Popen(
            [sys.executable, str(Path(rapt_server.__file__))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def request(self, signals: list[np.ndarray], pitch_range: PitchRange) -> list[np.ndarray]:
        lengths = np.array([len(s) for s in signals], dtype=np.int64)
        head = rapt_server.REQUEST.pack(len(signals), pitch_range.f0_min, pitch_range.f0_max)
        with self.lock:
            stdin, stdout = self.process.stdin, self.process.stdout
            assert stdin is not None and stdout is not None
            stdin.write(head + lengths.tobytes())
            for signal in signals:  # a block at a time: no float64 copy of a long recording
                for a in range(0, len(signal), _SEND_BLOCK):
                    block = signal[a : a + _SEND_BLOCK].astype(np.float64) * _INT16
                    stdin.write(block.tobytes())
            stdin.flush()
            (status,) = rapt_server.STATUS.unpack(rapt_server.read_exact(stdout, 8))
            if status != 0:
                raise RuntimeError("RAPT failed in its helper process (traceback above)")
            counts = np.frombuffer(rapt_server.read_exact(stdout, 8 * len(signals)), np.int64)
            values = np.frombuffer(
                rapt_server.read_exact(stdout, 4 * int(counts.sum())), np.float32
            )
        return np.split(values, np.cumsum(counts)[:-1])


_client: _RaptClient | None = None


def rapt_isolated(signals: Sequence[np.ndarray], pitch_range: PitchRange) -> list[np.ndarray]:
    """RAPT f0 tracks (Hz, 0 = unvoiced) of 16 kHz signals, each batch in a pristine state.

    SPTK's RAPT keeps static state between calls, so in-process results would depend on
    which utterances a worker analysed before; :mod:`pipeline.features.rapt` explains the
    fix. One request serves all speed copies of an utterance, analysed in the order given.
    Signals shorter than one window are zero-padded to one window.
    """
    global _client
    if _client is None or not _client.alive():
        _client = _RaptClient()
    padded = [np.pad(s, (0, max(WINDOW - len(s), 0))) for s in signals]
    return _client.request(padded, pitch_range)


def align_pitch(track: np.ndarray, count: int) -> np.ndarray:
    """RAPT's f0 track re-indexed to our ``count`` frames (0 = unvoiced)."""
    aligned = np.zeros(count, dtype=np.float32)
    usable = track[_RAPT_OFFSET : _RAPT_OFFSET + count]
    aligned[: len(usable)] = usable
    return aligned


def fill_unvoiced(f0: np.ndarray) -> np.ndarray:
    """Interpolate f0 through unvoiced (0) frames; all zeros stay zeros."""
    voiced = np.flatnonzero(f0 > 0)
    if len(voiced) == 0:
        return f0
    return np.interp(np.arange(len(f0)), voiced, f0[voiced]).astype(np.float32)


def blocks(count: int) -> list[slice]:
    """Frame ranges of at most BLOCK_FRAMES: the per-frame channels are computed a block at
    a time, so their temporaries (about 100 MB per minute of audio at once) stay bounded
    however long a recording is. Every frame's value is computed on its own, so a recording
    of one block or of many gets the same numbers."""
    return [slice(a, min(a + BLOCK_FRAMES, count)) for a in range(0, max(count, 1), BLOCK_FRAMES)]


def nccf(audio: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """(n,) normalized cross-correlation of each frame with the frame one period later."""
    count = len(f0)
    lags = np.zeros(count, dtype=np.int64)
    has_f0 = f0 > 0
    lags[has_f0] = np.rint(SAMPLE_RATE / f0[has_f0])
    needed = (count - 1) * HOP + WINDOW + int(lags.max(initial=0))
    padded = np.pad(audio, (0, max(needed - len(audio), 0)))
    out = np.zeros(count, dtype=np.float32)
    for block in blocks(count):
        index = np.arange(block.start, block.stop)[:, None] * HOP + np.arange(WINDOW)[None, :]
        now = padded[index]
        later = padded[index + lags[block, None]]
        cross = np.einsum("ij,ij->i", now, later)
        power = np.einsum("ij,ij->i", now, now) * np.einsum("ij,ij->i", later, later)
        ok = has_f0[block] & (power > FLOOR)
        out[block][ok] = cross[ok] / np.sqrt(power[ok])
    return out


def extract_many(
    signals: Sequence[np.ndarray], pitch_range: PitchRange = PitchRange()
) -> list[np.ndarray]:
    """(n_frames, 43) float32 features of each 16 kHz mono signal (one RAPT fork for all)."""
    signals = [np.asarray(signal, dtype=np.float32) for signal in signals]
    tracks = rapt_isolated(signals, pitch_range)
    out = []
    for audio, track in zip(signals, tracks, strict=True):
        frames = frames_of(audio)
        f0 = fill_unvoiced(align_pitch(track, len(frames)))
        features = np.empty((len(frames), len(CHANNELS)), dtype=np.float32)
        for block in blocks(len(frames)):
            features[block, :N_MELS] = log_mel(frames[block])
            features[block, N_MELS] = log_energy(frames[block])
        features[:, F0_CHANNEL] = f0
        features[:, NCCF_CHANNEL] = nccf(audio, f0)
        out.append(features)
    return out


def extract(audio: np.ndarray, pitch_range: PitchRange = PitchRange()) -> np.ndarray:
    """(n_frames, 43) float32 features of one 16 kHz mono signal."""
    return extract_many([audio], pitch_range)[0]
