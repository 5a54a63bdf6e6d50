"""Intervals, paired tests and a seed count, all over sessions: the independent unit.

Both folds of a session are trained on the same eight speakers (one training run per
session and seed), and all seeds of a session are scored on the same two speakers. So
neither folds nor seeds are independent replicates: the session is. Every statistic
here first averages a (fold, seed) result over its session's folds and seeds, then works
on the per-session values (Dietterich 1998: tests over overlapping training sets inflate
false positives). Intervals are Student-t intervals over sessions; paired p-values come
from the sign-flip permutation test over per-session differences (scipy), exact up to
EXACT_UP_TO sessions; it assumes no distribution but cannot go below 2 / 2**sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
"""Level of every interval in the report and the metrics."""
EXACT_UP_TO = 16
"""Up to this many sessions the sign-flip test enumerates all 2**n flips; beyond, it samples."""
ALPHA, POWER = 0.05, 0.80
"""Two-sided level and power behind the seed count for a given difference."""


@dataclass(frozen=True)
class Interval:
    """A mean over sessions with its 95 % t-interval; low/high are None with one session."""

    mean: float
    low: float | None
    high: float | None
    sessions: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Paired(Interval):
    """A mean paired difference over sessions, its interval and the exact sign-flip p."""

    p: float | None = None

    @property
    def direction(self) -> int:
        """+1 or -1 when the interval lies above or below 0; 0 when it covers 0 (or is n/a)."""
        if self.low is None or self.high is None:
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    @property
    def confirmed(self) -> bool:
        """The distribution-free test agrees: the sign-flip p is below ALPHA."""
        return self.p is not None and self.p < ALPHA


def sign_flip_floor(sessions: int) -> float:
    """The smallest two-sided p the exact sign-flip test can give over this many sessions."""
    return 2.0 / 2**sessions


def session_values(rows: pd.DataFrame, column: str) -> pd.Series:
    """Per session: the mean of ``column`` over that session's folds and seeds."""
    return rows.groupby("session")[column].mean().dropna()


def t_interval(values: Sequence[float] | np.ndarray) -> Interval:
    """Mean of independent values with its two-sided 95 % Student-t interval."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarize")
    mean = float(values.mean())
    if n < 2:
        return Interval(mean, None, None, n)
    if np.ptp(values) == 0:  # scipy's t-test is undefined at zero spread; the interval is a point
        return Interval(mean, mean, mean, n)
    low, high = stats.ttest_1samp(values, 0.0).confidence_interval(CONFIDENCE)
    return Interval(mean, float(low), float(high), n)


def sign_flip_p(differences: Sequence[float] | np.ndarray) -> float | None:
    """Two-sided p of the paired sign-flip permutation test on the mean difference.

    Exact up to EXACT_UP_TO sessions; beyond that, 2**EXACT_UP_TO seeded random flips.
    """
    differences = np.asarray(differences, dtype=float)
    if len(differences) < 2:
        return None
    result = stats.permutation_test(
        (differences,),
        lambda d, axis: np.mean(d, axis=axis),
        permutation_type="samples",
        n_resamples=2**EXACT_UP_TO,
        alternative="two-sided",
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)


def paired_differences(a: pd.DataFrame, b: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows (fold, seed, session, difference): a minus b on ``column``, same fold and seed."""
    keys = ["fold", "seed"]
    joined = a[[*keys, "session", column]].merge(
        b[[*keys, column]], on=keys, suffixes=("_a", "_b"), validate="one_to_one"
    )
    if joined.empty:
        raise ValueError(f"no (fold, seed) runs in common to pair on {column}")
    joined["difference"] = joined[f"{column}_a"] - joined[f"{column}_b"]
    return joined[[*keys, "session", "difference"]].dropna()


def paired(differences: pd.DataFrame) -> Paired:
    """Mean paired difference over sessions, its t-interval and sign-flip p."""
    per_session = session_values(differences, "difference").to_numpy()
    return Paired(**asdict(t_interval(per_session)), p=sign_flip_p(per_session))


@dataclass(frozen=True)
class SeedPlan:
    """How many seeds per session make a given difference detectable at ALPHA with POWER.

    ``between`` and ``seed`` are standard deviations (points) of a per-session paired
    difference: its spread from session to session that more seeds cannot shrink, and
    one seed's noise around its session's value. ``seeds`` is None when no seed count
    is enough at this number of sessions (``between`` alone is too large).
    """

    difference: float
    sessions: int
    between: float
    seed: float
    seeds: int | None
    p_floor: float


def seed_plan(differences: pd.DataFrame, difference: float, max_seeds: int = 1000) -> SeedPlan:
    """Variance components of a paired difference, from ``paired_differences`` rows.

    One-way random-effects ANOVA by moments: the within-session variance over seeds
    estimates one seed's noise; the variance of session means, less that noise over the
    seed count, the between-session part. Detectable means the paired t-test's
    standard error times (t(1 - ALPHA/2) + t(POWER)) is at most ``difference``.
    """
    runs = differences.groupby(["session", "seed"])["difference"].mean().reset_index()
    counts = runs.groupby("session")["seed"].count()
    sessions, k = len(counts), int(counts.min())
    if sessions < 2 or k < 2:
        raise ValueError("needs at least 2 sessions with at least 2 seeds each")
    seed_var = float(runs.groupby("session")["difference"].var(ddof=1).mean())
    means = runs.groupby("session")["difference"].mean()
    between_var = max(0.0, float(means.var(ddof=1)) - seed_var / k)
    df = sessions - 1
    factor = stats.t.ppf(1 - ALPHA / 2, df) + stats.t.ppf(POWER, df)
    needed = next(
        (
            n
            for n in range(1, max_seeds + 1)
            if factor * np.sqrt((between_var + seed_var / n) / sessions) <= difference
        ),
        None,
    )
    return SeedPlan(
        difference=difference,
        sessions=sessions,
        between=float(np.sqrt(between_var)),
        seed=float(np.sqrt(seed_var)),
        seeds=needed,
        p_floor=sign_flip_floor(sessions),
    )
