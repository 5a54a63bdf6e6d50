"""Training packs on a real Dask cluster (a LocalCluster of two worker processes with one
thread each, as the README starts one, on the loopback interface): the same outputs as on
this machine with its two worker processes, a killed worker costs at most its epoch, and
an unreachable scheduler is one clear line, fast."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import EPOCHS, REPO, STAGE_ARGS, assert_same_stage_outputs, stage_project

distributed = pytest.importorskip("distributed")


@pytest.fixture
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0",
    ) as local:  # fmt: skip
        yield local


def _stage(root: Path, address: str | None, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    if address:
        env["DASK_SCHEDULER_ADDRESS"] = address
    return subprocess.Popen(
        [sys.executable, "-m", "stages.train", *STAGE_ARGS],
        cwd=root, env=env, stderr=log.open("w"),
    )  # fmt: skip


@pytest.mark.slow
def test_a_stage_on_the_cluster_equals_the_stage_here_even_when_a_worker_dies(
    tmp_path: Path, cluster: distributed.LocalCluster
) -> None:
    # 4 s crops: there, a pack's floats would depend on its thread count (see test_placement)
    here = stage_project(tmp_path / "here", n_jobs=2, pack=1, seconds=4.0)
    assert _stage(here, None, tmp_path / "here.log").wait() == 0

    remote = stage_project(tmp_path / "remote", n_jobs=1, pack=1, seconds=4.0)  # 2 packs, 2 workers
    assert _stage(remote, cluster.scheduler_address, tmp_path / "remote.log").wait() == 0
    log = (tmp_path / "remote.log").read_text()
    assert "training 2 packs on the Dask cluster at tcp://127.0.0.1:" in log
    assert f"Ses01/seed1 epoch {EPOCHS}/{EPOCHS}" in log  # progress comes back from workers
    assert_same_stage_outputs(here, remote)

    killed = stage_project(tmp_path / "killed", n_jobs=1, pack=1, seconds=4.0)
    log_path = tmp_path / "killed.log"
    stage = _stage(killed, cluster.scheduler_address, log_path)
    deadline = time.monotonic() + 120
    while "epoch 3/" not in log_path.read_text():
        assert stage.poll() is None and time.monotonic() < deadline, log_path.read_text()
        time.sleep(0.05)
    with distributed.Client(cluster.scheduler_address) as client:
        pids = client.run(os.getpid)
    os.kill(next(iter(pids.values())), signal.SIGKILL)  # its pack goes to another worker
    assert stage.wait(timeout=300) == 0, log_path.read_text()
    log = log_path.read_text()
    resumed = [line for line in log.splitlines() if "resuming after epoch" in line]
    assert len(resumed) == 1 and int(resumed[0].rsplit(" ", 1)[1]) >= 2, log
    assert_same_stage_outputs(here, killed)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_an_unreachable_scheduler_fails_fast_naming_its_address(tmp_path: Path) -> None:
    root = stage_project(tmp_path / "p", n_jobs=1, pack=1)
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    stage = _stage(root, address, tmp_path / "stage.log")
    assert stage.wait(timeout=120) == 1
    assert time.monotonic() - started < 40
    text = (tmp_path / "stage.log").read_text()
    assert "Traceback" not in text
    [error] = [line for line in text.splitlines() if " ERROR " in line]
    assert f"DASK_SCHEDULER_ADDRESS={address}: no Dask scheduler answered within 10 s" in error
    assert not (root / "out").exists() and not list(root.glob("data/.fold_cache/menan/*"))
