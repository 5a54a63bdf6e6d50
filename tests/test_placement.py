"""Where packs run never changes what they compute: n_jobs, a resume with fewer packs left
than workers, and the numerics every computing process is given (the Dask cluster case is
in tests/test_cluster.py). Real stage processes, at 4 s crops, where a pack's floats would
depend on its torch thread count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.training import checkpoint
from pipeline.training.config import TrainConfig
from pipeline.training.driver import placement, plan_packs, plan_runs
from pipeline.training.pack import Run
from tests.helpers import (
    EPOCHS,
    REPO,
    STAGE_ARGS,
    assert_same_stage_outputs,
    stage_config,
    stage_project,
    start_train_stage,
)

SECONDS = 4.0


@pytest.mark.slow
def test_n_jobs_changes_where_packs_run_never_what_they_compute(tmp_path: Path) -> None:
    """One process training both packs, or two processes one pack each: the same bits."""
    alone = stage_project(tmp_path / "one", n_jobs=1, pack=1, seconds=SECONDS)
    assert start_train_stage(alone).wait() == 0
    pooled = stage_project(tmp_path / "two", n_jobs=2, pack=1, seconds=SECONDS)
    assert start_train_stage(pooled).wait() == 0
    assert_same_stage_outputs(alone, pooled)


@pytest.mark.slow
def test_a_resume_with_one_pack_left_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """Two workers, packs of 2 runs and of 1 run: killed once the small pack is done, the
    stage resumes the big one in a single process, and ends with the uninterrupted bits."""
    whole = stage_project(tmp_path / "whole", n_jobs=2, pack=2, seconds=SECONDS, folds=5)
    assert start_train_stage(whole).wait() == 0

    # The two packs take about as long (a step costs much the same for 1 or 2 runs), so the
    # kill can land after the two-run pack's last checkpoint too: then the case this test is
    # about did not happen, and a fresh copy tries again (it happened in 1 CI run of 10).
    for attempt in range(3):
        killed = stage_project(tmp_path / f"killed{attempt}", n_jobs=2, pack=2,
                               seconds=SECONDS, folds=5)  # fmt: skip
        cache = killed / "data/.fold_cache/menan"
        stage = subprocess.Popen(
            [sys.executable, "-m", "stages.train", *STAGE_ARGS], cwd=killed,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stderr=(tmp_path / f"killed{attempt}.log").open("w"),
        )  # fmt: skip
        deadline = time.monotonic() + 300
        while not [p for p in cache.glob("*") if p.is_dir() and not p.name.startswith(".")]:
            assert stage.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(stage.pid, signal.SIGKILL)  # the one-run pack is done, the two-run pack not
        assert stage.wait() == -signal.SIGKILL
        states = [checkpoint.load(p)["epoch"] for p in cache.glob("*.state.pt")]
        if states and states[0] < EPOCHS:  # the two-run pack is half way: the case to test
            break
    else:
        pytest.fail("in 3 tries the two-run pack never was half way when the other ended")

    rerun = start_train_stage(killed)
    log = rerun.stderr.read()
    assert rerun.wait() == 0, log
    assert "1 packs to train" in log
    resumed = [line for line in log.splitlines() if "resuming after epoch" in line]
    assert len(resumed) == 1 and int(resumed[0].rsplit(" ", 1)[1]) < EPOCHS, log
    assert_same_stage_outputs(whole, killed, runs=5)


def _run(session: str, seed: int, speakers: int = 8) -> Run:
    fold = {"fold": 0, "session": session, "train": [f"s{i}" for i in range(speakers)]}
    return Run(session, seed, (fold,))


def test_on_a_gpu_all_runs_of_a_stage_are_one_pack_in_one_process_per_gpu(monkeypatch) -> None:
    runs = [_run(f"Ses0{s}", seed) for seed in (1, 2, 3) for s in range(1, 6)]
    gpu = stage_config(pack="auto").model_copy(update={"device": "cuda"})
    assert gpu.pack_size(len(runs)) == 15
    assert [len(p) for p in plan_packs(runs, gpu.pack_size(len(runs)))] == [15]
    cpu = stage_config(pack="auto")
    assert [len(p) for p in plan_packs(runs, cpu.pack_size(len(runs)))] == [3] * 5

    todo = [([r], Path(f"t{i}")) for i, r in enumerate(runs[:5])]
    monkeypatch.setattr("torch.cuda.device_count", lambda: 2)
    tasks, processes = placement(todo, "cuda", n_jobs=8)
    assert processes == 2  # one per GPU, whatever n_jobs says
    assert [(device, len(items)) for device, items in tasks] == [("cuda:0", 3), ("cuda:1", 2)]
    tasks, processes = placement(todo, "cuda:1", n_jobs=8)
    assert processes == 1 and [d for d, _ in tasks] == ["cuda:1"]
    tasks, processes = placement(todo, "cpu", n_jobs=2)
    assert processes == 2 and len(tasks) == 5  # every pack a task, two at once


def test_the_device_setting_is_in_the_fingerprint_by_type_only() -> None:
    cpu, gpu = stage_config(), stage_config().model_copy(update={"device": "cuda:1"})
    assert cpu.fingerprint_fields()["device"] == "cpu"
    assert gpu.fingerprint_fields()["device"] == "cuda"
    assert isinstance(gpu, TrainConfig)
    runs = plan_runs([{"fold": 0, "session": "S1", "train": ["a"]}], [1])
    assert runs == [Run("S1", 1, ({"fold": 0, "session": "S1", "train": ["a"]},))]


NUMERICS = """
import os
assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
import pipeline.training.driver  # what every training worker and Dask task imports first
print(os.environ["CUBLAS_WORKSPACE_CONFIG"])
import torch
from pipeline.runtime import device
device.prepare_training()
backends = torch.backends
print(torch.are_deterministic_algorithms_enabled(), backends.cuda.matmul.fp32_precision,
      backends.cudnn.conv.fp32_precision, backends.cudnn.rnn.fp32_precision,
      torch.get_num_threads())
"""


def test_every_computing_process_gets_the_same_numerics() -> None:
    """cuBLAS's workspace set on import (before any CUDA work), deterministic kernels, no
    TF32 (torch's default is tf32 for cuDNN convolutions and GRUs), one thread per pack."""
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-c", NUMERICS], cwd=REPO, env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [":4096:8", "True", "ieee", "ieee", "ieee", "1"]
