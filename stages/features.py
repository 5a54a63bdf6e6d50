"""DVC stage `features@<corpus>`: the features of every labelled utterance, made by the
front end the `frontend` stage wrote down (the paper's 43 channels, or an SSL model's
hidden states).

Usage: python -m stages.features LABELS_PARQUET FRONTEND_JSON OUT_PARQUET
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
    extract_labelled(labels_path, out, [1.0], frontend, params.n_jobs, where)


if __name__ == "__main__":
    run_stage(main)
