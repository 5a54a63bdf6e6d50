"""DVC stage `folds`: 10-fold leave-one-speaker-out folds of the training corpus.

Usage: python -m stages.make_folds LABELS_PARQUET OUT_JSON
"""

from __future__ import annotations

from pipeline import label_table
from pipeline.atomic import write_json
from pipeline.cli import log, run_stage
from pipeline.folds import make_folds


def main(argv: list[str]) -> None:
    labels_path, out = argv
    folds = make_folds(label_table.read(labels_path))
    write_json(out, folds)
    log.info("%d folds written to %s", len(folds), out)


if __name__ == "__main__":
    run_stage(main)
