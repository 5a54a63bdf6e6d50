"""reports/report.md: the paper's section 6, rebuilt from the evaluation stages' outputs.

Pure text assembly: every number comes from ``metrics/eval/<regime>.json`` and
``data/eval/<regime>/folds.json``; the paper's published numbers are kept apart in
reference blocks, labelled as the paper's, so they can never be mistaken for ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import yaml

from pipeline import EMOTIONS
from pipeline.metrics import PROBE_KEYS, WITHIN_KEYS

TITLES = {"ec_only": "EC only", "multitask": "Multi-task", "dat": "DAT", "menan": "MEnAN"}

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

DELTA_NOTE = (
    "Both folds of a session train on the same eight speakers and differ only in which of "
    "the two held-out speakers selects the checkpoint, so the fold means of Val and Test "
    "run over the same ten speakers. Δ therefore measures how much checkpoint selection "
    "flatters the speaker it was selected on; a model with no selection step has Δ = 0 exactly."
)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pm(mean: float, std: float) -> str:
    return f"{mean:.2f} ± {std:.2f}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table2(summaries: Mapping[str, dict[str, Any]]) -> str:
    rows = [
        [TITLES[r], *(_pm(s["within"][k], s["within_std"][k]) for k in WITHIN_KEYS)]
        for r, s in summaries.items()
    ]
    return markdown_table(TABLE2_HEADER, rows)


def table3(summaries: Mapping[str, dict[str, Any]]) -> str:
    rows = [
        [TITLES[r], *(f"{s['cross_corpus'][k]:.2f}" for k in TABLE3_KEYS)]
        for r, s in summaries.items()
    ]
    return markdown_table(("Model", *TABLE3_KEYS), rows)


def probe_table(summaries: Mapping[str, dict[str, Any]]) -> str:
    rows = [[TITLES[r], *(_num(s["probe"][k]) for k in PROBE_KEYS)] for r, s in summaries.items()]
    header = ("Model", "Speaker probe", "chance", "Emotion probe", "chance")
    return markdown_table(header, rows)


def paper_tables() -> tuple[str, str]:
    t2 = markdown_table(
        TABLE2_HEADER, [[TITLES[r], *(f"{x:.2f}" for x in v)] for r, v in PAPER_TABLE2.items()]
    )
    t3 = markdown_table(
        ("Model", *TABLE3_KEYS),
        [[TITLES[r], *(f"{x:.2f}" for x in v)] for r, v in PAPER_TABLE3.items()],
    )
    return t2, t3


def fold_table(folds: Mapping[str, list[dict[str, Any]]]) -> str:
    """Per fold and seed: held-out speakers, then test UA and cross-corpus accuracy per regime."""
    first = next(iter(folds.values()))
    header = ["Fold", "Seed", "Val spk", "Test spk"]
    header += [f"{TITLES[r]} UA test / cross-corpus" for r in folds]
    rows = []
    for i, fold in enumerate(first):
        row = [fold["fold"], fold["seed"], fold["val_speaker"], fold["test_speaker"]]
        row += [f"{f[i]['ua_test']:.1f} / {f[i]['cross_corpus']:.1f}" for f in folds.values()]
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


def render(
    summaries: Mapping[str, dict[str, Any]],
    folds: Mapping[str, list[dict[str, Any]]],
    confusions: Mapping[str, Sequence[Mapping[str, str]]],
    params: Mapping[str, Any],
    figures: Mapping[str, str],
    tsne_caption: str,
) -> str:
    """The whole report as Markdown."""
    train, cross = params["train_corpus"], params["cross_corpus"]
    roots = {name: params["corpora"][name]["root"] for name in (train, cross)}
    demo = any("data/demo" in str(root) for root in roots.values())
    paper2, paper3 = paper_tables()
    n_folds = {s["folds"] for s in summaries.values()}
    n_seeds = {s["seeds"] for s in summaries.values()}
    sections = [
        "# MEnAN: results",
        "Generated by the DVC stage `report` (`dvc repro`); do not edit by hand.",
        (
            "**Data: the synthetic demo corpora.** These numbers show that the pipeline works; "
            "they say nothing about IEMOCAP or CMU-MOSEI."
            if demo
            else "**Data: the corpora named below.**"
        ),
        f"Training corpus `{train}` ({roots[train]}), cross-corpus set `{cross}` "
        f"({roots[cross]}); folds evaluated: {', '.join(map(str, sorted(n_folds)))}; "
        f"seeds per fold: {', '.join(map(str, sorted(n_seeds)))}. All accuracies in %.",
        "## Table 2: within-corpus accuracy (mean over folds and seeds ± std over folds)",
        table2(summaries),
        DELTA_NOTE,
        "Reference, **the paper's published Table 2 (IEMOCAP)**, not produced here:",
        paper2,
        "## Speaker information left in the embedding (probe)",
        f"A fresh logistic regression on the frozen embeddings v of each fold's two unseen "
        f"speakers, scored by stratified {params['evaluate']['probe_splits']}-way "
        "cross-validation within those utterances (mean over folds). Chance is the "
        "majority-class rate. A speaker probe far above chance means speaker identity is "
        "still linearly readable from v.",
        probe_table(summaries),
        f"## Table 3: cross-corpus accuracy on `{cross}` (mean, min, max over fold models)",
        "A prediction counts as correct when the predicted class was rated positive for the "
        "segment (neutral: all six ratings zero).",
        table3(summaries),
        "Reference, **the paper's published Table 3 (CMU-MOSEI)**, not produced here:",
        paper3,
        "## Per fold",
        fold_table(folds),
        "## Confusion matrices (test speakers, summed over folds)",
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
