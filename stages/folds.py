"""DVC stage `folds`: the speaker-disjoint folds of the training corpus (params.yaml `folds`).

Usage: python -m stages.folds LABELS_PARQUET OUT_JSON
"""

from __future__ import annotations

from pipeline.data import labels as label_table
from pipeline.data.folds import choose_protocol, make_folds, write_folds
from pipeline.params import load_params
from pipeline.runtime.stage import log, run_stage


def main(argv: list[str]) -> None:
    labels_path, out = argv
    settings = load_params().folds
    labels = label_table.read(labels_path)
    protocol = choose_protocol(labels, settings.protocol)
    folds = make_folds(labels, protocol, settings.k, settings.seed)
    write_folds(out, folds)
    log.info("%s (%s): %d folds, %d speakers -> %s", protocol, settings.protocol, len(folds),
             labels["speaker"].nunique(), out)  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
