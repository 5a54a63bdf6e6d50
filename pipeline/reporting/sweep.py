"""The lambda sweep: experiments read from `dvc exp show --json`, as a table and a figure.

`dvc exp show` lists each experiment's params and headline metrics; the intervals the sweep
draws come from each experiment's commit, where the report stage left every regime's whole
evaluation summary (``reports/results/<regime>.json``, tracked by git).

A sweep is a set of DVC experiments that differ from their baseline commit in ``lambda``
alone. Every other parameter must match the baseline's (``n_jobs`` and ``device`` aside:
they say where work runs); an experiment that differs elsewhere (other seeds, other epochs) is a
different study, so it is left out and named, never averaged in. EC-only does not read
lambda, so it is the horizontal reference line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from pipeline.regimes import REFERENCE, TITLES, USES_LAMBDA
from pipeline.reporting.figures import save_png
from pipeline.reporting.report import markdown_table, with_interval

SWEPT_MEASURES = {"ua_test": "test UA (%)", "speaker_kernel": "speaker probe, kernel (%)"}
"""What the sweep plots: Table 2's test UA and the controlled speaker probe."""
SELECT_BY = "ua_val"
"""What lambda is chosen by, per regime: validation UA, never the test UA it reports."""
IGNORED_PARAMS = ("lambda", "n_jobs", "device")
RESULTS = "reports/results/{regime}.json"
"""Where an experiment's commit holds a regime's evaluation summary."""
Reader = Callable[[str, str], Mapping[str, Any]]
"""(git revision, path) -> that file's JSON at that revision; raises KeyError if absent."""
DODGE = 0.008
"""Horizontal offset between the regimes' error bars at one lambda, in lambda units."""


@dataclass(frozen=True)
class Point:
    """One experiment: its name, lambda and each regime's summary metrics."""

    name: str
    lam: float
    metrics: dict[str, dict[str, Any]]

    def stat(self, regime: str, measure: str) -> dict[str, Any] | None:
        """A measure's summary, None where it is null (`dvc exp show` drops nulls)."""
        group = "within" if measure.startswith(("ua_", "wa_")) else "probe"
        return self.metrics[regime].get(group, {}).get(measure)


def _params(entry: Mapping[str, Any]) -> dict[str, Any]:
    return entry["data"]["params"]["params.yaml"]["data"]


def _point(entry: Mapping[str, Any], name: str, read: Reader) -> Point:
    rev = entry["rev"]
    return Point(
        name=name,
        lam=float(_params(entry)["lambda"]),
        metrics={r: read(rev, RESULTS.format(regime=r)) for r in (*USES_LAMBDA, REFERENCE)},
    )


CODE = ("pipeline/", "stages/")
"""The dependencies that are code: an experiment whose code differs from the baseline's made
its numbers with another program, so it is no point of this sweep however equal its params."""


def _code(entry: Mapping[str, Any]) -> dict[str, str | None]:
    """The code dependencies `dvc exp show --json` lists for a row, with their hashes."""
    deps = entry.get("data", {}).get("deps") or {}
    return {path: (d or {}).get("hash") for path, d in deps.items() if path.startswith(CODE)}


