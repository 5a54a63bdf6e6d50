"""DVC stages `erase@<regime>`: an erasure regime's (fold, seed) runs from its base regime's.

Usage: python -m stages.erase REGIME LABELS FEATURES SPEED_FEATURES FOLDS BASE_DIR OUT_DIR PLOT

For every finished run of the base regime (BASE_DIR, ``data/train/ec_only``): the eraser
fitted on the run's training speakers, the emotion classifier retrained on the erased
embeddings (:mod:`pipeline.training.erasure`); writes OUT_DIR (``data/train/<regime>``) in
the layout of every regime's training output and the curve file PLOT.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.data.folds import read_folds
from pipeline.features import store as feature_store
from pipeline.features.frame_cache import CACHE_DIR, open_frames
from pipeline.model import run_files
from pipeline.model.scoring import DeviceFrames
from pipeline.params import load_params
from pipeline.regimes import ERASED
from pipeline.runtime import device
from pipeline.runtime.atomic import atomic_path, write_json
from pipeline.runtime.errors import ConfigError
from pipeline.runtime.stage import log, run_stage
from pipeline.training import curves
from pipeline.training.erasure import erase_run


def main(argv: list[str]) -> None:
    regime, labels_path, features, speed, folds_path, base_dir, out_dir, plot = argv
    if regime not in ERASED:
        raise ConfigError(f"unknown erasure regime {regime!r}; one of {', '.join(ERASED)}")
    params = load_params()
    device.prepare_training()
    where = device.resolve(params.device)
    store = open_frames([Path(features), Path(speed)], CACHE_DIR)
    frames = DeviceFrames(store, where)
    labels = pd.read_parquet(labels_path)
    folds = {f["fold"]: f for f in read_folds(folds_path)}
    metadata = feature_store.read_metadata(features)
    runs = run_files.finished_runs(base_dir)
    scores = []  # each run's results, for the closing line
    try:
        with atomic_path(out_dir, replace_dir=True) as tmp:
            tmp.mkdir()
            for i, base_run in enumerate(runs, 1):
                summary = run_files.read_summary(base_run)
                fold, seed = folds[summary["fold"]], int(summary["seed"])
                result, config = erase_run(regime, base_run, fold, store, frames, labels,
                                           params.erase)  # fmt: skip
                run_files.write(run_files.run_dir(tmp, fold["fold"], seed), fold, seed, regime,
                                config, metadata, result)  # fmt: skip
                scores.append(result.results)
                log.info("%s run %d/%d (fold %d, seed %d): epoch %d of %d selected, val UA "
                         "%.3f, test UA %.3f", regime, i, len(runs), fold["fold"], seed,
                         result.results["selected_epoch"], params.erase.epochs,
                         result.results["val_ua"], result.results["test_ua"])  # fmt: skip
            # inside: a stage that fails from here on leaves neither output
            write_json(Path(plot), curves.aggregate(curves.run_rows(tmp)))
    except BaseException:
        Path(plot).unlink(missing_ok=True)
        raise
    mean = {k: sum(s[k] for s in scores) / len(scores) for k in ("val_ua", "test_ua")}
    log.info("%s: mean over %d (fold, seed) runs %s", regime, len(scores), json.dumps(mean))


if __name__ == "__main__":
    run_stage(main)
