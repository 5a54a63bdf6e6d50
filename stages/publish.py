"""DVC stage `publish@<regime>`: the released model folder a user loads, with its model card.

Usage: python -m stages.publish REGIME RELEASE_DIR LABELS EVAL_DIR OUT_DIR

Copies the network of RELEASE_DIR (``data/release/<regime>/model.pt``, written by
`release@<regime>`) byte for byte and renders the card from what it records, the training
labels (LABELS) and the regime's evaluation summary (in EVAL_DIR); writes OUT_DIR
(``models/<regime>``): ``model.pt`` and ``model_card.md``. Only text and a copy happen
here: a sentence edited in :mod:`pipeline.reporting.model_card` re-runs this stage alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from pipeline.data import labels as label_table
from pipeline.evaluation.summary import read_summary
from pipeline.model import run_files
from pipeline.params import load_params
from pipeline.regimes import params_read
from pipeline.reporting import model_card
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.stage import log, run_stage


def main(argv: list[str]) -> None:
    regime, release_dir, labels_path, eval_dir, out_dir = argv
    params = load_params()
    saved = run_files.read_model(Path(release_dir))
    # the adversary's settings where they are not the paper's (as the model records them)
    keys = [k for k in params_read(regime)
            if not k.startswith("adversary") or "adversary" in saved["config"]]  # fmt: skip
    settings = params.section(*keys)
    corpus = label_table.read_metadata(labels_path)
    card = model_card.render(
        regime, saved["release"], saved["seed"], settings, pd.read_parquet(labels_path),
        corpus["corpus"], corpus["format"], saved["features"], read_summary(Path(eval_dir)),
        params.augment.speeds, saved.get("erasure"),
    )  # fmt: skip
    with atomic_path(out_dir, replace_dir=True) as tmp:
        tmp.mkdir()
        shutil.copyfile(run_files.model_file(release_dir), tmp / run_files.MODEL)
        (tmp / model_card.CARD).write_text(card)
    log.info("%s: model and card -> %s", regime, out_dir)


if __name__ == "__main__":
    run_stage(main)
