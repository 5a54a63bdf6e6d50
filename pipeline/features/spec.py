"""What a feature table is, without computing one: rates, framing, channel names, pitch range.

Everything that reads features (the frame cache, the network, the settings, a released
model) needs these few facts and none of the signal processing in
:mod:`pipeline.features.channels` or :mod:`pipeline.features.ssl`; keeping them here keeps
those modules (RAPT, transformers) out of the import closure, hence out of the DVC
dependencies, of every stage that only reads features. :mod:`pipeline.features.channels`
documents each channel.

Two front ends make frames (``params.yaml features.frontend``): ``paper43``, the paper's 43
channels every 10 ms, and ``ssl``, the hidden states of a self-supervised speech model
(WavLM, HuBERT, wav2vec 2.0) every 20 ms, the chosen layers side by side in one frame.
:class:`FrameSpec` is what every reader needs to know of either: values per frame, how many
layers they hold, and the frames' hop and window in samples. A table's metadata says which
(:func:`frame_spec`).
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


PAPER43 = "paper43"
SSL = "ssl"
FRONTENDS = (PAPER43, SSL)
SSL_DTYPES = ("float16", "float32")
"""How a self-supervised front end's tables may store their values."""


def frames_in(seconds: float, frames_per_second: float = FRAMES_PER_SECOND) -> int:
    """Frames in ``seconds`` of audio at the frame rate: ``train.max_seconds`` as the crop
    length in frames (the one rule, for training, evaluation and a released model)."""
    return round(seconds * frames_per_second)


@dataclass(frozen=True)
class FrameSpec:
    """What a frame holds: ``width`` values, ``layers`` equal blocks of them (the layers of a
    self-supervised model, which the encoder sums with learned weights; 1 for the paper's
    channels), one frame every ``hop`` samples, each seeing ``window`` samples."""

    width: int
    layers: int
    hop: int
    window: int

    @property
    def frames_per_second(self) -> float:
        return SAMPLE_RATE / self.hop

    @property
    def layer_width(self) -> int:
        """Values per layer: the encoder's input width after the layers are summed."""
        return self.width // self.layers

    def frames_in(self, seconds: float) -> int:
        return frames_in(seconds, self.frames_per_second)

    def seconds(self, n_frames: int) -> float:
        """Seconds from the start of the first frame to the end of the ``n_frames``-th."""
        return ((n_frames - 1) * self.hop + self.window) / SAMPLE_RATE


PAPER43_FRAMES = FrameSpec(width=len(CHANNELS), layers=1, hop=HOP, window=WINDOW)


def frontend_of(metadata: dict[str, Any]) -> str:
    """Which front end made a feature table (or a model's record of one): a table without
    ``frontend`` is the paper's 43 channels (every table written before the self-supervised
    front end, and every ``paper43`` table since: their bytes are unchanged)."""
    return metadata.get("frontend", PAPER43)


def frame_spec(metadata: dict[str, Any]) -> FrameSpec:
    """The frames a feature table (or a model's record of one) holds, from its metadata."""
    if frontend_of(metadata) == PAPER43:
        return PAPER43_FRAMES
    layers = len(metadata["layers"])
    return FrameSpec(width=layers * metadata["hidden_size"], layers=layers,
                     hop=metadata["hop"], window=metadata["window"])  # fmt: skip


PAPER43_KEYS = ("channels", "sample_rate", "window", "hop", "f0_min_hz", "f0_max_hz")
SSL_KEYS = ("frontend", "sample_rate", "window", "hop", "ssl_model", "ssl_type", "ssl_sha256",
            "layers", "hidden_size", "dtype")  # fmt: skip
"""What a model records of the features it was trained on, per front end: enough to make
the same features from audio again, and to refuse features made another way."""


def model_record(metadata: dict[str, Any]) -> dict[str, Any]:
    """The part of a feature table's metadata a model stores (:data:`PAPER43_KEYS` or
    :data:`SSL_KEYS`)."""
    keys = PAPER43_KEYS if frontend_of(metadata) == PAPER43 else SSL_KEYS
    return {key: metadata[key] for key in keys if key in metadata}


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


IDENTITY_FREE = ("ssl_model",)
"""Recorded, not compared: where the SSL model lay (its hash says which model it is)."""


def differences(one: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """How two records of features differ: the front ends, or each value both record that
    differs, as ``key: a != b`` (a record may lack keys: tables written by tests or tools)."""
    kinds = frontend_of(one), frontend_of(other)
    if kinds[0] != kinds[1]:
        return [f"frontend: {kinds[0]} != {kinds[1]}"]
    shared = sorted((one.keys() & other.keys()) - set(IDENTITY_FREE))
    return [f"{key}: {one[key]} != {other[key]}" for key in shared if one[key] != other[key]]
