"""What CUDA will run, checked on the CPU: loading never assumes CPU tensors, training steps
never copy from the host, and the prepared GPU check runs (its CPU parts) end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data.folds import make_folds
from pipeline.features.frame_store import FrameStore
from pipeline.features.spec import PitchRange, settings
from pipeline.model import run_files
from pipeline.model.network import EmotionSpeakerNet
from pipeline.model.scoring import FoldModel
from pipeline.regimes import TRAINED
from pipeline.training.driver import plan_runs
from pipeline.training.inputs import EpochTables
from pipeline.training.pack import Pack
from tests.helpers import REPO, host_copies, toy_config, toy_corpus


def _write_run(tmp: Path) -> tuple[Path, np.ndarray]:
    torch.manual_seed(0)
    net = EmotionSpeakerNet(4, 8)
    mean = np.linspace(-1, 1, 43, dtype=np.float32)
    result = run_files.FoldResult(
        state=net.state_dict(), mean=mean, std=mean + 2, predictions=pd.DataFrame({"a": [1]}),
        embeddings={"val": (np.array(["u"]), np.zeros((1, 96), np.float32))}, curve=[],
        results={"selected_epoch": 1},
    )  # fmt: skip
    fold = {"fold": 0, "session": "S", "train": [f"s{i}" for i in range(8)]}
    run = run_files.run_dir(tmp, 0, 1)
    features = settings(PitchRange())
    run_files.write(run, fold, 1, "menan", toy_config().model_dump(), features, result)
    return run, mean


def test_a_model_loads_onto_any_device_with_its_statistics_on_the_host(tmp_path: Path) -> None:
    """Loading straight onto a GPU made every evaluation crash at ``.numpy()``; PyTorch's meta
    device reproduces that class of failure without a GPU."""
    run, mean = _write_run(tmp_path)
    model = FoldModel.load(run, "meta")
    assert {p.device.type for p in model.net.parameters()} == {"meta"}
    np.testing.assert_array_equal(model.mean, mean)
    np.testing.assert_array_equal(model.std, mean + 2)
    assert model.max_frames == 50


@pytest.mark.parametrize("regime", TRAINED)
def test_a_training_step_never_copies_from_the_host(regime: str) -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    pack = Pack(store, labels, plan_runs(make_folds(labels), [3])[:2], regime, toy_config())
    orders = [r.rng.permutation(len(r.train.rows)) for r in pack.runs]
    tables = EpochTables([r.train for r in pack.runs], orders, 16, "cpu")
    sums = {k: torch.zeros(2) for k in pack.keys}
    with host_copies() as seen:
        for b in range(tables.steps):
            pack.step(tables, b, sums)
    assert seen == []


def _benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_training_benchmark_times_steps_without_host_copies() -> None:
    """It uploaded each step's batch indices, which a GPU waits for: the GPU step time it
    printed would have been the copy's, not the engine's."""
    bench = _benchmark("bench_training")
    step = bench.packed_step("menan", bench.synthetic_store(utterances=50), "cpu", runs=2)
    with host_copies() as seen:
        step()
        step()
    assert seen == []


def test_the_gpu_check_runs_its_cpu_parts_and_says_what_it_skipped(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no CUDA device: running the CPU parts only" in result.stdout
    found = json.loads((tmp_path / "gpu_check.json").read_text())
    assert list(found) == ["versions", "equality", "host_syncs", "toy_training", "frame_upload",
                           "throughput", "projection", "ssl_extraction"]  # fmt: skip
    for name in ("equality", "host_syncs", "frame_upload", "throughput", "ssl_extraction"):
        assert found[name]["status"] == "skipped" and "no CUDA device" in found[name]["why"]
    toy = found["toy_training"]
    assert toy["status"] == "pass" and toy["device"] == "cpu"
    for regime in TRAINED:
        assert toy[regime]["resumed_bit_identical"] is True
        assert toy[regime]["loaded_vs_trained_max_abs_diff"] == 0.0
    assert set(toy["evaluation"]) == {"cpu"}
    # the erasure regimes' code ran (on the CPU only here: nothing to compare with)
    assert toy["erasure"]["cpu_vs_cpu_probabilities_max_abs_diff"] == 0.0
    text = (tmp_path / "gpu_check.txt").read_text()
    assert "== toy_training: pass" in text and "== equality: skipped" in text
