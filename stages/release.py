"""DVC stage `release@<regime>`: the regime's network trained once more, on every speaker.

Usage: python -m stages.release REGIME LABELS FEATURES SPEED_FEATURES TRAIN_DIR OUT_DIR

Reads the regime's cross-validation runs (TRAIN_DIR, for the epochs to train); writes
OUT_DIR (``data/release/<regime>``): ``model.pt``. The model card is rendered by the
`publish@<regime>` stage, so editing the card's text never retrains this network.
See :mod:`pipeline.training.release`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.features import store as feature_store
from pipeline.features.frame_cache import CACHE_DIR, open_frames
from pipeline.model import run_files
from pipeline.params import load_params
from pipeline.runtime import device
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.stage import log, run_stage
from pipeline.training.config import TrainConfig
from pipeline.training.release import EPOCH_RULE, train_release


def main(argv: list[str]) -> None:
    regime, labels_path, features, speed, train_dir, out_dir = argv
    config = TrainConfig.for_regime(load_params(), regime)
    device.prepare_training()
    store = open_frames([Path(features), Path(speed)], CACHE_DIR)
    released = train_release(store, pd.read_parquet(labels_path), regime, config,
                             Path(train_dir))  # fmt: skip
    payload = run_files.model_payload(
        released.state, regime, released.seed, config.model_dump(), released.speakers,
        released.mean, released.std, feature_store.read_metadata(features),
        release={"epochs": released.epochs, "rule": EPOCH_RULE, "selected": released.selected,
                 "curve": released.curve},
    )  # fmt: skip
    with atomic_path(out_dir, replace_dir=True) as tmp:
        tmp.mkdir()
        run_files.write_torch(tmp / run_files.MODEL, payload)
    log.info("%s: released after %d epochs on %d speakers -> %s", regime, released.epochs,
             len(released.speakers), out_dir)  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
