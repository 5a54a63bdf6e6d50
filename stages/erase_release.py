"""DVC stages `erase_release@<regime>`: an erasure regime's released network.

Usage: python -m stages.erase_release REGIME LABELS FEATURES SPEED_FEATURES BASE_RELEASE_DIR
       TRAIN_DIR OUT_DIR

The base regime's released network (BASE_RELEASE_DIR, trained on every speaker), an eraser
fitted on every speaker's training utterances, and the emotion classifier retrained for the
epochs this regime's cross-validation runs (TRAIN_DIR) chose
(:func:`pipeline.training.erasure.erase_release`); writes OUT_DIR
(``data/release/<regime>``): ``model.pt``, for `publish@<regime>` as every regime's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.features.frame_cache import CACHE_DIR, open_frames
from pipeline.model import run_files
from pipeline.model.scoring import DeviceFrames
from pipeline.params import load_params
from pipeline.regimes import ERASED
from pipeline.runtime import device
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.errors import ConfigError, ModelError
from pipeline.runtime.stage import log, run_stage
from pipeline.training.erasure import erase_release
from pipeline.training.release import EPOCH_RULE, chosen_epochs


def main(argv: list[str]) -> None:
    regime, labels_path, features, speed, base_release, train_dir, out_dir = argv
    if regime not in ERASED:
        raise ConfigError(f"unknown erasure regime {regime!r}; one of {', '.join(ERASED)}")
    params = load_params()
    device.prepare_training()
    store = open_frames([Path(features), Path(speed)], CACHE_DIR)
    frames = DeviceFrames(store, device.resolve(params.device))
    source = run_files.model_file(base_release)
    base = run_files.read_model(source)
    if "release" not in base:
        raise ModelError(source, "not a released model (no release record): give the base "
                         "regime's data/release/<regime> folder")  # fmt: skip
    epochs, selected = chosen_epochs(Path(train_dir))
    released = erase_release(regime, base, source, store, frames, pd.read_parquet(labels_path),
                             params.erase, epochs)  # fmt: skip
    release = {"epochs": epochs, "rule": EPOCH_RULE, "selected": selected,
               "curve": released.curve, "base_epochs": base["release"]["epochs"]}  # fmt: skip
    payload = run_files.model_payload(
        released.state, regime, base["seed"], base["config"], base["train_speakers"],
        base["mean"].numpy(), base["std"].numpy(), base["features"], released.erasure,
        release=release,
    )  # fmt: skip
    with atomic_path(out_dir, replace_dir=True) as tmp:
        tmp.mkdir()
        run_files.write_torch(tmp / run_files.MODEL, payload)
    log.info("%s: released with the eraser fitted on %d utterances of %d speakers, the "
             "classifier trained %d epochs -> %s", regime,
             released.erasure["fitted_on"]["utterances"], len(base["train_speakers"]), epochs,
             out_dir)  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
