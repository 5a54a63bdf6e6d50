"""Intervals, paired tests and a seed count, all over sessions, with what they cover.

Both folds of a session are trained on the same eight speakers (one training run per
session and seed), and all seeds of a session are scored on the same two speakers. So
neither folds nor seeds are independent replicates: every statistic first averages a
(fold, seed) result over its session's folds and seeds. Sessions are not independent
either: each pair of sessions shares 6 of its 8 training speakers (Dietterich 1998;
Nadeau & Bengio 2003). So:

- **Intervals** are Nadeau & Bengio's corrected resampled t over sessions: the variance of
  the mean is s^2 (1/n + n_held_out/n_train) instead of s^2/n (with 2 held-out and 8
  training speakers per session, 1.5x wider than a plain t-interval at 5 sessions). Their
  coverage under a null simulation with training-speaker overlap is printed by
  ``benchmarks/bench_statistics.py``; a plain t-interval and a bootstrap over sessions cover
  less.
- **Paired comparisons** form one family; each gets the corrected t's two-sided p and the
  exact sign-flip permutation p, and the family's corrected-t p-values are Holm-adjusted
  (Holm 1979: strong family-wise control under any dependence, which these comparisons
  have: they share regimes and sessions). A comparison is *confirmed* only when its
  adjusted p is below ALPHA; the sign-flip p, free of the t's normality assumption,
  cannot go below 2 / 2**sessions (0.0625 at five), which the report says.
- **Versus chance**: a probe's per-session margin over chance is tested one-sided (above
  chance) and for equivalence within a stated margin (two one-sided tests), both with the
  corrected t.
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
    """A mean paired difference over sessions: its corrected interval, the corrected t's p,
    the exact sign-flip p, and (set over the family) the Holm-adjusted p."""

    p: float | None = None
    p_sign_flip: float | None = None
    p_adjusted: float | None = None

    @property
    def direction(self) -> int:
        """+1 or -1 when the interval lies above or below 0; 0 when it covers 0 (or is n/a)."""
        if self.low is None or self.high is None:
            return 0
        return 1 if self.low > 0 else -1 if self.high < 0 else 0

    @property
    def confirmed(self) -> bool:
        """The family-wise test agrees: the Holm-adjusted p is below ALPHA."""
        return self.direction != 0 and self.p_adjusted is not None and self.p_adjusted < ALPHA


def sign_flip_floor(sessions: int) -> float:
    """The smallest two-sided p the exact sign-flip test can give over this many sessions."""
    return 2.0 / 2**sessions


def session_values(rows: pd.DataFrame, column: str) -> pd.Series:
    """Per session: the mean of ``column`` over that session's folds and seeds."""
    return rows.groupby("session")[column].mean().dropna()


def t_interval(values: Sequence[float] | np.ndarray) -> Interval:
    """Mean of independent values with its two-sided 95 % Student-t interval."""
    return corrected_interval(values, 0.0)


def held_out_share(rows: pd.DataFrame) -> float:
    """n_held_out / n_train of the resampling: the speakers one unit scores
    (:func:`pipeline.data.folds.scored_by_unit`) over the speakers trained on; 2 / 8 for
    IEMOCAP's sessions, 1 / 8 for leave-one-speaker-out on ten speakers, 0 where the
    training set is never resampled (a corpus's own split, repeated over seeds)."""
    return float(rows["n_held_out"].max()) / float(rows["n_train"].min())


def in_sample_share(rows: pd.DataFrame) -> float:
    """The correction for a score each unit measures on its own *training* speakers (the
    in-sample speaker probe and its control), in place of :func:`held_out_share`.

    Two units then share most of the speakers they score (IEMOCAP's sessions: 6 of 8), not
    only of those they train on, so a per-speaker effect moves every unit alike. With m
    training speakers per unit, h left out, N = m + h and n units, the mean over units is
    the mean over all N speakers (variance s_b^2 / N), while the spread between units comes
    only from which h each leaves out (about h s_b^2 / m^2): the variance of the mean is
    s^2 (1/n + share) with share = m^2 / (N h) - 1/n (3.0 for IEMOCAP's sessions, where the
    held-out share is 0.25), exact when speaker effects dominate and conservative
    otherwise. 0 where training is never resampled (one split, repeated over seeds).
    """
    if float(rows["n_held_out"].max()) == 0:
        return 0.0
    left_out = rows["n_unseen"] if "n_unseen" in rows else rows["n_held_out"]
    return in_sample_correction(
        float(rows["n_train"].min()), float(left_out.max()), rows["session"].nunique()
    )


def in_sample_correction(trained: float, left_out: float, units: int) -> float:
    """m^2 / (N h) - 1/n of :func:`in_sample_share` (never below 0), from m training
    speakers and h left out per unit and n units; the null simulation uses it as is."""
    return max(trained * trained / ((trained + left_out) * left_out) - 1 / units, 0.0)


def corrected_interval(values: Sequence[float] | np.ndarray, share: float) -> Interval:
    """Mean of per-session values with the 95 % corrected resampled t-interval.

    Nadeau & Bengio (2003): sessions trained on overlapping speakers are positively
    correlated, so the variance of their mean is s^2 (1/n + share), ``share`` being
    n_held_out / n_train; ``share = 0`` is the plain Student-t interval.
    """
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarize")
    mean = float(values.mean())
    if n < 2:
        return Interval(mean, None, None, n)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * _corrected_se(values, share)
    return Interval(mean, mean - half, mean + half, n)


def _corrected_se(values: np.ndarray, share: float) -> float:
    return float(np.sqrt(values.var(ddof=1) * (1 / len(values) + share)))


