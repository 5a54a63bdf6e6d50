"""Kill -9 in the middle of a training stage, run it again: it finishes the remaining epochs
only, and its outputs equal those of a run that was never interrupted, bit for bit."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import (
    EPOCHS,
    TRAIN,
    assert_same_stage_outputs,
    children_of,
    stage_project,
    start_train_stage,
    write_params,
)


@pytest.mark.slow
def test_the_plot_file_grows_epoch_by_epoch_while_the_stage_trains(tmp_path: Path) -> None:
    """What `dvc plots show` reads during a long run: the tracked curve file, rewritten
    after every epoch, one row per epoch (the mean of the runs that reached it)."""
    root = stage_project(tmp_path / "live")
    plot = root / "plot.json"
    stage = start_train_stage(root)
    seen = []
    for line in stage.stderr:
        if " epoch " in line and plot.exists():  # read while the stage is still training
            seen.append([r["epoch"] for r in json.loads(plot.read_text())])
    assert stage.wait() == 0
    last_epochs = [epochs[-1] for epochs in seen if epochs]
    assert last_epochs[0] < EPOCHS and last_epochs == sorted(last_epochs)
    assert len(set(last_epochs)) >= EPOCHS - 1, seen
    final = json.loads(plot.read_text())
    assert [(r["epoch"], r["runs"]) for r in final] == [(e, 3) for e in range(1, EPOCHS + 1)]
    assert all(0 <= r["val_ua"] <= 100 and r["entropy"] <= r["log_k"] + 1e-6 for r in final)


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = stage_project(tmp_path / "whole")
    assert start_train_stage(whole).wait() == 0

    killed = stage_project(tmp_path / "killed")
    stage = start_train_stage(killed)
    for line in stage.stderr:
        if f"epoch 4/{EPOCHS}" in line:  # epochs 1-3 are saved by now, the run goes on
            os.kill(stage.pid, signal.SIGKILL)
            break
    assert stage.wait() == -signal.SIGKILL
    assert list((killed / "data/.fold_cache/menan").glob("*.state.pt"))
    assert not (killed / "out").exists()

    rerun = start_train_stage(killed)
    log = rerun.stderr.read()
    assert rerun.wait() == 0, log
    resumed = [line for line in log.splitlines() if "resuming after epoch" in line]
    assert len(resumed) == 1 and 3 <= int(resumed[0].rsplit(" ", 1)[1]) < EPOCHS
    first_epoch = int(resumed[0].rsplit(" ", 1)[1]) + 1
    trained = [line for line in log.splitlines() if f"/{EPOCHS}:" in line]
    assert all(int(line.split(" epoch ")[1].split("/")[0]) >= first_epoch for line in trained)
    assert not list((killed / "data/.fold_cache/menan").glob("*.state.pt"))  # cleaned up

    assert_same_stage_outputs(whole, killed)


@pytest.mark.slow
def test_workers_die_with_a_killed_stage(tmp_path: Path) -> None:
    """With two worker processes, a SIGKILL of the stage leaves no worker training on."""
    root = stage_project(tmp_path / "pooled", n_jobs=2, pack=1)  # 2 packs, 2 workers
    stage = start_train_stage(root)
    for line in stage.stderr:
        if f"epoch 2/{EPOCHS}" in line:  # the workers are training
            break
    workers = children_of(stage.pid)
    assert workers
    os.kill(stage.pid, signal.SIGKILL)
    stage.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.1)
    alive = [p for p in workers if Path(f"/proc/{p}/stat").exists()
             and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]  # fmt: skip
    assert not alive


def test_a_non_finite_loss_stops_the_stage_naming_fold_epoch_and_loss(tmp_path: Path) -> None:
    """lr 1e10 blows the weights up in the first epoch: the stage says so in one line and
    writes no outputs, no plot and no state (the NaN epoch would poison every later one)."""
    root = stage_project(tmp_path / "p", n_jobs=1, pack=1)
    train = {**TRAIN, "epochs": EPOCHS, "max_seconds": 1.0, "folds": [0, 1, 2], "lr": 1e10}
    write_params(root, {"n_jobs": 1, "train": train})
    stage = start_train_stage(root)
    log = stage.stderr.read()
    assert stage.wait() == 1, log
    assert "Traceback" not in log
    [error] = [line for line in log.splitlines() if " ERROR " in line]
    assert re.search(r"menan run Ses01/seed1 \(fold 0, 1\), epoch 1: the training loss is not "
                     r"finite \(loss = nan, ce_emo = nan", error), error  # fmt: skip
    assert not (root / "out").exists() and not (root / "plot.json").exists()
    assert not list(root.glob("data/.fold_cache/menan/*"))
