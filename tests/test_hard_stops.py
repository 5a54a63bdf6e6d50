"""Stages stopped from outside: Ctrl-C, SIGKILL in the middle of feature extraction, a full
disk. Real subprocesses, real signals, a real full filesystem."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.data import labels as label_table
from pipeline.data.corpora import prepare_corpus
from tests.helpers import EPOCHS, REPO, children_of, stage_project, write_frontend, write_params

SPEEDS = [0.8, 0.85, 0.9, 0.95, 1.05, 1.1, 1.15, 1.2]  # enough work to stop it halfway
AUGMENT = ["stages.augment", "labels.parquet", "frontend.json", "data/features/speed.parquet"]
TRAIN = ["stages.train", "menan", "labels.parquet", "f.parquet", "s.parquet"]
TRAIN += ["folds.json", "out", "plot.json"]


def _start(root: Path, args: list[str], log: Path) -> subprocess.Popen:
    """A stage in its own process group, as a shell runs a command (Ctrl-C reaches all)."""
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=log.open("w"),
        start_new_session=True,
    )


def _wait_for(log: Path, text: str, stage: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert stage.poll() is None, f"stage ended before {text!r}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in time:\n{log.read_text()}"
        time.sleep(0.05)


def _augment_project(root: Path, iemocap_root: Path) -> Path:
    root.mkdir()
    table, info = prepare_corpus("iemocap", {"format": "iemocap", "root": str(iemocap_root)})
    label_table.write(table, root / "labels.parquet", "iemocap", info)
    write_params(root, {"n_jobs": 2, "augment": {"speeds": SPEEDS}})
    write_frontend(root)
    return root


def _gone(pids: list[int], timeout: float = 10) -> bool:
    """Whether all ``pids`` have ended (zombies count as ended) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":
                alive.append(pid)
        if not alive or time.monotonic() > deadline:
            return not alive
        time.sleep(0.1)


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = children_of(todo.pop())
        found += children
        todo += children
    return found


def _joblib_folders(pid: int) -> list[Path]:
    return list(Path("/dev/shm").glob(f"joblib_memmapping_folder_{pid}_*"))


def _augment_midway(
    tmp_path: Path, iemocap_root: Path
) -> tuple[Path, Path, subprocess.Popen, list[int]]:
    """An augment stage whose workers are extracting: its root, log, process and workers."""
    root = _augment_project(tmp_path / "p", iemocap_root)
    log = tmp_path / "stage.log"
    stage = _start(root, AUGMENT, log)
    _wait_for(log, "/", stage)  # the progress bar is up
    time.sleep(0.5)
    workers = _descendants(stage.pid)
    assert workers, "expected worker processes"
    return root, log, stage, workers


@pytest.mark.slow
def test_sigkill_during_augment_leaves_nothing_that_outlives_a_rerun(
    tmp_path: Path, iemocap_root: Path
) -> None:
    root, _, stage, workers = _augment_midway(tmp_path, iemocap_root)
    os.kill(stage.pid, signal.SIGKILL)
    assert stage.wait() == -signal.SIGKILL
    partials = list((root / "data/features").glob(".speed.parquet.*.partial"))
    assert partials, "the kill should have interrupted a write"
    assert _gone(workers), "workers outlived the killed stage"
    deadline = time.monotonic() + 10
    while _joblib_folders(stage.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _joblib_folders(stage.pid), "a joblib folder stayed in /dev/shm"

    rerun = _start(root, AUGMENT, tmp_path / "rerun.log")
    assert rerun.wait() == 0, (tmp_path / "rerun.log").read_text()
    assert [p.name for p in (root / "data/features").iterdir()] == ["speed.parquet"]
    assert not _joblib_folders(rerun.pid)

    clean = _augment_project(tmp_path / "clean", iemocap_root)
    assert _start(clean, AUGMENT, tmp_path / "clean.log").wait() == 0
    produced = root / "data/features/speed.parquet"
    assert produced.read_bytes() == (clean / "data/features/speed.parquet").read_bytes()


def _assert_one_interrupt_line(log: Path) -> None:
    text = log.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    lines = [line for line in text.replace("\r", "\n").splitlines() if "interrupted" in line]
    assert len(lines) == 1 and lines[0].endswith(
        "interrupted (Ctrl-C); no partial output was left behind"
    ), text


@pytest.mark.slow
def test_ctrl_c_during_feature_extraction_is_one_line_and_exit_130(
    tmp_path: Path, iemocap_root: Path
) -> None:
    root, log, stage, workers = _augment_midway(tmp_path, iemocap_root)
    os.killpg(stage.pid, signal.SIGINT)
    assert stage.wait(timeout=30) == 130
    _assert_one_interrupt_line(log)
    assert _gone(workers)
    assert list((root / "data/features").iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_training_is_one_line_exit_130_and_resumable(tmp_path: Path) -> None:
    root = stage_project(tmp_path / "p", n_jobs=2, pack=1)  # two worker processes
    log = tmp_path / "stage.log"
    stage = _start(root, TRAIN, log)
    _wait_for(log, f"epoch 2/{EPOCHS}", stage)
    workers = _descendants(stage.pid)
    os.killpg(stage.pid, signal.SIGINT)
    assert stage.wait(timeout=30) == 130
    _assert_one_interrupt_line(log)
    assert _gone(workers)
    assert not (root / "out").exists()
    assert list((root / "data/.fold_cache/menan").glob("*.state.pt")), "epochs were lost"
    assert not list((root / "data/.fold_cache/menan").glob(".*.partial"))


def _unshare_works() -> bool:
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"]
    try:
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _unshare_works(), reason="needs unshare -rm to mount a small tmpfs")
def test_a_full_disk_names_the_path_and_says_so(tmp_path: Path) -> None:
    """The fold cache lies on an 8 kB tmpfs (in a private mount namespace): the first pack
    state does not fit. The stage says which path and why, in one line, and leaves no
    temporary behind."""
    root = stage_project(tmp_path / "p", n_jobs=1, pack=1)
    cache = root / "data/.fold_cache/menan"
    cache.mkdir(parents=True)
    script = (
        f"mount -t tmpfs -o size=8k tmpfs {cache} && "
        f"{sys.executable} -m {' '.join(TRAIN)}; status=$?; "
        f"ls -A {cache}; exit $status"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "unexpected pos" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert f"{cache.relative_to(root)}/" in errors[0]
    assert "cannot write, the device is full" in errors[0]
    assert result.stdout.strip() == "", f"left in the full cache: {result.stdout}"
    assert not (root / "out").exists()
