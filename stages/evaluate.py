"""DVC stages `evaluate@<regime>`: score one regime's folds within and across corpora.

Usage: python -m stages.evaluate TRAIN_DIR TRAIN_LABELS TRAIN_FEATURES CROSS_LABELS
       CROSS_FEATURES OUT_DIR METRICS CONFUSION

Writes per-(fold, seed) scores, cross-corpus predictions and the regime's summary with 95 %
intervals (OUT_DIR, ``summary.json`` in it), the headline means `dvc metrics` shows
(METRICS, :mod:`pipeline.evaluation.summary`) and the test predictions of every run as DVC
confusion-plot rows (CONFUSION). The training corpus is read for the speaker
probe, which embeds each fold's own training speakers. The models run on params.yaml's
`device`, where both corpora's frames are copied once.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.evaluation.regime import CrossCorpus, TrainingCorpus, evaluate_regime, summarize
from pipeline.evaluation.summary import headline, write_evaluation
from pipeline.params import load_params
from pipeline.runtime import device
from pipeline.runtime.atomic import write_json
from pipeline.runtime.stage import log, run_stage


def main(argv: list[str]) -> None:
    (
        train_dir, train_labels, train_features, cross_labels, cross_features, out_dir,
        metrics_path, confusion_path,
    ) = map(Path, argv)  # fmt: skip
    params = load_params()
    device.prepare()
    where = device.resolve(params.device)
    corpus = TrainingCorpus.load(train_labels, train_features, where)
    cross = CrossCorpus.load(cross_labels, cross_features, where)
    log.info("cross-corpus set: %d segments from %s; scoring on %s", len(cross.rows),
             cross_labels, where)  # fmt: skip
    folds, tests, crosses = evaluate_regime(train_dir, corpus, cross, params.evaluate)
    summary = summarize(folds, params.evaluate, crosses)
    write_evaluation(out_dir, folds, crosses, summary)
    write_json(metrics_path, headline(summary))
    write_json(
        confusion_path,
        [
            {"actual": a, "predicted": p}
            for a, p in zip(tests["label"], tests["predicted"], strict=True)
        ],
    )
    log.info("%s: test UA %s", train_dir.name, json.dumps(summary["within"]["ua_test"]))


if __name__ == "__main__":
    run_stage(main)
