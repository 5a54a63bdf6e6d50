"""Intervals, paired tests and the seed plan, checked against scipy and by enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pipeline.evaluation.calibration import (
    Null,
    coverage,
    family_false_positive_rate,
    probe_coverage,
)
from pipeline.evaluation.statistics import (
    Paired,
    adjust_family,
    corrected_interval,
    corrected_p,
    holm,
    in_sample_share,
    paired,
    paired_differences,
    seed_plan,
    session_values,
    sign_flip_p,
    t_interval,
    two_way_interval,
    versus_chance,
)

SHARE = 2 / 8  # IEMOCAP: 2 held-out speakers per session, 8 training speakers


def test_t_interval_is_scipys_student_t_interval() -> None:
    values = np.array([61.0, 55.5, 70.25, 58.0, 66.0])
    low, high = stats.t.interval(0.95, df=4, loc=values.mean(), scale=stats.sem(values))
    found = t_interval(values)
    assert (found.mean, found.sessions) == (pytest.approx(values.mean()), 5)
    assert (found.low, found.high) == (pytest.approx(low), pytest.approx(high))
    assert t_interval([3.0]).low is None and t_interval([3.0]).mean == 3.0
    assert (t_interval([2.0, 2.0]).low, t_interval([2.0, 2.0]).high) == (2.0, 2.0)


def _enumerated_p(d: np.ndarray) -> float:
    """Two-sided sign-flip p by brute force: share of flips with |mean| >= the observed."""
    observed = abs(d.mean())
    flips = [abs((d * s).mean()) for s in itertools.product((-1, 1), repeat=len(d))]
    return float(np.mean(np.array(flips) >= observed - 1e-12))


def test_sign_flip_p_is_exact() -> None:
    d = np.array([2.5, -0.5, 1.0, 3.0, 0.75, -1.25])
    assert sign_flip_p(d) == pytest.approx(_enumerated_p(d))
    # five sessions all one way: the smallest two-sided p five sessions can give
    assert sign_flip_p([1.0, 2.0, 0.5, 3.0, 1.5]) == pytest.approx(2 / 32)
    assert sign_flip_p([1.0]) is None


def _rows(values: dict[tuple[int, int], float], column: str = "ua_test") -> pd.DataFrame:
    """(fold, seed) -> value, with folds 2s and 2s+1 in session s."""
    return pd.DataFrame(
        [{"fold": f, "seed": s, "session": f"S{f // 2}", column: v} for (f, s), v in values.items()]
    )


def test_paired_compares_sessions_not_folds() -> None:
    rng = np.random.default_rng(0)
    keys = [(f, s) for f in range(10) for s in (1, 2)]
    a = {k: float(rng.normal(60, 5)) for k in keys}
    b = {k: float(rng.normal(58, 5)) for k in keys}
    diffs = paired_differences(_rows(a), _rows(b), "ua_test")
    assert len(diffs) == 20
    per_session = [
        np.mean([a[k] - b[k] for k in keys if k[0] // 2 == s]) for s in range(5)
    ]  # fold and seed averaged within each session
    np.testing.assert_allclose(session_values(diffs, "difference"), per_session)
    result = paired(diffs, SHARE)
    assert result.sessions == 5 and result.mean == pytest.approx(np.mean(per_session))
    # Nadeau & Bengio: the plain t-interval's half-width times sqrt((1/5 + 2/8) / (1/5))
    low, high = stats.ttest_1samp(per_session, 0).confidence_interval(0.95)
    half = (high - low) / 2 * np.sqrt((1 / 5 + SHARE) / (1 / 5))
    assert (result.low, result.high) == (pytest.approx(result.mean - half),
                                         pytest.approx(result.mean + half))  # fmt: skip
    t = np.mean(per_session) / (np.std(per_session, ddof=1) * np.sqrt(1 / 5 + SHARE))
    assert result.p == pytest.approx(2 * stats.t.sf(abs(t), 4))
    assert result.p_sign_flip == pytest.approx(_enumerated_p(np.array(per_session)))
    with pytest.raises(ValueError, match=r"no \(fold, seed\) runs in common"):
        paired_differences(_rows({(0, 1): 1.0}), _rows({(0, 2): 1.0}), "ua_test")


def test_direction_from_the_interval_confirmation_from_the_family() -> None:
    assert Paired(2.0, 0.5, 3.5, 6, p=0.03, p_adjusted=0.03).direction == 1
    assert Paired(2.0, 0.5, 3.5, 6, p=0.03, p_adjusted=0.03).confirmed
    assert Paired(-2.0, -3.5, -0.5, 6, p=0.03).direction == -1
    assert Paired(2.0, -0.5, 3.5, 6, p=0.03).direction == 0  # interval covers 0
    assert not Paired(2.0, 0.5, 3.5, 5, p=0.01, p_adjusted=0.2).confirmed  # not after Holm
    assert Paired(2.0, None, None, 1).direction == 0 and not Paired(2.0, None, None, 1).confirmed


def test_holm_adjusts_step_down_and_keeps_the_order() -> None:
    # sorted 0.01, 0.02, 0.03, 0.04 with 4 tests: 0.04, 0.06, 0.06 (monotone), 0.06
    assert holm([0.04, 0.01, None, 0.03, 0.02]) == pytest.approx(
        [0.06, 0.04, None, 0.06, 0.06]
    )  # fmt: skip
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    family = adjust_family(
        [Paired(1.0, 0.5, 1.5, 5, p=0.01), None, Paired(1.0, 0.5, 1.5, 5, p=0.04)]
    )
    assert [f and f.p_adjusted for f in family] == [pytest.approx(0.02), None, pytest.approx(0.04)]


def test_corrected_interval_is_wider_and_plain_at_no_overlap() -> None:
    values = np.array([61.0, 55.5, 70.25, 58.0, 66.0])
    plain, corrected = t_interval(values), corrected_interval(values, SHARE)
    ratio = (corrected.high - corrected.low) / (plain.high - plain.low)
    assert ratio == pytest.approx(np.sqrt((1 / 5 + SHARE) * 5))  # 1.5 at five sessions
    assert corrected_p([1.0, 1.0], SHARE) == 0.0 and corrected_p([1.0], SHARE) is None


def test_versus_chance_tells_above_from_equivalent() -> None:
    above = versus_chance([12.0, 9.0, 15.0, 11.0, 13.0], SHARE, equivalence=5.0)
    assert above["p_above"] < 0.05 and above["p_equivalent"] > 0.5
    near = versus_chance([0.5, -0.4, 0.2, -0.1, 0.3], SHARE, equivalence=5.0)
    assert near["p_above"] > 0.05 and near["p_equivalent"] < 0.05
    loose = versus_chance([6.0, -5.0, 4.0, -6.0, 1.0], SHARE, equivalence=5.0)
    assert loose["p_above"] > 0.05 and loose["p_equivalent"] > 0.05  # inconclusive


def test_two_way_interval_widens_with_the_items_and_corrects_the_sessions() -> None:
    """Table 3's interval over sessions and segments: with no session spread the segments
    alone widen it; the session part is the corrected t's (a bootstrap over five sessions
    under-covers), so a session spread widens it by (1/n + share), not 1/n."""
    rng = np.random.default_rng(0)
    items = rng.integers(0, 2, 81).astype(float)
    same_sessions = np.tile(items, (5, 1))  # no session spread
    low, high = two_way_interval(same_sessions, SHARE)
    assert low < same_sessions.mean() < high and high - low > 0.1  # the segments alone vary it
    half = stats.t.ppf(0.975, 4) * np.sqrt(items.var(ddof=1) / 81)
    assert (high - low) / 2 == pytest.approx(half)
    shifted = same_sessions + np.array([-0.1, -0.05, 0.0, 0.05, 0.1])[:, None]
    low2, high2 = two_way_interval(shifted, SHARE)
    session_var = np.var([-0.1, -0.05, 0.0, 0.05, 0.1], ddof=1) * (1 / 5 + SHARE)
    assert (high2 - low2) / 2 == pytest.approx(stats.t.ppf(0.975, 4) * np.sqrt(
        session_var + items.var(ddof=1) / 81))  # fmt: skip
    assert two_way_interval(same_sessions[:1], SHARE) is None  # one session: no interval


def test_the_in_sample_share_covers_a_score_on_each_units_own_training_speakers() -> None:
    """The speaker probe scores each unit's 8 training speakers, most of which any two units
    share: with per-speaker effects the held-out share (2/8, 1/8) under-covers the mean over
    speakers in a null simulation of either protocol; the in-sample share (m^2 / (N h) - 1/n,
    3.0 for sessions) covers it."""
    rows = pd.DataFrame({"session": [f"S{i}" for i in range(5)], "n_train": 8,
                         "n_held_out": 2, "n_unseen": 2})  # fmt: skip
    share = in_sample_share(rows)
    assert share == pytest.approx(64 / 20 - 1 / 5)
    assert Null().in_sample_share == pytest.approx(share)  # the simulation's shape
    for protocol in ("sessions", "leave_one_speaker_out"):  # per-speaker effects dominate
        found = probe_coverage(Null(sd_train=6.0, sd_test=0.0, sd_seed=2.0, protocol=protocol),
                               reps=3000)  # fmt: skip
        assert found["held-out share"] < 0.85, protocol  # the old correction under-covers
        assert found["in-sample share"] >= 0.95, protocol
    split = rows.assign(n_held_out=0, n_unseen=0)
    assert in_sample_share(split) == 0.0  # one training set: nothing is resampled


def test_the_reports_family_confirms_no_null_difference_more_than_5_percent() -> None:
    """Four regimes with no true difference, five sessions of overlapping training speakers
    and three seeds, variance parts like the demo's: the report's rule (Holm-adjusted
    corrected t over its 20 comparisons) confirms a difference in at most 5 % of studies,
    and the corrected interval covers the null difference at least 95 % of the time, where
    a plain t-interval over sessions does not."""
    null = Null()
    assert family_false_positive_rate(null, reps=400) <= 0.05
    assert family_false_positive_rate(Null(sessions=8), reps=200) <= 0.05
    found = coverage(null, reps=1000, bootstraps=100)
    assert found["corrected t (reported)"] >= 0.95 > found["plain t over sessions"]


def _seeded_differences(between: float, seed_sd: float, sessions: int, seeds: int) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for s in range(sessions):
        effect = rng.normal(0, between)
        rows += [{"session": f"S{s}", "seed": k, "fold": 2 * s, "difference": effect +
                  rng.normal(0, seed_sd)} for k in range(seeds)]  # fmt: skip
    return pd.DataFrame(rows)


def test_seed_plan_splits_seed_noise_from_session_spread() -> None:
    noisy = seed_plan(_seeded_differences(0.0, 4.0, sessions=5, seeds=40), difference=2.0)
    assert noisy.seed == pytest.approx(4.0, rel=0.15) and noisy.between < 1.0
    # the formula the plan solves: (t(.975, 4) + t(.8, 4)) * sqrt(seed_var / k / 5) <= 2
    factor = stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)
    se = np.sqrt((noisy.between**2 + noisy.seed**2 / noisy.seeds) / 5)
    se_fewer = np.sqrt((noisy.between**2 + noisy.seed**2 / (noisy.seeds - 1)) / 5)
    assert factor * se <= 2.0 < factor * se_fewer
    assert noisy.p_floor == pytest.approx(2 / 32)
    low, high = noisy.seeds_range  # the answer at both ends of the seed sd's interval
    assert low <= noisy.seeds <= high and low < high
    spread = seed_plan(_seeded_differences(6.0, 1.0, sessions=5, seeds=3), difference=2.0)
    assert spread.between > 3.0 and spread.seeds is None  # more seeds cannot help
    assert not spread.between_at_zero
    flat = seed_plan(_seeded_differences(0.0, 4.0, sessions=5, seeds=3), difference=2.0)
    assert flat.between_at_zero and flat.between == 0.0  # not estimable: a lower bound
    with pytest.raises(ValueError, match="at least 2 sessions with at least 2 seeds"):
        seed_plan(_seeded_differences(1.0, 1.0, sessions=5, seeds=1), difference=2.0)


def test_seed_plan_sizes_for_the_corrected_t_that_confirms() -> None:
    """With IEMOCAP's 2 held-out of 8 training speakers and 5 sessions the corrected t's
    variance is 2.25x the paired t's: the plan needs about 2.25x the seeds, or none."""
    rows = _seeded_differences(0.0, 4.0, sessions=5, seeds=40)
    plain, corrected = seed_plan(rows, 2.0), seed_plan(rows, 2.0, share=2 / 8)
    factor = stats.t.ppf(0.975, 4) + stats.t.ppf(0.8, 4)

    def se(plan, seeds: int) -> float:
        return np.sqrt((plan.between**2 + plan.seed**2 / seeds) * (1 / 5 + 2 / 8))

    assert (
        factor * se(corrected, corrected.seeds) <= 2.0 < factor * se(corrected, corrected.seeds - 1)
    )
    assert corrected.seeds >= 2 * plain.seeds
    spread = _seeded_differences(1.5, 1.0, sessions=5, seeds=3)
    assert seed_plan(spread, 2.0, share=2 / 8).seeds is None  # the session spread alone is too big
