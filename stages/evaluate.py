"""DVC stages `evaluate@<regime>`: score one regime's folds within and across corpora.

Usage: python -m stages.evaluate TRAIN_DIR CROSS_LABELS CROSS_FEATURES OUT_DIR METRICS CONFUSION

Writes per-fold scores and cross-corpus predictions (OUT_DIR), the regime's summary for
`dvc metrics show` (METRICS) and the test predictions of every fold as DVC confusion-plot
rows (CONFUSION).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.atomic import atomic_path, write_json
from pipeline.cli import log, run_stage
from pipeline.evaluation import CrossCorpus, evaluate_regime, summarize
from pipeline.params import load_params
from pipeline.training.config import resolve_device


def main(argv: list[str]) -> None:
    train_dir, labels, features, out_dir, metrics_path, confusion_path = map(Path, argv)
    settings = load_params()["evaluate"]
    cross = CrossCorpus.load(labels, features)
    log.info("cross-corpus set: %d segments from %s", len(cross.rows), labels)
    folds, tests, crosses = evaluate_regime(
        train_dir, cross, int(settings["probe_splits"]), int(settings["seed"]),
        resolve_device("auto"),
    )  # fmt: skip
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        (tmp / "folds.json").write_text(json.dumps(folds, indent=2) + "\n")
        crosses.to_parquet(tmp / "cross_corpus.parquet", index=False)
    summary = summarize(folds)
    write_json(metrics_path, summary)
    write_json(
        confusion_path,
        [
            {"actual": a, "predicted": p}
            for a, p in zip(tests["label"], tests["predicted"], strict=True)
        ],
    )
    log.info("%s: %s", train_dir.name, json.dumps(summary["within"]))


if __name__ == "__main__":
    run_stage(main)
