"""DVC stages `release_<regime>`: one network per regime on every speaker, with its model card.

Usage: python -m stages.release REGIME LABELS FEATURES SPEED_FEATURES TRAIN_DIR EVAL_SUMMARY
       OUT_DIR

Reads the regime's cross-validation runs (TRAIN_DIR, for the epochs to train) and its
evaluation summary (EVAL_SUMMARY, ``data/eval/<regime>/summary.json``, for the card);
writes OUT_DIR (``models/<regime>``): ``model.pt`` and ``model_card.md``.
See :mod:`pipeline.release`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline import device, feature_store, label_table, model_card, run_files
from pipeline.atomic import atomic_path
from pipeline.cli import log, run_stage
from pipeline.frame_cache import CACHE_DIR, open_frames
from pipeline.params import load_params
from pipeline.regimes import USES_LAMBDA
from pipeline.release import EPOCH_RULE, train_release
from pipeline.training.config import TrainConfig

CARD = "model_card.md"


def main(argv: list[str]) -> None:
    regime, labels_path, features, speed, train_dir, summary, out_dir = argv
    params = load_params()
    config = TrainConfig.for_regime(params, regime)
    device.prepare_training()
    store = open_frames([Path(features), Path(speed)], CACHE_DIR)
    labels = pd.read_parquet(labels_path)
    released = train_release(store, labels, regime, config, Path(train_dir))
    feature_settings = feature_store.read_metadata(features)
    settings = params.section("train", *(["lambda"] if regime in USES_LAMBDA else []))
    payload = run_files.model_payload(
        released.state, regime, released.seed, config.model_dump(), released.speakers,
        released.mean, released.std, feature_settings,
        release={"epochs": released.epochs, "rule": EPOCH_RULE, "selected": released.selected,
                 "curve": released.curve},
    )  # fmt: skip
    card = model_card.render(
        regime, released, settings, labels, label_table.read_metadata(labels_path)["corpus"],
        feature_settings, json.loads(Path(summary).read_text()),
    )  # fmt: skip
    with atomic_path(out_dir, replace_dir=True) as tmp:
        tmp.mkdir()
        run_files.write_torch(tmp / run_files.MODEL, payload)
        (tmp / CARD).write_text(card)
    log.info("%s: released after %d epochs on %d speakers -> %s", regime, released.epochs,
             len(released.speakers), out_dir)  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