def _differences(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two params trees."""
    keys = sorted(set(a) | set(b))
    found = []
    for key in keys:
        if not prefix and key in IGNORED_PARAMS:
            continue
        left, right = a.get(key), b.get(key)
        if isinstance(left, Mapping) and isinstance(right, Mapping):
            found += _differences(left, right, f"{prefix}{key}.")
        elif left != right:
            found.append(f"{prefix}{key}")
    return found


@dataclass(frozen=True)
class Sweep:
    """The points sorted by lambda, the baseline among them, and what was left out, why."""

    points: list[Point]
    baseline: Point
    left_out: dict[str, str]

    def chosen(self, regime: str) -> Point | None:
        """The point whose lambda the regime's mean validation UA prefers. Not nested under a
        cross-validation protocol: every validation speaker is another fold's test speaker
        (:data:`NOT_NESTED`)."""
        scored = [(p.stat(regime, SELECT_BY), p) for p in self.points]
        scored = [(s["mean"], p) for s, p in scored if s is not None]
        return max(scored, key=lambda pair: pair[0])[1] if scored else None


NOT_NESTED = (
    "This choice is not nested: under the sessions, leave-one-speaker-out and k-fold "
    "protocols every validation speaker is the test speaker of another fold (a session's two "
    "folds swap them), so the mean validation UA that picks lambda is measured on the test "
    "speakers too, and the test UA of the pick is optimistic. Only under the split protocol "
    "are validation and test speakers disjoint. A nested estimate picks lambda per fold on "
    "that fold's validation speaker alone."
)
"""What the sweep's pick is and is not, under every protocol."""


def read_sweep(exp_show: Sequence[Mapping[str, Any]], read: Reader) -> Sweep:
    """The sweep of the committed baseline's experiments, from `dvc exp show --json` and
    each one's evaluation summaries (``read``).

    The baseline is the committed row (not the workspace); it is a point itself, and its EC-
    only result is the reference. An experiment counts only with the baseline's params
    (``n_jobs`` aside) and the baseline's code (every ``pipeline/`` and ``stages/``
    dependency's hash), so a sweep never mixes numbers made by two versions of the program.
    Two experiments with the same lambda give the same results (the run-cache serves the
    second), so only the first of each lambda is kept.
    """
    baselines = [e for e in exp_show if e["rev"] != "workspace" and not e.get("error")]
    if not baselines:
        raise ValueError("`dvc exp show` lists no committed baseline: commit, then run the sweep")
    baseline = baselines[0]
    reference, code = _params(baseline), _code(baseline)
    try:
        first = _point(baseline, baseline.get("name") or baseline["rev"][:7], read)
    except KeyError as missing:
        raise ValueError(f"the committed baseline has no {missing.args[0]}: run dvc repro, commit, "
                         "then run the sweep") from None  # fmt: skip
    candidates = [
        (rev, rev.get("name") or experiment.get("name") or rev["rev"][:7])
        for experiment in baseline.get("experiments") or []
        for rev in experiment.get("revs") or []
    ]
    points: dict[float, Point] = {first.lam: first}  # the baseline wins its own lambda
    left_out: dict[str, str] = {}
    for entry, name in candidates:
        if entry.get("error") or not entry.get("data"):
            left_out[name] = "failed or not finished"
            continue
        differs = _differences(reference, _params(entry))
        if differs:
            left_out[name] = f"differs from the baseline in {', '.join(differs)}"
            continue
        ran = _code(entry)
        other = sorted(k for k in set(code) | set(ran) if code.get(k) != ran.get(k))
        if other:
            left_out[name] = (f"ran other code than the baseline ({len(other)} file(s), "
                              f"{other[0]} first): run it again on this commit")  # fmt: skip
            continue
        try:
            point = _point(entry, name, read)
        except KeyError as missing:
            left_out[name] = f"has no {missing.args[0]}"
            continue
        points.setdefault(point.lam, point)
    return Sweep(sorted(points.values(), key=lambda p: p.lam), first, left_out)


def sweep_markdown(sweep: Sweep) -> str:
    header = ["lambda", "experiment"]
    header += [f"{TITLES[r]} {SWEPT_MEASURES[m]}" for m in SWEPT_MEASURES for r in USES_LAMBDA]
    rows = [
        [
            f"{p.lam:g}",
            p.name,
            *(with_interval(p.stat(r, m), 1) for m in SWEPT_MEASURES for r in USES_LAMBDA),
        ]
        for p in sweep.points
    ]
    reference = sweep.baseline
    picks = []
    for regime in USES_LAMBDA:
        point = sweep.chosen(regime)
        if point is not None:
            picks.append([TITLES[regime], f"{point.lam:g}",
                          with_interval(point.stat(regime, SELECT_BY), 1),
                          with_interval(point.stat(regime, "ua_test"), 1)])  # fmt: skip
    lines = [
        "# The lambda sweep",
        "Generated by `python -m stages.sweep_report` from `dvc exp show --json`; do not "
        "edit by hand. Mean [95 % interval] over sessions, as in `reports/report.md`.",
        "## Lambda chosen by validation",
        "Per regime, the lambda with the best mean validation UA, and the test UA of that "
        "choice. " + NOT_NESTED,
        markdown_table(("Regime", "lambda", "validation UA", "test UA"), picks),
        "## Every lambda (for reference)",
        "Test UA at every lambda is shown for reference only: picking the best of these "
        "would select on the test speakers and overstate the result.",
        markdown_table(header, rows),
        f"EC only (reads no lambda), the reference: test UA "
        f"{with_interval(reference.stat(REFERENCE, 'ua_test'), 1)}, speaker probe (kernel) "
        f"{with_interval(reference.stat(REFERENCE, 'speaker_kernel'), 1)}.",
        "![lambda sweep](figures/sweep.png)",
    ]
    if sweep.left_out:
        lines.append(
            "Left out:\n" + "\n".join(f"- `{name}`: {why}" for name, why in sweep.left_out.items())
        )
    return "\n\n".join(lines) + "\n"


def sweep_figure(sweep: Sweep, target: Path) -> None:
    """Each measure against lambda, with 95 % intervals; EC-only as a line and band.

    A measure missing from an experiment (a probe too small to run) leaves its point out.
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, len(SWEPT_MEASURES))
    points = sweep.points
    for ax, (measure, label) in zip(axes, SWEPT_MEASURES.items(), strict=True):
        for i, regime in enumerate(USES_LAMBDA):
            found = [(p.lam, p.stat(regime, measure)) for p in points]
            lams = [lam for lam, s in found if s is not None]
            stats = [s for _, s in found if s is not None]
            means = [s["mean"] for s in stats]
            errors = [
                [s["mean"] - s["low"] if s["low"] is not None else 0.0 for s in stats],
                [s["high"] - s["mean"] if s["high"] is not None else 0.0 for s in stats],
            ]
            dodged = [lam + DODGE * (i - 1) for lam in lams]  # keep the bars apart
            ax.errorbar(dodged, means, yerr=errors, marker="o", capsize=3, color=f"C{i + 1}",
                        label=TITLES[regime])  # fmt: skip
            pick = sweep.chosen(regime)
            if pick is not None and pick.stat(regime, measure) is not None:
                ax.plot(pick.lam + DODGE * (i - 1), pick.stat(regime, measure)["mean"], "*",
                        markersize=14, color=f"C{i + 1}")  # fmt: skip
        reference = sweep.baseline.stat(REFERENCE, measure)
        if reference is not None:
            ax.axhline(reference["mean"], color="C0", linestyle="--", label=TITLES[REFERENCE])
        if reference is not None and reference["low"] is not None:
            ax.axhspan(reference["low"], reference["high"], color="C0", alpha=0.1)
        ax.set(xlabel="lambda (weight of the emotion loss); star: chosen by validation UA",
               ylabel=label, title=label)  # fmt: skip
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_png(fig, target)
