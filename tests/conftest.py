"""Shared fixtures: a tiny demo corpus written once per session, and small audio helpers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml

from pipeline.demo.corpora import IEMOCAP_DIR, MOSEI_DIR, TRUTH_FILE, write_demo

REPO = Path(__file__).resolve().parents[1]

TINY_DEMO: dict[str, Any] = {
    "seed": 7,
    "iemocap": {
        "utterances_per_speaker": 6,
        "mean_seconds": 1.2,
        "long_utterances": 1,
        "short_utterances": 2,
    },
    "mosei": {"videos": 4, "segments_per_video": 3, "mean_seconds": 1.2},
}


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


def write_tone(path: Path, seconds: float, sample_rate: int = 16_000, f0: float = 150.0) -> Path:
    """A short harmonic tone, enough for a valid, non-empty WAV."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(2 * np.pi * f0 * t), sample_rate, subtype="PCM_16")
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """Path -> content hash of every file below root, to prove a folder was not touched."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def project_params(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project's own params.yaml with ``changes``: every stage checks the whole file."""
    return merged(yaml.safe_load((REPO / "params.yaml").read_text()), changes or {})


def write_params(folder: Path, changes: dict[str, Any] | None = None) -> Path:
    """The project's params.yaml with ``changes``, computing on the CPU unless they say."""
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(project_params({"device": "cpu", **(changes or {})})))
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, iemocap_root: Path) -> dict[str, Any]:
    """A really trained run folder to score with: fold 0 of the tiny demo IEMOCAP, features
    from its WAVs, 2 epochs of EC-only; the crop covers the longest utterance, so every
    utterance is one window."""
    import torch

    from pipeline import feature_store, run_files
    from pipeline.corpora import prepare_corpus
    from pipeline.extract import extract_table
    from pipeline.features import PitchRange
    from pipeline.folds import make_folds
    from pipeline.frame_cache import open_frames
    from pipeline.training.config import TrainConfig
    from pipeline.training.pack import Run
    from pipeline.training.run import train_pack

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("model")
    labels, _ = prepare_corpus("iemocap", {"format": "iemocap", "root": str(iemocap_root)})
    features = tmp / "features.parquet"
    extract_table(labels, features, [1.0], PitchRange(), 1, {"corpus": "iemocap"})
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
