"""The lambda sweep and the strength trade-off: experiments read from `dvc exp show --json`,
as tables and figures.

`dvc exp show` lists each experiment's params and headline metrics; the intervals the sweep
draws come from each experiment's commit, where the report stage left every regime's whole
evaluation summary (``reports/results/<regime>.json``, tracked by git).

A sweep is a set of DVC experiments that differ from their baseline commit in ``lambda``
alone. Every other parameter must match the baseline's (``n_jobs`` and ``device`` aside:
they say where work runs); an experiment that differs elsewhere (other seeds, other epochs) is a
different study, so it is left out and named, never averaged in. EC-only does not read
lambda, so it is the horizontal reference line.

The trade-off takes the experiments that differ from the baseline only in how strongly a
regime removes the speaker (``lambda``, ``adversary.*``, ``erase.*``: :data:`STRENGTHS`) and
draws, per regime, test UA against the speaker probe that decides (held-out where the
baseline kept utterances out, else in-sample), with the Pareto front of all points marked.
A regime's point comes from an experiment only when the experiment changed a key it reads
(:func:`pipeline.regimes.reads`); otherwise its results are the baseline's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from pipeline.regimes import REFERENCE, REGIMES, TITLES, USES_LAMBDA, reads
from pipeline.reporting.figures import save_png
from pipeline.reporting.report import markdown_table, with_interval

SWEPT_MEASURES = {"ua_test": "test UA (%)", "speaker_kernel": "speaker probe, kernel (%)"}
"""What the sweep plots: Table 2's test UA and the controlled speaker probe."""
SELECT_BY = "ua_val"
"""What lambda is chosen by, per regime: validation UA, never the test UA it reports."""
IGNORED_PARAMS = ("n_jobs", "device")
"""Params that say where work runs, never what it computes: no experiment differs by them."""
RESULTS = "reports/results/{regime}.json"
"""Where an experiment's commit holds a regime's evaluation summary."""
Reader = Callable[[str, str], Mapping[str, Any]]
"""(git revision, path) -> that file's JSON at that revision; raises KeyError if absent."""
STRENGTHS = ("lambda", "adversary.", "erase.")
"""The params keys (or their prefixes) the trade-off varies: how strongly a regime removes
the speaker."""
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


@dataclass(frozen=True)
class Experiment:
    """A finished experiment of the baseline commit that counts: its name, its `dvc exp
    show` row, and the dotted params keys where it differs from the baseline, with values."""

    name: str
    entry: Mapping[str, Any]
    changed: dict[str, Any]


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _experiments(
    exp_show: Sequence[Mapping[str, Any]], allowed: Callable[[str], bool]
) -> tuple[Experiment, list[Experiment], dict[str, str]]:
    """(the committed baseline, the experiments that differ from it only in ``allowed``
    keys and ran its code, the others by name with why they were left out)."""
    baselines = [e for e in exp_show if e["rev"] != "workspace" and not e.get("error")]
    if not baselines:
        raise ValueError("`dvc exp show` lists no committed baseline: commit, then run the sweep")
    baseline = baselines[0]
    reference, code = _params(baseline), _code(baseline)
    found, left_out = [], {}
    for experiment in baseline.get("experiments") or []:
        for entry in experiment.get("revs") or []:
            name = entry.get("name") or experiment.get("name") or entry["rev"][:7]
            if entry.get("error") or not entry.get("data"):
                left_out[name] = "failed or not finished"
                continue
            differs = _differences(reference, _params(entry))
            outside = [key for key in differs if not allowed(key)]
            if outside:
                left_out[name] = f"differs from the baseline in {', '.join(outside)}"
                continue
            ran = _code(entry)
            other = sorted(k for k in set(code) | set(ran) if code.get(k) != ran.get(k))
            if other:
                left_out[name] = (f"ran other code than the baseline ({len(other)} file(s), "
                                  f"{other[0]} first): run it again on this commit")  # fmt: skip
                continue
            changed = {key: _lookup(_params(entry), key) for key in differs}
            found.append(Experiment(name, entry, changed))
    first = Experiment(baseline.get("name") or baseline["rev"][:7], baseline, {})
    return first, found, left_out


