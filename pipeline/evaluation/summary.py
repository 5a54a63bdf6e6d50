"""A regime's evaluation folder, ``data/eval/<regime>/``: its files, its one writer and readers,
and the few numbers DVC shows by default (what `dvc exp show` and `dvc metrics diff` list).

The folder holds ``folds.json`` (one score row per (fold, seed) run), ``cross_corpus.parquet``
(every model's hit per cross-corpus segment) and ``summary.json``
(:class:`EvalSummary`). The evaluation stage writes them through :func:`write_evaluation`;
the report and the model card read them through :func:`read_folds` and
:func:`read_summary`, never by file name.

Everything an evaluation computes (intervals, every probe, controls, sizes, p-values) is in
the regime's summary, ``reports/results/<regime>.json``, which the report reads and git
tracks. The declared metrics are only the paper's headline per regime, as means over the
sessions in %, at one decimal: with intervals ten points wide, a second decimal is noise,
and `dvc metrics diff` should list a change, not the float rounding of another machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

import pandas as pd

from pipeline.runtime.atomic import atomic_path, write_json
from pipeline.runtime.errors import PathError

HEADLINE = {
    "test_ua": ("within", "ua_test"),
    "test_wa": ("within", "wa_test"),
    "delta_ua": ("within", "ua_delta"),
    "delta_wa": ("within", "wa_delta"),
    "cross_corpus": ("cross_corpus",),
    "cross_ua": ("cross_corpus_ua",),
    "speaker_probe": ("probe", "speaker_kernel"),
    "speaker_probe_heldout": ("probe", "speaker_heldout_kernel"),
}
"""Metric name: where its summary sits in the regime's evaluation summary. Δ is test minus
validation (the paper's Table 2); ``cross_corpus`` is the cross-corpus accuracy (WA on a
single-label set), ``cross_ua`` its UA, only on a single-label set; the speaker probe is
the kernel one, whose optimum is unique, so it is the same on any machine for the same
embeddings; ``speaker_probe_heldout`` is the same probe on utterances kept out of training,
only with ``train.probe_holdout`` (the report's invariance measure)."""
DECIMALS = 1
EVAL_SUMMARY = "summary.json"
"""The regime's whole evaluation summary in its evaluation folder (``data/eval/<regime>/``),
which the headline is taken from; the report stage publishes it in git as
``reports/results/<regime>.json``."""
EVAL_FOLDS = "folds.json"
EVAL_CROSS = "cross_corpus.parquet"


class EvalSummary(TypedDict):
    """``summary.json``: a regime's table row (written by
    :func:`pipeline.evaluation.regime.summarize`). Each score is ``{"mean", "low", "high",
    ...}`` over the protocol's units; a measure that could not be computed is None."""

    folds: int
    seeds: int
    sessions: int  # the protocol's independent units
    runs: int
    intervals: str  # how the intervals were made
    within: dict[str, Any]  # WA and UA on validation and test, and their Δ
    cross_corpus: dict[str, Any]
    cross_corpus_ua: dict[str, Any] | None
    probe: dict[str, Any]  # per probe and probe model
    chance: dict[str, float | None]
    size: dict[str, Any]
    control: dict[str, Any]  # the probes on an untrained network
    control_chance: dict[str, float | None]


def write_evaluation(
    out_dir: Path, folds: list[dict[str, Any]], crosses: pd.DataFrame, summary: Mapping[str, Any]
) -> None:
    """The evaluation folder, replaced as a whole (a failed stage leaves the old one)."""
    with atomic_path(out_dir, replace_dir=True) as tmp:
        tmp.mkdir()
        (tmp / EVAL_FOLDS).write_text(json.dumps(folds, indent=2) + "\n")
        crosses.to_parquet(tmp / EVAL_CROSS, index=False)
        write_json(tmp / EVAL_SUMMARY, summary)


def read_summary(path: Path) -> EvalSummary:
    """``summary.json`` of an evaluation folder (or the file itself); a clear error naming
    the file where a key the readers need is missing."""
    path = path / EVAL_SUMMARY if path.is_dir() else path
    summary = json.loads(path.read_text())
    missing = [k for k in EvalSummary.__annotations__ if k not in summary]
    if missing:
        raise PathError(path, f"not an evaluation summary of this version: no {missing}")
    return summary


def read_folds(eval_dir: Path) -> list[dict[str, Any]]:
    """``folds.json`` of an evaluation folder: one score row per (fold, seed) run."""
    return json.loads((eval_dir / EVAL_FOLDS).read_text())


def headline(summary: Mapping[str, Any]) -> dict[str, float]:
    """The regime's headline means from its evaluation summary; a measure not computed (a
    probe too small to fit, UA on a multi-label set) is left out."""
    values: dict[str, float] = {}
    for name, path in HEADLINE.items():
        node: Any = summary
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        mean = node.get("mean") if isinstance(node, Mapping) else None
        if mean is not None:
            values[name] = round(float(mean), DECIMALS)
    return values