def corrected_p(values: Sequence[float] | np.ndarray, share: float, shift: float = 0.0,
                alternative: str = "two-sided") -> float | None:  # fmt: skip
    """p of the corrected resampled t-test of mean(values) against ``shift``."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    se = _corrected_se(values, share)
    if se == 0:
        return 0.0 if values.mean() != shift else 1.0
    t = (values.mean() - shift) / se
    df = len(values) - 1
    if alternative == "greater":
        return float(stats.t.sf(t, df))
    if alternative == "less":
        return float(stats.t.cdf(t, df))
    return float(2 * stats.t.sf(abs(t), df))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None: not in the family)."""
    found = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(found)):
        running = max(running, min(1.0, (len(found) - rank) * p))
        adjusted[i] = running
    return adjusted


def versus_chance(margins: Sequence[float] | np.ndarray, share: float, equivalence: float
                  ) -> dict[str, float | None]:  # fmt: skip
    """A probe's per-session accuracy minus chance (points): p of "above chance" (one-sided)
    and p of "within +-``equivalence`` points of chance" (two one-sided tests, TOST)."""
    margins = np.asarray(margins, dtype=float)
    above = corrected_p(margins, share, alternative="greater")
    if above is None:
        return {"p_above": None, "p_equivalent": None}
    lower = corrected_p(margins, share, -equivalence, alternative="greater")
    upper = corrected_p(margins, share, equivalence, alternative="less")
    return {"p_above": above, "p_equivalent": max(lower, upper)}


def two_way_interval(hits: np.ndarray, share: float) -> tuple[float, float] | None:
    """95 % interval of a mean over sessions (rows) and items (columns), covering both which
    training runs and which items: ``hits`` (sessions, items) holds each session's mean over
    its runs per item.

    For a score measured on one shared set of items (the cross-corpus segments), the
    interval over sessions alone covers training variability only; this one adds which items
    happened to be in the set. Its session part is the corrected t's, s^2 of the session
    means x (1/n + ``share``): a bootstrap over five overlapping sessions under-covers
    (:mod:`pipeline.evaluation.calibration`), the corrected t does not. Its item part is
    the variance of the item means over sessions / items. The two add (independent
    resamplings), with the corrected t's n - 1 degrees of freedom. None with one session,
    as every interval over sessions.
    """
    sessions, items = hits.shape
    if sessions < 2 or items < 2:
        return None
    session_part = float(hits.mean(axis=1).var(ddof=1)) * (1 / sessions + share)
    item_part = float(hits.mean(axis=0).var(ddof=1)) / items
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, sessions - 1)) * np.sqrt(
        session_part + item_part
    )
    mean = float(hits.mean())
    return mean - half, mean + half


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


def paired(differences: pd.DataFrame, share: float) -> Paired:
    """Mean paired difference over sessions, its corrected interval, corrected-t p and
    sign-flip p (the Holm-adjusted p is set over the family, see ``adjust_family``)."""
    per_session = session_values(differences, "difference").to_numpy()
    return Paired(
        **asdict(corrected_interval(per_session, share)),
        p=corrected_p(per_session, share),
        p_sign_flip=sign_flip_p(per_session),
    )


def adjust_family(results: Sequence[Paired | None]) -> list[Paired | None]:
    """The family's results with their Holm-adjusted p set (None stays None)."""
    adjusted = holm([r.p if r is not None else None for r in results])
    return [
        None if r is None else Paired(**{**asdict(r), "p_adjusted": a})
        for r, a in zip(results, adjusted, strict=True)
    ]


@dataclass(frozen=True)
class SeedPlan:
    """How many seeds per session make a given difference detectable at ALPHA with POWER.

    ``between`` and ``seed`` are standard deviations (points) of a per-session paired
    difference: its spread from session to session that more seeds cannot shrink, and
    one seed's noise around its session's value. ``seeds`` is None when no seed count
    is enough at this number of sessions (``between`` alone is too large).
    ``seeds_range`` is the answer at the ends of the 95 % chi-square interval of the seed
    variance; ``between_at_zero`` says the between-session estimate fell to its bound 0,
    where it is not estimable from these sessions and ``seeds`` is a lower bound.
    """

    difference: float
    sessions: int
    between: float
    seed: float
    seeds: int | None
    p_floor: float
    seeds_range: tuple[int | None, int | None] = (None, None)
    between_at_zero: bool = False


def seed_plan(
    differences: pd.DataFrame, difference: float, share: float = 0.0, max_seeds: int = 1000
) -> SeedPlan:
    """Variance components of a paired difference, from ``paired_differences`` rows.

    One-way random-effects ANOVA by moments: the within-session variance over seeds
    estimates one seed's noise; the variance of session means, less that noise over the
    seed count, the between-session part. Detectable means the standard error of the test
    that confirms a comparison, the corrected t's (variance x (1/sessions + ``share``), see
    :func:`corrected_interval`; ``share = 0`` is the plain paired t), times
    (t(1 - ALPHA/2) + t(POWER)) is at most ``difference``.
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

    def needed(noise: float) -> int | None:
        return next(
            (
                n
                for n in range(1, max_seeds + 1)
                if factor * np.sqrt((between_var + noise / n) * (1 / sessions + share))
                <= difference
            ),
            None,
        )

    seed_df = sessions * (k - 1)
    low, high = (seed_df * seed_var / stats.chi2.ppf(q, seed_df) for q in (0.975, 0.025))
    return SeedPlan(
        difference=difference,
        sessions=sessions,
        between=float(np.sqrt(between_var)),
        seed=float(np.sqrt(seed_var)),
        seeds=needed(seed_var),
        p_floor=sign_flip_floor(sessions),
        seeds_range=(needed(low), needed(high)),
        between_at_zero=between_var == 0.0,
    )