def _first_point(baseline: Experiment, read: Reader) -> Point:
    try:
        return _point(baseline.entry, baseline.name, read)
    except KeyError as missing:
        raise _no_baseline(missing) from None


def _no_baseline(missing: KeyError) -> ValueError:
    return ValueError(f"the committed baseline has no {missing.args[0]}: run dvc repro, "
                      "commit, then run the sweep")  # fmt: skip


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
    baseline, experiments, left_out = _experiments(exp_show, lambda key: key == "lambda")
    first = _first_point(baseline, read)
    points: dict[float, Point] = {first.lam: first}  # the baseline wins its own lambda
    for experiment in experiments:
        try:
            point = _point(experiment.entry, experiment.name, read)
        except KeyError as missing:
            left_out[experiment.name] = f"has no {missing.args[0]}"
            continue
        points.setdefault(point.lam, point)
    return Sweep(sorted(points.values(), key=lambda p: p.lam), first, left_out)


@dataclass(frozen=True)
class Tradeoff:
    """One regime at one setting: its test UA and the speaker probe that decides."""

    regime: str
    experiment: str
    setting: str  # what differs from the baseline, as `key=value`s ("baseline": nothing)
    ua: dict[str, Any]
    probe: dict[str, Any]


@dataclass(frozen=True)
class TradeoffSweep:
    points: list[Tradeoff]
    probe: str  # the probe measure on the x axis
    left_out: dict[str, str]

    @property
    def front(self) -> list[Tradeoff]:
        """The Pareto front: points no other point beats on both (higher UA and lower probe,
        one of them strictly), by probe."""

        def beaten(p: Tradeoff) -> bool:
            return any(
                q.ua["mean"] >= p.ua["mean"] and q.probe["mean"] <= p.probe["mean"]
                and (q.ua["mean"] > p.ua["mean"] or q.probe["mean"] < p.probe["mean"])
                for q in self.points
            )  # fmt: skip

        return sorted((p for p in self.points if not beaten(p)), key=lambda p: p.probe["mean"])


HELD_OUT_PROBE, IN_SAMPLE_PROBE = "speaker_heldout_kernel", "speaker_kernel"


def read_tradeoff(exp_show: Sequence[Mapping[str, Any]], read: Reader) -> TradeoffSweep:
    """Every regime's (test UA, deciding speaker probe) at the baseline and at each
    experiment that changed only :data:`STRENGTHS` keys, one of them read by the regime."""
    baseline, experiments, left_out = _experiments(
        exp_show, lambda key: key == "lambda" or key.startswith(STRENGTHS[1:])
    )
    try:
        base = {r: read(baseline.entry["rev"], RESULTS.format(regime=r)) for r in REGIMES}
    except KeyError as missing:
        raise _no_baseline(missing) from None
    held = any(s.get("probe", {}).get(HELD_OUT_PROBE) for s in base.values())
    probe = HELD_OUT_PROBE if held else IN_SAMPLE_PROBE
    points: dict[tuple[str, str], Tradeoff] = {}

    def add(regime: str, name: str, setting: str, summary: Mapping[str, Any]) -> None:
        ua = summary.get("within", {}).get("ua_test")
        found = summary.get("probe", {}).get(probe)
        if ua is not None and found is not None:  # the first experiment of a setting wins
            points.setdefault((regime, setting), Tradeoff(regime, name, setting, ua, found))

    for regime, summary in base.items():
        add(regime, baseline.name, "baseline", summary)
    for experiment in experiments:
        # per regime, the changed keys it reads: its setting (none read: the baseline's)
        settings = {r: {k: v for k, v in experiment.changed.items() if reads(r, k)}
                    for r in REGIMES}  # fmt: skip
        try:
            summaries = {r: read(experiment.entry["rev"], RESULTS.format(regime=r))
                         for r, mine in settings.items() if mine}  # fmt: skip
        except KeyError as missing:
            left_out[experiment.name] = f"has no {missing.args[0]}"
            continue
        for regime, summary in summaries.items():
            label = ", ".join(f"{k}={v}" for k, v in settings[regime].items())
            add(regime, experiment.name, label, summary)
    return TradeoffSweep(list(points.values()), probe, left_out)


