"""DVC stages `train@<regime>`: train one regime on every fold (and seed) of the training corpus.

Usage: python -m stages.train REGIME LABELS FEATURES SPEED_FEATURES FOLDS OUT_DIR PLOT
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.params import load_params
from pipeline.runtime.stage import log, run_stage
from pipeline.training.config import TrainConfig
from pipeline.training.driver import run_regime


def main(argv: list[str]) -> None:
    regime, labels, features, speed, folds, out_dir, plot = argv
    params = load_params()
    config = TrainConfig.for_regime(params, regime)
    summaries = run_regime(
        regime, config, Path(labels), [Path(features), Path(speed)], Path(folds), Path(out_dir),
        params.n_jobs, Path(plot),
    )  # fmt: skip
    mean = {k: sum(s[k] for s in summaries) / len(summaries) for k in ("val_ua", "test_ua")}
    log.info("%s: mean over %d (fold, seed) runs %s", regime, len(summaries), json.dumps(mean))


if __name__ == "__main__":
    run_stage(main)
