"""Rehearsal at IEMOCAP size: build a corpus of IEMOCAP's shape, then time and measure training.

    python benchmarks/bench_rehearsal.py [--work /tmp/menan-rehearsal] [--skip-data]

Runs the real stage scripts in a scratch project under ``--work`` (nothing in this checkout
is touched): the demo generator at IEMOCAP's size (5,531 kept utterances over 10 speakers,
mean ~4.5 s, 2 % longer than 14 s), label merging, features, the 4 speed copies and the
folds. Then ``stages.train ec_only`` with 14 s crops and one epoch, three ways:

1. unpacked: one session run (pack 1) on one core (``taskset``);
2. packed: the five session runs of a seed as one pack, on one core;
3. the whole stage as a user runs it: every core, ``n_jobs: -1``, packs of 3 (two workers),
   twice: first as a first run (no ``data/.fold_cache`` at all, so the stage also builds the
   frame map), then with the frame map already built.

For each it prints seconds per epoch and per run-epoch, and the memory of the training
stage: peak RSS of its largest process, and the peak of the summed PSS of all its
processes (proportional set size: a shared page counts once in total, so this is the
stage's real footprint; summed RSS would count the shared feature map once per process).
Then the projected paper-protocol time (300 epochs, 4 regimes x 5 sessions x seeds).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[1]
UTTERANCES_PER_SPEAKER = 827  # 67 % of the demo's turns are kept: 5,5xx, as IEMOCAP's 5,531
EPOCHS_PAPER, SESSIONS, REGIMES = 300, 5, 4


def _params(work: Path, overrides: dict) -> None:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["demo"]["iemocap"].update(
        utterances_per_speaker=UTTERANCES_PER_SPEAKER, mean_seconds=4.2,
        long_utterances=115, short_utterances=60,
    )  # fmt: skip
    params["demo"]["mosei"].update(videos=4)
    params["train"].update(epochs=1, max_seconds=14, seeds=[1234])  # 5 session runs in all
    for key, value in overrides.items():
        params[key] = {**params[key], **value} if isinstance(value, dict) else value
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _run(work: Path, args: list[str], prefix: list[str] | None = None) -> tuple[str, dict]:
    """Run a stage script; return its log and memory figures of its process tree."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    process = subprocess.Popen([*(prefix or []), sys.executable, "-m", *args], cwd=work, env=env,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    memory = {"peak_pss": 0, "peak_rss": 0}
    sampler = threading.Thread(target=_sample, args=(process, memory), daemon=True)
    sampler.start()
    log = process.stderr.read()
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{log[-3000:]}")
    sampler.join()
    memory["seconds"] = time.perf_counter() - started
    return log, memory


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        todo += [int(c) for c in children]
    return pids