def tradeoff_markdown(tradeoff: TradeoffSweep) -> str:
    """The trade-off's table: every point, its front membership."""
    front = {(p.regime, p.experiment) for p in tradeoff.front}
    which = "held-out" if tradeoff.probe == HELD_OUT_PROBE else "in-sample"
    rows = [
        [TITLES[p.regime], p.experiment, p.setting, with_interval(p.probe, 1),
         with_interval(p.ua, 1), "yes" if (p.regime, p.experiment) in front else ""]
        for p in sorted(tradeoff.points, key=lambda p: (REGIMES.index(p.regime), p.setting))
    ]  # fmt: skip
    lines = [
        "## Trade-off: test UA against the speaker identity left",
        f"Every regime at the baseline and at each experiment that changed a key it reads "
        f"among {', '.join(f'`{k}*`' if k.endswith('.') else f'`{k}`' for k in STRENGTHS)}: "
        f"test UA against the {which} speaker probe (kernel), mean [95 % interval] over "
        "sessions. *Front*: no other point has both a higher UA and a lower probe (means "
        "only; points whose intervals overlap are not shown apart). The figure is "
        "descriptive: picking a setting from it would select on the test speakers."
        + (
            ""
            if which == "held-out"
            else " The baseline kept no utterances out "
            "(`train.probe_holdout: 0`), so the probe is the in-sample one, which an eraser "
            "can push below chance on the utterances it was fitted on."
        ),
        markdown_table(
            (
                "Regime",
                "experiment",
                "setting",
                f"speaker probe ({which}, kernel)",
                "test UA",
                "front",
            ),
            rows,
        ),
        "![trade-off](figures/tradeoff.png)",
    ]
    if tradeoff.left_out:
        lines.append("Left out of the trade-off:\n" + "\n".join(
            f"- `{name}`: {why}" for name, why in tradeoff.left_out.items()))  # fmt: skip
    return "\n\n".join(lines) + "\n"


def tradeoff_figure(tradeoff: TradeoffSweep, target: Path) -> None:
    """Test UA against the speaker probe, one colour per regime, with 95 % intervals on both
    axes; the Pareto front as a black step line, its points ringed."""
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    for i, regime in enumerate(REGIMES):
        mine = [p for p in tradeoff.points if p.regime == regime]
        if not mine:
            continue
        ax.errorbar(
            [p.probe["mean"] for p in mine], [p.ua["mean"] for p in mine],
            xerr=_errors([p.probe for p in mine]), yerr=_errors([p.ua for p in mine]),
            fmt="o", capsize=3, color=f"C{i}", label=TITLES[regime],
        )  # fmt: skip
        for p in mine:
            if p.setting != "baseline":
                ax.annotate(p.setting, (p.probe["mean"], p.ua["mean"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
    front = tradeoff.front
    if front:
        ax.step([p.probe["mean"] for p in front], [p.ua["mean"] for p in front], where="post",
                color="black", linewidth=1, label="Pareto front")  # fmt: skip
        ax.scatter([p.probe["mean"] for p in front], [p.ua["mean"] for p in front], s=160,
                   facecolors="none", edgecolors="black")  # fmt: skip
    which = "held-out" if tradeoff.probe == HELD_OUT_PROBE else "in-sample"
    ax.set(xlabel=f"speaker probe, {which}, kernel (%): lower is less identity left",
           ylabel="test UA (%)", title="UA against speaker identity left")  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_png(fig, target)


def _errors(stats: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    """Matplotlib's asymmetric error bars from mean [low, high]; 0 where n/a."""
    return [
        [s["mean"] - s["low"] if s["low"] is not None else 0.0 for s in stats],
        [s["high"] - s["mean"] if s["high"] is not None else 0.0 for s in stats],
    ]


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
            errors = _errors(stats)
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
