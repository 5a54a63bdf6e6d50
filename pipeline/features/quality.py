"""Audio a model was not trained for: one flag per reason, with the threshold and why.

A network answers every input with confident-looking probabilities, also silence, a
telephone recording or a clip of a twentieth of a second. ``menan`` judges each
recording before it is mixed to mono and resampled (:func:`assess`), writes the flags it
finds in the output's ``flags`` column and logs a warning per file, so a confident answer on
such input is never silent. A ``low_rate`` recording is refused unless the caller allows it
(measured in ``docs/inference.md``: on the demo models most 8 kHz copies change their
answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.features.spec import SAMPLE_RATE

SILENT_RMS = 10 ** (-60 / 20)
"""Root mean square below -60 dBFS: digital silence or a line with nothing on it."""
CANCELLED_RATIO = 0.1
"""Mono mix at less than a tenth of the loudest channel's RMS (-20 dB): channels in
opposite phase, so the mean the features see has lost the voice."""
CLIPPED_LEVEL = 0.999
CLIPPED_SHARE = 0.001
"""At least 0.1 % of samples at full scale: the recording was clipped."""
SHORT_S = 0.25
"""Shorter than a quarter second: a syllable at most, where the model learned utterances."""
LONG_S = 3600.0
"""Longer than an hour: scored, but memory grows with the recording (docs/inference.md)."""

BLOCK = 1 << 20
"""Samples per channel measured at once by :func:`levels`."""

WHY = {
    "low_rate": "sample rate {rate} Hz is below the {model_rate} Hz of the training audio: the "
    "bands above {nyquist} Hz are empty, unlike anything the model saw",
    "silent": "silent (RMS below -60 dBFS)",
    "cancelled": "its channels cancel when averaged to mono (the mix is 20 dB below a channel)",
    "clipped": "clipped ({share:.1%} of samples at full scale)",
    "short": "shorter than {short} s ({seconds:.3f} s)",
    "long": "longer than {long_h:g} h ({seconds:.0f} s): memory grows with the recording",
    "truncated": "truncated: its header promises {missing:.2f} s more than the file holds",
}
"""Each flag in words, for the warning (``docs/inference.md`` lists them)."""


@dataclass(frozen=True)
class Judged:
    """The flags of one recording and the sentence that explains them."""

    flags: tuple[str, ...]
    message: str

    @property
    def column(self) -> str:
        """The output's ``flags`` cell: the names joined by ``;``, empty when none."""
        return ";".join(self.flags)


def below_model_rate(rate: float) -> bool:
    """Audio the model cannot have been trained for: under the features' 16 kHz."""
    return rate < SAMPLE_RATE


def levels(samples: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(RMS per channel, RMS of the mono mix, share of samples at full scale), a block at a
    time: no float64 copy of a long multichannel recording."""
    n, channels = samples.shape
    power, mix_power, full = np.zeros(channels), 0.0, 0
    for a in range(0, n, BLOCK):
        block = samples[a : a + BLOCK]
        power += np.square(block, dtype=np.float64).sum(axis=0)
        mix = block.mean(axis=1, dtype=np.float64)
        mix_power += float(mix @ mix)
        full += int(np.count_nonzero(np.abs(block) >= CLIPPED_LEVEL))
    return np.sqrt(power / n), float(np.sqrt(mix_power / n)), full / samples.size


def assess(samples: np.ndarray, rate: float, seconds: float, truncated_s: float = 0.0) -> Judged:
    """Flags of a recording, from its native (samples, channels) float samples in [-1, 1]."""
    found: dict[str, dict] = {}
    if below_model_rate(rate):
        found["low_rate"] = {"rate": f"{rate:g}", "model_rate": SAMPLE_RATE,
                             "nyquist": f"{rate / 2:g}"}  # fmt: skip
    if len(samples):
        channels, mix, share = levels(samples)
        loudest = float(channels.max())
        if mix < SILENT_RMS:
            found["silent"] = {}
        if samples.shape[1] > 1 and loudest >= SILENT_RMS and mix < CANCELLED_RATIO * loudest:
            found["cancelled"] = {}
        if share >= CLIPPED_SHARE:
            found["clipped"] = {"share": share}
    else:
        found["silent"] = {}
    if seconds < SHORT_S:
        found["short"] = {"short": SHORT_S, "seconds": seconds}
    if seconds > LONG_S:
        found["long"] = {"long_h": LONG_S / 3600, "seconds": seconds}
    if truncated_s > 0:
        found["truncated"] = {"missing": truncated_s}
    message = "; ".join(WHY[flag].format(**values) for flag, values in found.items())
    return Judged(tuple(found), message)
