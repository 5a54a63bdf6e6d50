"""Shared fixtures: a tiny demo corpus written once per session, and small audio helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.data.demo import TRUTH_FILE
from pipeline.data.demo.corpora import IEMOCAP_DIR, MOSEI_DIR, write_demo
from tests.helpers import TINY_DEMO


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny demo corpus (both layouts), shared read-only by the tests."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    write_demo(out, TINY_DEMO, n_jobs=1)
    return out


@pytest.fixture(scope="session")
def truth(demo_root: Path) -> dict[str, Any]:
    return json.loads((demo_root / TRUTH_FILE).read_text())


@pytest.fixture(scope="session")
def iemocap_root(demo_root: Path) -> Path:
    return demo_root / IEMOCAP_DIR


@pytest.fixture(scope="session")
def mosei_root(demo_root: Path) -> Path:
    return demo_root / MOSEI_DIR


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, iemocap_root: Path) -> dict[str, Any]:
    """A really trained run folder to score with: fold 0 of the tiny demo IEMOCAP, features
    from its WAVs, 2 epochs of EC-only; the crop covers the longest utterance, so every
    utterance is one window."""
    import torch

    from pipeline.data.corpora import prepare_corpus
    from pipeline.data.folds import make_folds
    from pipeline.features import store as feature_store
    from pipeline.features.extract import extract_table
    from pipeline.features.frame_cache import open_frames
    from pipeline.features.frontend import Paper43
    from pipeline.features.spec import PitchRange
    from pipeline.model import run_files
    from pipeline.training.config import TrainConfig
    from pipeline.training.pack import Run
    from pipeline.training.run import train_pack

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("model")
    labels, _ = prepare_corpus("iemocap", {"format": "iemocap", "root": str(iemocap_root)})
    features = tmp / "features.parquet"
    extract_table(labels, features, [1.0], Paper43(PitchRange()), 1, {"corpus": "iemocap"})
    store = open_frames([features], tmp / "cache")
    fold = make_folds(labels)[0]
    seconds = float(np.ceil(store.n_frames.max() / 100) + 1)
    cfg = TrainConfig(
        seeds=[3], epochs=2, batch_size=8, lr=3e-3, lr_decay_power=1.0, max_seconds=seconds,
        embedding="pooled", selection="best_val_ua", menan_sc_steps=1, pack=5, folds="all",
        probe_holdout=0, device="cpu", lam=None,
    )  # fmt: skip
    [[result]] = train_pack(store, labels, [Run(fold["session"], 3, (fold,))], "ec_only", cfg)
    run = run_files.run_dir(tmp / "train", 0, 3)
    run_files.write(run, fold, 3, "ec_only", cfg.model_dump(),
                    feature_store.read_metadata(features), result)  # fmt: skip
    return {"run": run, "labels": labels.set_index("utt_id"), "result": result, "tmp": tmp}
