"""DVC stage `augment`: speed-perturbed copies of the training corpus, then the same features.

Usage: python -m stages.augment LABELS_PARQUET FRONTEND_JSON OUT_PARQUET
Copies are made for every utterance of the training corpus; the training stage uses them
only for the training speakers of each fold, never for validation or test. ``augment.speeds:
[]`` keeps none (an empty table), for a front end whose copies cost too much.
"""

from __future__ import annotations

from pipeline.features.extract import extract_labelled
from pipeline.params import load_params
from pipeline.runtime import device
from pipeline.runtime.stage import run_stage


def main(argv: list[str]) -> None:
    labels_path, frontend, out = argv
    params = load_params()
    where = device.check(params.device, "params.yaml device")
    device.prepare()  # the numerics every network here runs with (docs/gpu.md)
    extract_labelled(labels_path, out, params.augment.speeds, frontend, params.n_jobs, where)


if __name__ == "__main__":
    run_stage(main)
