"""The two front ends, audio to frames, behind one interface; and which one a table or a
model needs.

A front end is built from a feature table's metadata or a model's record of it
(:func:`from_record`), so the features stages, a released model and ``menan`` compute
frames from the same description: ``paper43`` (the 43 channels of
:mod:`pipeline.features.channels`, with the recorded pitch range) or ``ssl`` (the recorded
hidden states of the recorded self-supervised model, :mod:`pipeline.features.ssl`). For
``ssl`` the model folder is checked against the record's hash before anything is computed:
features made by other weights would be scored by a network that never saw them.

A front end holds only plain values, so it travels to joblib workers; a worker loads an
SSL model once (:func:`pipeline.features.ssl.load`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.features import ssl
from pipeline.features.channels import extract_many
from pipeline.features.spec import (
    PAPER43,
    PAPER43_FRAMES,
    SAMPLE_RATE,
    SSL,
    FrameSpec,
    PitchRange,
    frame_spec,
    frontend_of,
    settings,
)
from pipeline.runtime.errors import ConfigError


@dataclass(frozen=True)
class Paper43:
    """The paper's 43 channels every 10 ms."""

    pitch_range: PitchRange
    device: str = "cpu"  # signal processing runs on the CPU only

    @property
    def metadata(self) -> dict[str, Any]:
        return settings(self.pitch_range)

    @property
    def spec(self) -> FrameSpec:
        return PAPER43_FRAMES

    def compute(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        return extract_many(audios, self.pitch_range)


@dataclass(frozen=True)
class SelfSupervised:
    """Hidden states of a self-supervised model, ``layers`` side by side, stored as ``dtype``."""

    model: ssl.SslModel
    layers: tuple[int, ...]
    dtype: str
    device: str = "cpu"

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "frontend": SSL,
            "sample_rate": SAMPLE_RATE,
            "window": self.model.window,
            "hop": self.model.hop,
            "ssl_model": self.model.path,
            "ssl_type": self.model.model_type,
            "ssl_sha256": self.model.sha256,
            "layers": list(self.layers),
            "hidden_size": self.model.hidden_size,
            "dtype": self.dtype,
        }

    @property
    def spec(self) -> FrameSpec:
        return frame_spec(self.metadata)

    def compute(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        return [ssl.hidden_states(self.model, a, self.layers, self.device) for a in audios]


FrontEnd = Paper43 | SelfSupervised


def configured(frontend: str, pitch_range: PitchRange, ssl_settings: Any,
               device: str = "cpu") -> FrontEnd:  # fmt: skip
    """The front end params.yaml's ``features`` asks for (``ssl_settings``: its ``ssl``),
    checked against the model folder: the ``frontend`` stage's question."""
    if frontend == PAPER43:
        return Paper43(pitch_range)
    model = ssl.inspect(ssl_settings.model)
    layers = tuple(model.layers(ssl_settings.layers))
    return SelfSupervised(model, layers, ssl_settings.dtype, device)


def from_record(record: dict[str, Any], ssl_model: str | None = None, device: str = "cpu",
                where: str = "the features") -> FrontEnd:  # fmt: skip
    """The front end that makes the features ``record`` describes (a feature table's metadata
    or a model's record): for ``ssl``, the recorded model folder or ``ssl_model``, which must
    hold the recorded weights."""
    if frontend_of(record) == PAPER43:
        if ssl_model:
            raise ConfigError(f"--ssl-model: {where} are the paper's 43 channels, which no "
                              "self-supervised model makes; leave it out")  # fmt: skip
        return Paper43(PitchRange(record["f0_min_hz"], record["f0_max_hz"]))
    name = ssl_model or record["ssl_model"]
    setting = "--ssl-model" if ssl_model else f"{where}: the recorded ssl_model"
    model = ssl.inspect(name, setting)
    if model.sha256 != record["ssl_sha256"]:
        raise ConfigError(
            f"{setting}: {name} holds other weights (sha256 {model.sha256[:12]}...) than "
            f"{where} were made with ({record['ssl_type']}, sha256 "
            f"{record['ssl_sha256'][:12]}...): give the folder of that model"
        )
    layers = tuple(record["layers"])
    model.layers(list(layers), setting)
    return SelfSupervised(model, layers, record["dtype"], device)
