"""reports/report.md: the paper's section 6, rebuilt from the evaluation stages' outputs.

Pure text assembly: every number comes from ``data/eval/<regime>/summary.json`` and
``data/eval/<regime>/folds.json``; the paper's published numbers are kept apart in
reference blocks, labelled as the paper's, so they can never be mistaken for ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import yaml

from pipeline import EMOTIONS
from pipeline.data.demo import DEMO_ROOT
from pipeline.evaluation.metrics import WITHIN_KEYS
from pipeline.evaluation.probes import HELD_OUT, PROBE_MODELS, PROBE_NAMES
from pipeline.evaluation.statistics import (
    ALPHA,
    POWER,
    Paired,
    adjust_family,
    held_out_share,
    holm,
    paired,
    paired_differences,
    seed_plan,
    sign_flip_floor,
)
from pipeline.features.spec import PAPER43, SSL
from pipeline.regimes import COMPARISONS, REFERENCE, TITLES

# Paper, Table 2 (IEMOCAP, 10 folds): WA val/test/Δ, UA val/test/Δ, as printed.
PAPER_TABLE2 = {
    "ec_only": (58.50, 55.92, -2.56, 59.94, 57.45, -2.49),
    "multitask": (59.24, 55.90, -3.34, 60.52, 57.28, -3.24),
    "dat": (58.28, 56.68, -1.60, 60.16, 58.48, -1.68),
    "menan": (58.85, 58.62, -0.23, 60.24, 59.91, -0.33),
}
# Paper, Table 3 (CMU-MOSEI, the 10 IEMOCAP fold models): mean, min, max. No multi-task row.
PAPER_TABLE3 = {
    "ec_only": (31.35, 27.14, 34.96),
    "dat": (32.34, 25.91, 37.85),
    "menan": (33.24, 28.84, 39.85),
}
TABLE2_HEADER = ("Model", "WA Val", "WA Test", "WA Δ", "UA Val", "UA Test", "UA Δ")
TABLE3_KEYS = ("mean", "min", "max")
COMPARED_MEASURES = {
    "ua_test": "test UA",
    "wa_test": "test WA",
    "cross_corpus": "cross-corpus accuracy",
    "probe_speaker_linear": "speaker probe (linear)",
    "probe_speaker_kernel": "speaker probe (kernel)",
    "probe_speaker_heldout_linear": "held-out speaker probe (linear)",
    "probe_speaker_heldout_kernel": "held-out speaker probe (kernel)",
}
"""What the comparisons compare, as (fold, seed) score columns, with their names in text."""
PLANNED_DIFFERENCE = 2.0
"""The test-UA difference (points) the seed plan sizes the protocol for."""

DELTA_NOTES = {
    "sessions": (
        "Both folds of a session come from one training run per seed (same {train} training "
        "speakers) and differ only in which of the two held-out speakers selects the "
        "checkpoint, so the fold means of Val and Test run over the same {speakers} speakers. "
        "Δ therefore measures how much checkpoint selection flatters the speaker it was "
        "selected on. With `selection: last` both folds of a session are the same model "
        "scored on the same two speakers with the roles swapped, so Δ is exactly 0 for each "
        "session's mean, not per fold."
    ),
    "leave_one_speaker_out": (
        "Each fold selects its checkpoint on its validation speaker and scores its test "
        "speaker, both unseen; every speaker is validation in one fold and test in another, "
        "each time for a different model. Δ measures how much checkpoint selection flatters "
        "the speaker it was selected on."
    ),
    "speaker_kfold": (
        "Each fold selects its checkpoint on its validation group and scores its test group, "
        "both unseen; every group is validation in one fold and test in another, each time "
        "for a different model. Δ measures how much checkpoint selection flatters the "
        "speakers it was selected on."
    ),
    "split": (
        "Validation and test are the corpus's own splits, different speakers: Δ mixes how "
        "much checkpoint selection flatters the validation speakers with how the two sets "
        "differ."
    ),
}
"""What Δ (test - validation) means under each fold protocol: only its own sentence is
written, with the corpus's own speaker counts."""
UNSEEN = {"sessions": "two unseen speakers", "leave_one_speaker_out": "two unseen speakers",
          "speaker_kfold": "unseen speaker groups", "split": "unseen speakers"}  # fmt: skip
