"""What a Dask cluster adds to a training stage, measured on a LocalCluster on this machine.

Prints: the time to connect a client, the round trip of an empty task (what each pack pays
to be scheduled), the cost of one progress event (each (run, epoch) sends one), and the
wall clock of a small training stage run here and through the cluster. With these and the
rehearsal's per-epoch figures, docs/scaling.md projects the paper protocol for 1, 4 and 16
workers.

    python benchmarks/bench_cluster.py [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from distributed import Client, LocalCluster, get_worker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _noop(x: int) -> int:
    return x


def _events(topic: str, n: int) -> float:
    worker = get_worker()
    started = time.perf_counter()
    for i in range(n):
        worker.log_event(topic, {"line": f"epoch {i}", "done": 1})
    return time.perf_counter() - started


def _stage_seconds(root: Path, address: str | None) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    if address:
        env["DASK_SCHEDULER_ADDRESS"] = address
    args = ["menan", "labels.parquet", "f.parquet", "s.parquet", "folds.json", "out", "plot.json"]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "stages.train", *args],
        cwd=root, env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from tests.helpers import stage_project

    with LocalCluster(
        n_workers=args.workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        started = time.perf_counter()
        client = Client(cluster.scheduler_address)
        print(f"connect a client: {1000 * (time.perf_counter() - started):.0f} ms")
        client.submit(_noop, -1, pure=False).result()  # warm up
        trips = []
        for i in range(50):
            t = time.perf_counter()
            client.submit(_noop, i, pure=False).result()
            trips.append(time.perf_counter() - t)
        print(f"empty task round trip: median {1000 * statistics.median(trips):.1f} ms, "
              f"max {1000 * max(trips):.1f} ms (50 tasks)")  # fmt: skip
        n = 1000
        seconds = client.submit(_events, "bench", n, pure=False).result()
        print(f"progress event: {1e6 * seconds / n:.0f} us each ({n} sent by a worker)")
        client.close()

        with tempfile.TemporaryDirectory() as tmp:
            here = _stage_seconds(stage_project(Path(tmp) / "here", n_jobs=-1, pack=1), None)
            there = _stage_seconds(
                stage_project(Path(tmp) / "there", n_jobs=1, pack=1), cluster.scheduler_address
            )
        print(f"small training stage (2 packs, 8 epochs): here with n_jobs -1 {here:.1f} s, "
              f"through the cluster ({args.workers} workers) {there:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
