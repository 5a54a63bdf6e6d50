"""The few numbers DVC shows by default: what `dvc exp show` and `dvc metrics diff` list.

Everything an evaluation computes (intervals, every probe, controls, sizes, p-values) is in
the regime's summary, ``reports/results/<regime>.json``, which the report reads and git
tracks. The declared metrics are only the paper's headline per regime, as means over the
sessions in %, at one decimal: with intervals ten points wide, a second decimal is noise,
and `dvc metrics diff` should list a change, not the float rounding of another machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

HEADLINE = {
    "test_ua": ("within", "ua_test"),
    "test_wa": ("within", "wa_test"),
    "delta_ua": ("within", "ua_delta"),
    "delta_wa": ("within", "wa_delta"),
    "cross_corpus": ("cross_corpus",),
    "cross_ua": ("cross_corpus_ua",),
    "speaker_probe": ("probe", "speaker_kernel"),
}
"""Metric name: where its summary sits in the regime's evaluation summary. Δ is test minus
validation (the paper's Table 2); ``cross_corpus`` is the cross-corpus accuracy (WA on a
single-label set), ``cross_ua`` its UA, only on a single-label set; the speaker probe is
the kernel one, whose optimum is unique, so it is the same on any machine for the same
embeddings."""
DECIMALS = 1
EVAL_SUMMARY = "summary.json"
"""The regime's whole evaluation summary in its evaluation folder (``data/eval/<regime>/``),
which the headline is taken from; the report stage publishes it in git as
``reports/results/<regime>.json``."""


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
