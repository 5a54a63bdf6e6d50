"""How well the report's statistics hold up when nothing differs: a null simulation.

Regimes with no true difference are simulated in the shape of the protocol: ten speakers
in sessions of two, each session trained on the other eight (so any two sessions share six
training speakers) and scored on its own two, several seeds; or leave-one-speaker-out, each
speaker the test speaker of one unit, whose validation speaker is the next one (the other
gender) and whose training set the other N - 2. A run's score is the sum of

- a training-set part: the mean of an effect of each training speaker (shared by sessions,
  through the speakers they share: what a plain t over sessions misses),
- a test-speaker part: the mean of an effect of the session's two speakers,
- seed noise,

each drawn independently per regime and measure, so every difference between regimes is zero
in expectation. The in-sample speaker probe is simulated too: a unit's probe score is the
mean of an effect of each of its *training* speakers (how easy that speaker is to tell
apart) plus seed noise, and its interval should cover the mean over speakers.
``benchmarks/bench_statistics.py`` prints the coverage of each interval method;
``tests/test_statistics.py`` checks the report's family-wise false positive rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from pipeline.evaluation.statistics import (
    ALPHA,
    CONFIDENCE,
    corrected_p,
    holm,
    in_sample_correction,
)
from pipeline.regimes import COMPARISONS, REGIMES


@dataclass(frozen=True)
class Null:
    """The simulation's shape and its three parts, as standard deviations in points."""

    sessions: int = 5
    seeds: int = 3
    protocol: str = "sessions"  # or "leave_one_speaker_out": one unit per speaker
    speakers: int = 10  # leave-one-speaker-out only (sessions: two per session)
    regimes: int = len(REGIMES)
    measures: int = 5
    sd_train: float = 2.0
    sd_test: float = 3.0
    sd_seed: float = 4.0

    @property
    def loso(self) -> bool:
        return self.protocol == "leave_one_speaker_out"

    @property
    def units(self) -> int:
        """The statistics' units: sessions, or test speakers."""
        return self.speakers if self.loso else self.sessions

    @property
    def all_speakers(self) -> int:
        return self.speakers if self.loso else 2 * self.sessions

    def masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(units, speakers) weights: each unit's training speakers (its mean over them) and
        the speakers it scores (a session both of its own, a test speaker itself)."""
        n = self.all_speakers
        unit = np.arange(self.units)[:, None]
        if self.loso:
            left_out = (np.arange(n)[None, :] == unit) | (np.arange(n)[None, :] == (unit + 1) % n)
            scored = (np.arange(n)[None, :] == unit).astype(float)
        else:
            left_out = (np.arange(n) // 2)[None, :] == unit
            scored = left_out / 2
        return ~left_out / (n - 2), scored

    @property
    def share(self) -> float:
        """The scored / training speakers of a unit: 2 / 8 for five sessions of two, 1 / 8
        for leave-one-speaker-out on ten speakers."""
        return (1 if self.loso else 2) / (self.all_speakers - 2)

    @property
    def in_sample_share(self) -> float:
        """:func:`pipeline.evaluation.statistics.in_sample_share` of this shape."""
        return in_sample_correction(self.all_speakers - 2, 2, self.units)

    def scores(self, rng: np.random.Generator, reps: int) -> np.ndarray:
        """(reps, measures, regimes, units, seeds) scores with no true difference."""
        train, test = self.masks()
        shape = (reps, self.measures, self.regimes, self.all_speakers)
        effects = rng.normal(0, self.sd_train, shape) @ train.T
        effects += rng.normal(0, self.sd_test, shape) @ test.T
        noise = rng.normal(0, self.sd_seed, (*shape[:3], self.units, self.seeds))
        return effects[..., None] + noise


PAIRS = tuple((REGIMES.index(a), REGIMES.index(b)) for a, b in COMPARISONS)
"""The report's family (:data:`pipeline.regimes.COMPARISONS`) as regime indices."""


def session_differences(scores: np.ndarray) -> np.ndarray:
    """(reps, measures, comparisons, sessions): each comparison's per-session mean
    difference over seeds."""
    means = scores.mean(axis=-1)
    return np.stack([means[:, :, a] - means[:, :, b] for a, b in PAIRS], axis=2)


def family_false_positive_rate(null: Null, reps: int, seed: int = 0) -> float:
    """Share of simulated studies in which the report confirms any difference of its family
    (every comparison on every measure, Holm-adjusted corrected-t p < ALPHA)."""
    differences = session_differences(null.scores(np.random.default_rng(seed), reps))
    flat = differences.reshape(reps, -1, null.units)
    confirmed = 0
    for study in flat:
        adjusted = holm([corrected_p(d, null.share) for d in study])
        confirmed += any(p < ALPHA for p in adjusted)
    return confirmed / reps


def coverage(null: Null, reps: int, seed: int = 0, bootstraps: int = 400) -> dict[str, float]:
    """Share of 95 % intervals of a null difference that contain 0, per method: the plain
    t over sessions, the corrected t, and a bootstrap over sessions then seeds."""
    rng = np.random.default_rng(seed)
    scores = null.scores(rng, reps)[:, 0]  # one measure
    a, b = PAIRS[0]
    runs = scores[:, a] - scores[:, b]  # (reps, sessions, seeds)
    means = runs.mean(axis=-1)
    n = null.units
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)
    centre, spread = means.mean(axis=1), means.std(axis=1, ddof=1)
    plain = np.abs(centre) <= t * spread * np.sqrt(1 / n)
    corrected = np.abs(centre) <= t * spread * np.sqrt(1 / n + null.share)
    covered = 0
    for study in runs:
        pick = rng.integers(0, n, (bootstraps, n))
        seeds = rng.integers(0, null.seeds, (bootstraps, n, null.seeds))
        sample = study[pick[..., None], seeds].mean(axis=(1, 2))
        low, high = np.quantile(sample, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
        covered += low <= 0 <= high
    return {
        "plain t over sessions": float(plain.mean()),
        "corrected t (reported)": float(corrected.mean()),
        "bootstrap over sessions and seeds": covered / reps,
    }


def probe_coverage(null: Null, reps: int, seed: int = 0) -> dict[str, float]:
    """Share of 95 % intervals of the in-sample speaker probe's mean that contain the mean
    over speakers (0 here), with the held-out share and with the in-sample share: a unit's
    probe score is the mean of its training speakers' effects (sd ``sd_train``) plus the
    mean of its seeds' noise (sd ``sd_seed``)."""
    rng = np.random.default_rng(seed)
    train, _ = null.masks()
    effects = rng.normal(0, null.sd_train, (reps, null.all_speakers)) @ train.T
    units = effects + rng.normal(0, null.sd_seed, (reps, null.units, null.seeds)).mean(axis=-1)
    n = null.units
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)
    centre, spread = units.mean(axis=1), units.std(axis=1, ddof=1)
    return {
        name: float((np.abs(centre) <= t * spread * np.sqrt(1 / n + share)).mean())
        for name, share in (("held-out share", null.share),
                            ("in-sample share", null.in_sample_share))
    }  # fmt: skip