def _kib(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else 0


def _sample(process: subprocess.Popen, memory: dict) -> None:
    while process.poll() is None:
        pids = _tree(process.pid)
        memory["peak_pss"] = max(memory["peak_pss"], sum(_kib(p, "Pss") for p in pids))
        memory["peak_rss"] = max(memory["peak_rss"], max(_kib(p, "Rss") for p in pids))
        time.sleep(0.2)


def prepare(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    _params(work, {})
    for args in (
        ["stages.demo", "data/demo"],
        ["stages.labels", "iemocap", "data/labels/iemocap.parquet", "labels.json"],
        ["stages.features", "data/labels/iemocap.parquet", "data/features/iemocap.parquet"],
        ["stages.augment", "data/labels/iemocap.parquet",
         "data/features/iemocap_speed.parquet"],
        ["stages.folds", "data/labels/iemocap.parquet", "data/folds.json"],
    ):  # fmt: skip
        _, figures = _run(work, args)
        print(f"  {args[0]:<24s} {figures['seconds']:7.1f} s", flush=True)


def train(work: Path, name: str, overrides: dict, one_core: bool, first: bool = False) -> dict:
    """One epoch of ``train@ec_only``; ``first``: from an empty fold cache (no frame map)."""
    _params(work, {"train": overrides, "n_jobs": -1, "device": "cpu"})
    cache = work / "data" / ".fold_cache"
    shutil.rmtree(cache if first else cache / "ec_only", ignore_errors=True)
    args = ["stages.train", "ec_only", "data/labels/iemocap.parquet",
            "data/features/iemocap.parquet", "data/features/iemocap_speed.parquet",
            "data/folds.json", "data/train/ec_only", "plot.json"]  # fmt: skip
    log, figures = _run(work, args, ["taskset", "-c", "0"] if one_core else None)
    epochs = [float(s) for s in re.findall(r"epoch 1/1: .*\| ([\d.]+) s$", log, re.M)]
    runs = len(epochs)
    figures.update(name=name, runs=runs, epoch_s=max(epochs), run_epoch_s=max(epochs) / runs)
    if "pack" in overrides and overrides["pack"] > 1 and runs:
        figures["run_epoch_s"] = max(epochs) / min(runs, overrides["pack"])
    print(
        f"  {name:<44s} {figures['epoch_s']:7.1f} s/epoch {figures['run_epoch_s']:6.1f} s/run-epoch"
        f"  peak RSS {figures['peak_rss'] / 2**20:5.2f} GiB  peak PSS (all processes) "
        f"{figures['peak_pss'] / 2**20:5.2f} GiB  stage {figures['seconds']:.0f} s",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/menan-rehearsal"))
    parser.add_argument("--skip-data", action="store_true", help="reuse the prepared corpus")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    if not args.skip_data:
        print(f"preparing an IEMOCAP-size corpus in {args.work}", flush=True)
        prepare(args.work)
    labels = json.loads((args.work / "labels.json").read_text())
    frames = sum(
        int(pq.read_table(args.work / "data/features" / name, columns=["n_frames"])
            .column("n_frames").to_numpy().sum())
        for name in ("iemocap.parquet", "iemocap_speed.parquet")
    )  # fmt: skip
    feature_gib = frames * 43 * 4 / 2**30
    print(f"corpus: {labels['utterances']} utterances {labels['classes']}, {frames:,} frames "
          f"with the speed copies = {feature_gib:.2f} GiB of float32; {cores} cores")  # fmt: skip
    one_run = {"pack": 1, "folds": [0, 1]}
    unpacked = train(args.work, "unpacked: 1 session run, 1 core", one_run, True)
    all_runs = {"pack": 5, "folds": "all"}
    packed = train(args.work, "packed: 5 session runs in 1 pack, 1 core", all_runs,
                   True)  # fmt: skip
    whole = {"pack": 3, "folds": "all"}
    first = train(args.work, f"first run: 5 runs, packs of 3, {cores} cores", whole, False, True)
    stage = train(args.work, f"frame map built: 5 runs, packs of 3, {cores} cores", whole, False)
    for name, figures in (("first run", first), ("frame map built", stage)):
        peak = figures["peak_pss"] / 2**20
        print(f"memory of the whole stage, {name}: peak PSS {peak:.2f} GiB = "
              f"{peak / feature_gib:.2f} x the float32 features")  # fmt: skip
    speedup = unpacked["run_epoch_s"] / packed["run_epoch_s"]
    print(f"packed vs unpacked, per core: {speedup:.2f}x run-epochs per second")
    stage_run_epoch_s = stage["epoch_s"] / stage["runs"]  # wall clock, all cores busy
    print(f"whole stage: {stage_run_epoch_s:.1f} s of wall clock per run-epoch on {cores} cores "
          f"= {packed['run_epoch_s'] / stage_run_epoch_s:.2f}x one packed core")  # fmt: skip
    for seeds in (1, 3):
        run_epochs = EPOCHS_PAPER * SESSIONS * REGIMES * seeds
        measured = run_epochs * stage_run_epoch_s / 3600
        per_core = run_epochs * packed["run_epoch_s"] / 3600
        print(f"paper protocol, {seeds} seed(s), {run_epochs} run-epochs: {measured:.0f} h on this "
              f"machine (measured rate); {per_core:.0f} core-hours packed, so at best "
              f"{per_core / 4:.0f} h on 4 cores, {per_core / 16:.1f} h on 16 cores")  # fmt: skip


if __name__ == "__main__":
    main()
