"""What a feature table is, without computing one: rates, framing, channel names, pitch range.

Everything that reads features (the frame cache, the network, the settings, a released
model) needs these few facts and none of the signal processing in
:mod:`pipeline.features.channels`; keeping them here keeps that module (and RAPT) out of
the import closure, hence out of the DVC dependencies, of every stage that only reads
features. :mod:`pipeline.features.channels` documents each channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.runtime.errors import ConfigError

SAMPLE_RATE = 16_000  # every utterance is resampled to it (pipeline.features.audio)
WINDOW = 640  # 40 ms
HOP = 160  # 10 ms
FRAMES_PER_SECOND = SAMPLE_RATE // HOP
N_MELS = 40
CHANNELS: tuple[str, ...] = (
    *(f"logmel_{i:02d}" for i in range(N_MELS)),
    "log_energy",
    "f0_hz",
    "nccf",
)
F0_CHANNEL = CHANNELS.index("f0_hz")
NCCF_CHANNEL = CHANNELS.index("nccf")


def frames_in(seconds: float) -> int:
    """Frames in ``seconds`` of audio at the frame rate: ``train.max_seconds`` as the crop
    length in frames (the one rule, for training, evaluation and a released model)."""
    return round(seconds * FRAMES_PER_SECOND)


@dataclass(frozen=True)
class PitchRange:
    """RAPT's f0 search range in Hz."""

    f0_min: float = 60.0
    f0_max: float = 500.0

    def __post_init__(self) -> None:
        # RAPT itself would exit the process on an inconsistent range; say what is wrong.
        if not 10 <= self.f0_min < self.f0_max < SAMPLE_RATE / 2:
            raise ConfigError(
                "params.yaml features: need 10 <= f0_min_hz < f0_max_hz < 8000, "
                f"got f0_min_hz={self.f0_min}, f0_max_hz={self.f0_max}"
            )


def settings(pitch_range: PitchRange) -> dict[str, Any]:
    """How features were made: recorded in every feature table's metadata and, from there,
    in every model, so a model can refuse features made another way."""
    return {
        "channels": list(CHANNELS),
        "sample_rate": SAMPLE_RATE,
        "window": WINDOW,
        "hop": HOP,
        "f0_min_hz": pitch_range.f0_min,
        "f0_max_hz": pitch_range.f0_max,
    }
