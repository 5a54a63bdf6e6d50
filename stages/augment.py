"""DVC stage `augment`: speed-perturbed copies of the training corpus, then the same features.

Usage: python -m stages.augment LABELS_PARQUET OUT_PARQUET
Copies are made for every utterance of the training corpus; the training stage uses them
only for the training speakers of each fold, never for validation or test.
"""

from __future__ import annotations

from pipeline.data import labels as label_table
from pipeline.features.extract import extract_table
from pipeline.params import load_params
from pipeline.runtime.stage import run_stage


def main(argv: list[str]) -> None:
    labels_path, out = argv
    params = load_params()
    speeds = params.augment.speeds
    labels = label_table.read(labels_path)
    corpus = label_table.read_metadata(labels_path)["corpus"]
    pitch_range = params.features.pitch_range
    extract_table(labels, out, speeds, pitch_range, params.n_jobs, {"corpus": corpus})


if __name__ == "__main__":
    run_stage(main)
