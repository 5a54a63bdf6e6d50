"""DVC stage `features@<corpus>`: the 43-channel features of every labelled utterance.

Usage: python -m stages.features LABELS_PARQUET OUT_PARQUET
"""

from __future__ import annotations

from pipeline.data import labels as label_table
from pipeline.features.extract import extract_table
from pipeline.params import load_params
from pipeline.runtime.stage import run_stage


def main(argv: list[str]) -> None:
    labels_path, out = argv
    params = load_params()
    labels = label_table.read(labels_path)
    corpus = label_table.read_metadata(labels_path)["corpus"]
    pitch_range = params.features.pitch_range
    extract_table(labels, out, [1.0], pitch_range, params.n_jobs, {"corpus": corpus})


if __name__ == "__main__":
    run_stage(main)