"""A fold's speakers that training never saw (validation and test), per protocol."""
NUMBER_WORDS = dict(enumerate((
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
)))  # fmt: skip


def delta_note(protocol: str, folds: list[dict[str, Any]]) -> str:
    """:data:`DELTA_NOTES` for ``protocol``, with the training and total speakers of a fold
    (every fold of a protocol has the same counts)."""
    train = int(folds[0]["n_train"])
    speakers = train + int(folds[0]["n_held_out"])
    return DELTA_NOTES[protocol].format(
        train=NUMBER_WORDS.get(train, train), speakers=NUMBER_WORDS.get(speakers, speakers)
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def with_interval(stat: Mapping[str, Any] | None, digits: int = 2) -> str:
    """``mean [low, high]``; the interval is n/a with one session."""
    if stat is None:
        return "n/a"
    if stat["low"] is None:
        return f"{stat['mean']:.{digits}f} [n/a]"
    return f"{stat['mean']:.{digits}f} [{stat['low']:.{digits}f}, {stat['high']:.{digits}f}]"


def table2(summaries: Mapping[str, dict[str, Any]]) -> str:
    rows = [
        [TITLES[r], *(with_interval(s["within"][k]) for k in WITHIN_KEYS)]
        for r, s in summaries.items()
    ]
    return markdown_table(TABLE2_HEADER, rows)


SINGLE_LABEL_RULE = (
    "A single-label set: WA is the share of segments given their label, UA the mean recall "
    "per class (min, max and the segment interval are of WA). "
)
MULTI_LABEL_RULE = (
    "A prediction counts as correct when the predicted class was rated positive for the "
    "segment (neutral: all six ratings zero). "
)


def single_label_cross(summaries: Mapping[str, dict[str, Any]]) -> bool:
    """Whether the cross-corpus set was single-label (then it has a UA as well as a WA)."""
    return any(s.get("cross_corpus_ua") for s in summaries.values())


def table3(summaries: Mapping[str, dict[str, Any]]) -> str:
    with_ua = single_label_cross(summaries)
    rows = []
    for r, s in summaries.items():
        stat = s["cross_corpus"]
        two_way = (f"[{stat['two_way_low']:.2f}, {stat['two_way_high']:.2f}]"
                   if "two_way_low" in stat else "n/a")  # fmt: skip
        ua = [with_interval(s.get("cross_corpus_ua"))] if with_ua else []
        rows.append([TITLES[r], with_interval(stat), *ua, two_way, _num(stat["min"]),
                     _num(stat["max"])])  # fmt: skip
    first = "WA [interval over sessions]" if with_ua else "mean [interval over sessions]"
    ua_header = ["UA [interval over sessions]"] if with_ua else []
    return markdown_table(
        ("Model", first, *ua_header, "interval over sessions and segments", "min", "max"), rows
    )


PROBE_TITLES = {"speaker": "Speaker", "gender": "Gender (speaker-disjoint)",
                "emotion": "Emotion", HELD_OUT: "Speaker, held-out utterances"}  # fmt: skip


def probe_names(summaries: Mapping[str, dict[str, Any]]) -> list[str]:
    """The probes that ran: PROBE_NAMES, and the held-out speaker probe where it did."""
    first = next(iter(summaries.values()))
    held = any(first["probe"].get(f"{HELD_OUT}_{m}") for m in PROBE_MODELS)
    return [*PROBE_NAMES, *([HELD_OUT] if held else [])]


def probe_family(
    summaries: Mapping[str, dict[str, Any]],
) -> dict[tuple[str, str], dict[str, Any] | None]:
    """Every probe cell of the table (each regime's and the control's), keyed by (row,
    probe_model), with its two p-values Holm-adjusted over the whole table: one family of
    "above chance" tests and one of "within the margin" tests, as the comparisons are one
    family. A cell's verdict then never outruns what the table as a whole allows."""
    names = probe_names(summaries)
    first = next(iter(summaries.values()))
    rows = {**{r: s["probe"] for r, s in summaries.items()}, CONTROL: first["control"]}
    cells = {(row, f"{p}_{m}"): stats.get(f"{p}_{m}") for row, stats in rows.items()
             for p in names for m in PROBE_MODELS}  # fmt: skip
    keys = list(cells)
    adjusted = {
        name: holm([(cells[k] or {}).get(name) for k in keys])
        for name in ("p_above", "p_equivalent")
    }
    return {
        k: None if cells[k] is None else {**cells[k], **{n: adjusted[n][i] for n in adjusted}}
        for i, k in enumerate(keys)
    }


CONTROL = "input features (control)"
CONTROL_INPUT = {
    PAPER43: "mean and std of the 43 channels",
    SSL: "mean and std of each hidden unit of the SSL model, averaged over the stored layers",
}
"""What the control row's probes read, per front end (params.yaml ``features.frontend``)."""


def probe_tests(summaries: Mapping[str, dict[str, Any]]) -> int:
    """How many cells the probe family holds (those with a test)."""
    return sum(c is not None and c.get("p_above") is not None
               for c in probe_family(summaries).values())  # fmt: skip


def probe_table(summaries: Mapping[str, dict[str, Any]], margin: float) -> str:
    """Per probe and regime: mean [interval], and what it says against chance (Holm over the
    table, :func:`probe_family`)."""
    names = probe_names(summaries)
    first = next(iter(summaries.values()))
    family = probe_family(summaries)
    header = ["Model"] + [f"{PROBE_TITLES[p]} ({m})" for p in names for m in PROBE_MODELS]
    rows = [
        [TITLES[r], *(_probe_cell(family[(r, f"{p}_{m}")], margin) for p in names
                      for m in PROBE_MODELS)]
        for r in summaries
    ]  # fmt: skip
    rows.append([CONTROL, *(_probe_cell(family[(CONTROL, f"{p}_{m}")], margin) for p in names
                            for m in PROBE_MODELS)])  # fmt: skip
    rows.append(["chance", *(_num(first["chance"].get(p), 1) for p in names
                             for _ in PROBE_MODELS)])  # fmt: skip
    sizes = [
        [PROBE_TITLES[p], *(f"{first['size'][p][k]:.0f}" for k in ("n", "classes", "dropped"))]
        for p in names if first["size"].get(p)
    ]  # fmt: skip
    return (
        markdown_table(header, rows)
        + "\n\nSize of each probe, mean over runs:\n\n"
        + markdown_table(("probe", "utterances scored", "classes", "utterances dropped"), sizes)
    )


def _probe_cell(stat: Mapping[str, Any] | None, margin: float) -> str:
    """``mean [interval]`` and its verdict against chance: above it, within ±margin of it
    (equivalence), or neither, at ALPHA."""
    if stat is None:
        return "n/a"
    above, same = stat.get("p_above"), stat.get("p_equivalent")
    if above is not None and above < ALPHA:
        verdict = "above chance"
    elif same is not None and same < ALPHA:
        verdict = f"within ±{margin:g} of chance"
    else:
        verdict = "inconclusive"
    return f"{with_interval(stat, 1)} {verdict}"


def invariance_table(
    summaries: Mapping[str, dict[str, Any]], comparisons: Mapping[str, Mapping[str, Any]],
    margin: float,
) -> str:  # fmt: skip
    """How much speaker identity each regime leaves, and what it cost in UA, with each
    regime's test-UA difference from EC only (the same comparisons and Holm family as the
    comparisons table). Ranked by the held-out kernel probe, lowest first, where utterances
    were held out; in the regimes' order otherwise, since the in-sample probe decides
    nothing (:func:`invariance_scope`)."""
    family, count = probe_family(summaries), family_size(comparisons)
    held = HELD_OUT in probe_names(summaries)
    probe = HELD_OUT if held else "speaker"

    def rank_key(regime: str) -> float:
        stat = summaries[regime]["probe"].get(f"{probe}_kernel")
        return float("inf") if stat is None else stat["mean"]

    ordered = sorted(summaries, key=rank_key) if held else list(summaries)
    rows = []
    for rank, regime in enumerate(ordered, 1):
        cost = comparisons.get(f"{regime}-{REFERENCE}", {}).get("ua_test")
        cost_cell = "reference" if regime == REFERENCE else (
            "n/a" if cost is None else f"{with_interval(cost, 1)} {reading(regime, cost, count)}"
        )  # fmt: skip
        rows.append([
            *([str(rank)] if held else []), TITLES[regime],
            *(_probe_cell(family[(regime, f"{probe}_{m}")], margin) for m in ("kernel", "linear")),
            with_interval(summaries[regime]["within"]["ua_test"], 1), cost_cell,
        ])  # fmt: skip
    first = next(iter(summaries.values()))
    chance = _num(first["chance"].get(probe), 1)
    which = PROBE_TITLES[probe].lower()
    header = (*(["Rank"] if held else []), "Model", f"{which} (kernel)", f"{which} (linear)",
              "test UA", f"test UA - {TITLES[REFERENCE]} [95 % interval]")  # fmt: skip
    return markdown_table(header, rows) + f"\n\nChance: {chance} %."


def invariance_scope(summaries: Mapping[str, dict[str, Any]]) -> str:
    """What the invariance table's probe measures, and what it cannot."""
    if HELD_OUT in probe_names(summaries):
        return (
            "The probe that decides is the **held-out** one: fitted on the utterances the "
            "encoder (and an eraser) trained on, scored on a slice of the same speakers' "
            "utterances neither ever saw (`train.probe_holdout`), within each gender and "
            "emotion-balanced. This is identity that generalises to new speech of those "
            "speakers: what an adversary fooled during training can leave (Elazar & Goldberg "
            "2018) and what an eraser fitted on other utterances may not remove. Regimes are "
            "ranked by its kernel probe's mean, lowest first."
        )
    return (
        "**No utterances were held out (`train.probe_holdout: 0`, the paper's protocol), so "
        "this table shows the in-sample speaker probe and ranks nothing.** Its utterances "
        "are ones the encoder trained on, and the erasers were fitted on them (with their "
        "speed copies): an eraser makes the speakers' mean embeddings equal there, so a "
        "cross-validated probe on them can score *below* chance, and an adversary was "
        "fooled on them. For the measure that decides: `dvc exp run -S "
        "train.probe_holdout=0.2` (docs/experiments.md)."
    )


def paper_tables() -> tuple[str, str]:
    t2 = markdown_table(
        TABLE2_HEADER, [[TITLES[r], *(f"{x:.2f}" for x in v)] for r, v in PAPER_TABLE2.items()]
    )
    t3 = markdown_table(
        ("Model", *TABLE3_KEYS),
        [[TITLES[r], *(f"{x:.2f}" for x in v)] for r, v in PAPER_TABLE3.items()],
    )
    return t2, t3


def compare(folds: Mapping[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Every comparison of COMPARISONS on every measure of COMPARED_MEASURES that some run
    has: one family.

    Keyed ``"<a>-<b>"`` then by measure, each a ``Paired`` as a dict (for the metrics file)
    with its Holm-adjusted p over the family, or None where the measure exists in no run
    (a probe with too few utterances to run).
    """
    tables = {r: pd.DataFrame(rows) for r, rows in folds.items()}
    share = held_out_share(next(iter(tables.values())))
    # a measure no run has (the held-out probe without train.probe_holdout) is no test
    measured = [m for m in COMPARED_MEASURES if any(m in t for t in tables.values())]
    keys = [(a, b, m) for a, b in COMPARISONS for m in measured]

    def one(a: str, b: str, measure: str) -> Paired | None:
        if measure not in tables[a] or measure not in tables[b]:
            return None
        differences = paired_differences(tables[a], tables[b], measure)
        return None if differences.empty else paired(differences, share)

    results = adjust_family([one(*key) for key in keys])
    found: dict[str, dict[str, Any]] = {f"{a}-{b}": {} for a, b in COMPARISONS}
    for (a, b, measure), result in zip(keys, results, strict=True):
        found[f"{a}-{b}"][measure] = None if result is None else result.as_dict()
    return found


def family_size(comparisons: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(stat is not None for measures in comparisons.values() for stat in measures.values())


def reading(a: str, stat: Mapping[str, Any], family: int) -> str:
    """What a comparison allows: a direction only when its interval excludes 0, confirmed
    only when the family-wise (Holm) test of the corrected t agrees. Where the
    distribution-free sign-flip test could not go below alpha at this number of sessions, it
    says so of that test alone: the corrected t's Holm p has no such floor."""
    result = Paired(**stat)
    if result.direction == 0:
        return "not distinguishable"
    said = f"{TITLES[a]} {'higher' if result.direction > 0 else 'lower'}"
    if result.confirmed:
        return f"{said} (Holm-adjusted p = {result.p_adjusted:.3g} over {family} comparisons)"
    floor = sign_flip_floor(result.sessions)
    caveat = (
        f"; the sign-flip test alone cannot go below p = {floor:.3g} with {result.sessions} "
        "sessions"
        if floor >= ALPHA else ""
    )  # fmt: skip
    return (
        f"{said} by the interval only, not confirmed (Holm-adjusted p = "
        f"{result.p_adjusted:.3g} over {family} comparisons){caveat}"
    )


def verdict(a: str, b: str, measure: str, stat: Mapping[str, Any] | None, family: int) -> str:
    """One sentence, from the numbers: the difference, its interval, p and what they allow."""
    if stat is None:
        return f"{TITLES[a]} vs {TITLES[b]}: no {COMPARED_MEASURES[measure]} in any run."
    head = f"{TITLES[a]} vs {TITLES[b]}: {stat['mean']:+.1f} {COMPARED_MEASURES[measure]} points"
    if stat["low"] is None:
        return f"{head} (one session, so no interval): not distinguishable."
    interval = f"[{stat['low']:+.1f}, {stat['high']:+.1f}]"
    return f"{head} {interval}: {reading(a, stat, family)}."


def comparison_table(comparisons: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    family = family_size(comparisons)
    rows = []
    for pair, measures in comparisons.items():
        a, b = pair.split("-")
        for measure, stat in measures.items():
            rows.append([
                f"{TITLES[a]} - {TITLES[b]}", COMPARED_MEASURES[measure], with_interval(stat),
                _num(stat and stat["p"], 3), _num(stat and stat["p_adjusted"], 3),
                _num(stat and stat["p_sign_flip"], 3),
                reading(a, stat, family) if stat else "n/a",
            ])  # fmt: skip
    return markdown_table(
        ("Comparison", "Measure", "difference [95 % interval]", "p", "Holm p", "sign-flip p",
         "reading"), rows,
    )  # fmt: skip


def seed_plan_text(folds: Mapping[str, list[dict[str, Any]]]) -> str:
    """How many seeds the test-UA comparisons need, from their measured variance parts."""
    tables = {r: pd.DataFrame(rows) for r, rows in folds.items()}
    # seeds within a session (under the split protocol each seed is its own unit: none)
    seeds = min(int(t.groupby("session")["seed"].nunique().min()) for t in tables.values())
    sessions = min(t["session"].nunique() for t in tables.values())
    if seeds < 2 or sessions < 2:
        return (
            f"Not estimable from this run ({sessions} session(s), {seeds} seed(s) each): "
            "separating one seed's noise from the session-to-session spread needs at least 2 "
            "sessions with 2 seeds each (`train.seeds`)."
        )
    rows = []
    share = held_out_share(tables[REFERENCE])
    for a, b in COMPARISONS:
        differences = paired_differences(tables[a], tables[b], "ua_test")
        plan = seed_plan(differences, PLANNED_DIFFERENCE, share)
        low, high = plan.seeds_range
        rows.append([
            f"{TITLES[a]} - {TITLES[b]}",
            f"{plan.between:.2f}" + (" (at its bound)" if plan.between_at_zero else ""),
            f"{plan.seed:.2f}", _seeds(plan.seeds), f"{_seeds(low)} to {_seeds(high)}",
        ])  # fmt: skip
    table = markdown_table(
        ("Comparison (test UA)", "sd between sessions", "sd of one seed",
         f"seeds for {PLANNED_DIFFERENCE:g} points", "at the ends of the seed sd's 95 % interval"),
        rows,
    )  # fmt: skip
    return (
        f"Seeds per session for the corrected t-test that confirms comparisons (the "
        f"intervals' own: {1 + share * sessions:.3g}x a plain paired t's variance here) over "
        f"these {sessions} sessions to detect a "
        f"{PLANNED_DIFFERENCE:g}-point test-UA difference (two-sided alpha = {ALPHA}, power "
        f"{POWER:.0%}), from a random-effects split of each difference's variance measured "
        'here. More seeds shrink only the seed part; "none suffices" means the '
        "between-session spread alone is too large for this many sessions. The exact "
        f"sign-flip test over {sessions} sessions cannot go below p = "
        f"{sign_flip_floor(sessions):.3g} whatever the seeds. The answer is itself uncertain: "
        "the last column recomputes it at both ends of the 95 % interval of one seed's sd "
        '(chi-square); "at its bound" marks a between-session sd that these sessions cannot '
        "estimate (its estimate fell to 0), where every count is a lower bound.\n\n"
        f"{table}"
    )


def _seeds(count: int | None) -> str:
    return "none suffices" if count is None else str(count)


def fold_table(folds: Mapping[str, list[dict[str, Any]]]) -> str:
    """Per fold, the mean over its seeds: test UA and cross-corpus accuracy per regime."""
    header = ["Fold", "Val spk", "Test spk", "Seeds"]
    header += [f"{TITLES[r]} UA test / cross-corpus" for r in folds]
    keys = ["fold", "val_speaker", "test_speaker"]
    means = {
        r: pd.DataFrame(rows)
        .groupby(keys)[["ua_test", "cross_corpus", "seed"]]
        .agg({"ua_test": "mean", "cross_corpus": "mean", "seed": "nunique"})
        for r, rows in folds.items()
    }
    first = next(iter(means.values()))
    rows = []
    for key, line in first.iterrows():
        row = [*key, int(line["seed"])]
        row += [f"{m.loc[key, 'ua_test']:.1f} / {m.loc[key, 'cross_corpus']:.1f}"
                for m in means.values()]  # fmt: skip
        rows.append(row)
    return markdown_table(header, rows)


def confusion_table(rows: Sequence[Mapping[str, str]]) -> str:
    """Counts with actual classes as rows, predicted classes as columns, recall per row."""
    frame = pd.DataFrame(list(rows), columns=["actual", "predicted"])
    counts = pd.crosstab(frame["actual"], frame["predicted"]).reindex(
        index=list(EMOTIONS), columns=list(EMOTIONS), fill_value=0
    )
    body = []
    for actual, line in counts.iterrows():
        total = int(line.sum())
        recall = f"{100 * line[actual] / total:.1f}" if total else "n/a"
        body.append([actual, *(int(x) for x in line), recall])
    return markdown_table(("actual \\ predicted", *EMOTIONS, "recall %"), body)


def data_line(params: Mapping[str, Any]) -> str:
    """Which corpus is the synthetic demo and which is real, for the report's headline."""
    train, cross = params["train_corpus"], params["cross_corpus"]
    demo = {
        name: str(params["corpora"][name]["root"]).startswith(DEMO_ROOT) for name in (train, cross)
    }
    if demo[train] and demo[cross]:
        return (
            "**Data: the synthetic demo corpora**, for training and cross-corpus. These numbers "
            "show that the pipeline works; they say nothing about IEMOCAP or CMU-MOSEI."
        )
    if demo[cross]:
        return (
            f"**Data: training corpus `{train}` is real; the cross-corpus set `{cross}` is the "
            "synthetic demo**, so Table 3 says nothing about CMU-MOSEI."
        )
    if demo[train]:
        return (
            f"**Data: training corpus `{train}` is the synthetic demo**, so Table 2 and the "
            f"probes say nothing about IEMOCAP; the cross-corpus set `{cross}` is real."
        )
    return "**Data: the corpora named below, both real.**"


def _speaker_scope(summaries: Mapping[str, dict[str, Any]]) -> str:
    """Whose utterances the speaker probe scored: in-sample, and held out where it ran."""
    if HELD_OUT in probe_names(summaries):
        return (
            "Its utterances are ones the encoder trained on (in-sample). **Speaker, held-out "
            "utterances** asks the same of a slice of each training speaker's utterances kept "
            "out of training (`train.probe_holdout`), with a probe fitted on the trained-on "
            "ones: identity that generalises to speech the encoder never saw."
        )
    return (
        "Its utterances are ones the encoder trained on (**in-sample**: MEnAN pushed exactly "
        "these to a uniform adversary output); `train.probe_holdout` > 0 keeps a slice out of "
        "training and adds the probe on unseen utterances."
    )


PROTOCOL_WORDS = {
    "leave_one_speaker_out": "leave-one-speaker-out folds (validation: the next speaker of "
    "the other gender)",
    "speaker_kfold": "speaker-disjoint folds of gender-balanced speaker groups (validation: "
    "the next group)",
}


def protocol_text(protocol: str, first: Mapping[str, Any], models: int) -> str:
    """How the results were produced and what the intervals treat as independent."""
    sessions, seeds, runs = first["sessions"], first["seeds"], first["runs"]
    if protocol == "sessions":
        return (
            f"Protocol: **sessions** (the paper's). Every regime was trained on {first['folds']} "
            f"folds of {sessions} sessions with {seeds} seed(s). One training run per session "
            f"and seed serves both folds of that session, so the {models} (fold, seed) results "
            f"come from **{runs} independent training runs**, and all seeds of a session are "
            "scored on the same two speakers. The independent unit is the **session**: every "
            "value below is the mean over sessions of each session's mean over its folds and "
            "seeds. Sessions are not independent either: any two share most of their training "
            "speakers (6 of 8 on IEMOCAP). So `[low, high]` is a 95 % **corrected** resampled "
            f"t-interval over the {sessions} session values (Nadeau & Bengio 2003; 1.5x as wide "
            "as a plain t-interval on IEMOCAP); it covers the variability of training runs and "
            "of the speakers scored, not which speakers the corpus happens to have (n/a with "
            "one session)."
        )
    if protocol == "split":
        return (
            "Protocol: **split**, the corpus's own train / validation / test partition, one "
            f"fold trained with {seeds} seed(s): {runs} training runs on the same data. The "
            "independent unit is the **seed** (below, a 'session' is one seed): `[low, high]` "
            f"is a plain 95 % t-interval over the {sessions} seed values. It covers training "
            "randomness only, never which speakers the test split holds (n/a with one seed)."
        )
    unit = "test speaker" if protocol == "leave_one_speaker_out" else "speaker group"
    return (
        f"Protocol: **{protocol}**, {first['folds']} {PROTOCOL_WORDS[protocol]}, with "
        f"{seeds} seed(s): {runs} independent training runs. The independent unit is the "
        f"**{unit}** (below, a 'session' is one {unit}): every value is the mean over the "
        f"{sessions} {unit}s of each one's mean over seeds. Their folds share most of their "
        "training speakers, so `[low, high]` is a 95 % **corrected** resampled t-interval "
        f"(Nadeau & Bengio 2003, with the {unit}'s own speakers over the training speakers: a "
        f"{unit} scores only its test side); it covers training runs and the speakers scored, "
        "not which speakers the corpus happens to have."
    )


def render(
    summaries: Mapping[str, dict[str, Any]],
    folds: Mapping[str, list[dict[str, Any]]],
    comparisons: Mapping[str, Mapping[str, Mapping[str, Any]]],
    confusions: Mapping[str, Sequence[Mapping[str, str]]],
    params: Mapping[str, Any],
    figures: Mapping[str, str],
    tsne_caption: str,
    protocol: str = "sessions",
) -> str:
    """The whole report as Markdown. ``protocol``: how the folds were cut
    (:mod:`pipeline.data.folds`), which decides what the statistics treat as independent."""
    train, cross = params["train_corpus"], params["cross_corpus"]
    roots = {name: params["corpora"][name]["root"] for name in (train, cross)}
    paper2, paper3 = paper_tables()
    first = next(iter(summaries.values()))
    sessions, runs = first["sessions"], first["runs"]
    models = len(next(iter(folds.values())))
    splits = params["evaluate"]["probe_splits"]
    margin = params["evaluate"]["equivalence_margin"]
    family = family_size(comparisons)
    sections = [
        "# MEnAN: results",
        "Generated by the DVC stage `report` (`dvc repro`); do not edit by hand.",
        data_line(params),
        f"Training corpus `{train}` ({roots[train]}), cross-corpus set `{cross}` "
        f"({roots[cross]}). All accuracies in %.",
        "## How to read the numbers",
        protocol_text(protocol, first, models),
        "## Paired comparisons",
        "\n".join(
            f"- {verdict(*pair.split('-'), 'ua_test', stats['ua_test'], family)}"
            for pair, stats in comparisons.items()
        ),
        f"The {family} comparisons of the table below are one family. Each difference is "
        "taken between runs of the same fold and seed and averaged per session; `p` is the "
        "corrected t-test's, `Holm p` the same adjusted for the family (Holm 1979), and a "
        f"comparison reads *higher* or *lower* as confirmed only when its Holm p < {ALPHA}. "
        "A difference whose interval excludes 0 without that is reported as not confirmed. "
        "The exact sign-flip test over sessions (`sign-flip p`) assumes no distribution, "
        f"but with {sessions} sessions it cannot go below p = {sign_flip_floor(sessions):.3g}.",
        comparison_table(comparisons),
        "### Seeds needed",
        seed_plan_text(folds),
        "## Speaker identity left, and what removing it cost",
        "How well a fresh speaker probe still tells each regime's training speakers apart "
        "from its embedding v (lower: less identity left; the erasers' v is the erased one "
        "the emotion classifier reads), beside its test UA and its paired test-UA "
        "difference from EC only. "
        + invariance_scope(summaries)
        + " Each probe cell's verdict is Holm-adjusted over the probe table below; each UA "
        f"difference is one of the {family} comparisons above. Two regimes whose probe "
        "intervals overlap are not shown apart by it.",
        invariance_table(summaries, comparisons, margin),
        "## Table 2: within-corpus accuracy (mean [95 % interval] over sessions)",
        table2(summaries),
        delta_note(protocol, next(iter(folds.values()))),
        "Reference, **the paper's published Table 2 (IEMOCAP)**, not produced here:",
        paper2,
        "## What the embedding still tells (probes)",
        "Fresh classifiers on the frozen embeddings v: a logistic regression and an RBF-kernel "
        "SVM (the adversaries are nonlinear, so a linear probe alone can under-report; both "
        "are convex, so their fit does not depend on a random start; their solvers stop at a "
        "tolerance, so another machine may differ in the last digits). Mean "
        f"[95 % interval] over sessions, and each against chance: *above chance* (one-sided "
        f"corrected t), *within ±{margin:g} of chance* (equivalence by two one-sided tests), "
        f"or *inconclusive*; each verdict at a Holm-adjusted p < {ALPHA} over all "
        f"{probe_tests(summaries)} cells of the table (one family per verdict), so a cell "
        "reads above chance only where the table as a whole allows it.",
        "- **Speaker**: which of the fold's *training* speakers spoke (the speakers the "
        "adversary fought), asked within each gender on a subsample where every speaker has "
        "the same number of utterances of each emotion, by stratified "
        f"{splits}-way cross-validation: chance is one over the speakers of a gender. "
        + _speaker_scope(summaries)
        + "\n- **Gender** (speaker-disjoint): fitted on the training speakers, scored on the "
        f"fold's {UNSEEN[protocol]}, emotion-balanced (n/a where the corpus records no "
        "gender).\n"
        "- **Emotion**: the emotion of the unseen speakers' utterances (what v should keep).\n"
        "- **Input features (control)**: the same probes on each utterance's pooled input "
        f"features ({CONTROL_INPUT[params['features']['frontend']]}). They carry speaker and "
        "gender plainly, so "
        "this row shows the probes can find them; a probe at chance on v means something only "
        "beside a control above it.",
        probe_table(summaries, margin),
        f"## Table 3: cross-corpus accuracy on `{cross}`",
        (SINGLE_LABEL_RULE if single_label_cross(summaries) else MULTI_LABEL_RULE)
        + "Mean over sessions with two intervals: over "
        "sessions (training variability only: every model scores the same segments), and "
        "over sessions and segments (the corrected t's session part plus the segments' "
        "spread: how much the score also depends on which segments the set holds). Min and "
        "max over the "
        f"{models} (fold, seed) models, which come from {runs} independent runs.",
        table3(summaries),
        "Reference, **the paper's published Table 3 (CMU-MOSEI)**, not produced here:",
        paper3,
        "## Per fold (mean over seeds)",
        fold_table(folds),
        "## Confusion matrices (test speakers, summed over folds and seeds)",
    ]
    for regime, rows in confusions.items():
        sections += [f"### {TITLES[regime]}", confusion_table(rows)]
    sections += [
        "## Figures",
        f"![t-SNE]({figures['tsne']})",
        tsne_caption,
        f"![Training curves]({figures['curves']})",
        "## Parameters",
        "```yaml\n" + yaml.safe_dump(dict(params), sort_keys=False).rstrip() + "\n```",
    ]
    return "\n\n".join(sections) + "\n"
