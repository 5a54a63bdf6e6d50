"""The training stage of one regime: plan packs, train them (resumably), assemble outputs.

Runs are (session, seed) pairs of the chosen folds. They are cut into packs of
``train.pack`` runs, in a fixed order (seed, then session), so a pack's composition, and
with it every float it produces, depends only on params.yaml, never on ``n_jobs`` or on
what an interrupted earlier attempt had finished. Packs run in worker processes (one per
core at most, torch threads split among them); each saves its state after every epoch in
``data/.fold_cache/<regime>/<fingerprint>.state.pt`` and, when done, its outputs in
``data/.fold_cache/<regime>/<fingerprint>/``, keyed by everything that determines them.
So an interrupted stage redoes nothing finished and loses at most one epoch, and DVC's
run-cache still works for the stage itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import queue
import shutil
import sys
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from pipeline import batches, metrics, model, regimes
from pipeline.atomic import atomic_path
from pipeline.errors import ConfigError
from pipeline.regimes import REGIMES
from pipeline.training import (
    checkpoint,
    cluster,
    gru,
    inputs,
    outputs,
    packing,
)
from pipeline.training import (
    config as config_module,
)
from pipeline.training import (
    run as run_module,
)
from pipeline.training.config import TrainConfig, chosen_folds
from pipeline.training.frame_cache import open_frames
from pipeline.training.outputs import write_outputs
from pipeline.training.run import Report, Run, train_pack
from pipeline.workers import count as worker_count
from pipeline.workers import die_with_stage

log = logging.getLogger(__name__)

CACHE_ROOT = Path("data/.fold_cache")


def plan_runs(folds: list[dict[str, Any]], seeds: tuple[int, ...]) -> list[Run]:
    """One run per (seed, session) of the chosen folds, seed-major, sessions in fold order."""
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in folds:
        sessions[f["session"]].append(f)
    for session, group in sessions.items():
        if len({tuple(f["train"]) for f in group}) != 1:
            raise ValueError(f"folds of session {session} do not share their training speakers")
    return [Run(s, seed, tuple(group)) for seed in seeds for s, group in sessions.items()]


def plan_packs(runs: list[Run], size: int) -> list[list[Run]]:
    """Consecutive runs with the same number of training speakers, at most ``size`` a pack."""
    by_speakers: dict[int, list[Run]] = defaultdict(list)
    for r in runs:
        by_speakers[len(r.folds[0]["train"])].append(r)
    return [
        group[i : i + size] for group in by_speakers.values() for i in range(0, len(group), size)
    ]


def file_digest(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def code_digest() -> str:
    """Hash of the source of every module that shapes a result, so code changes never get
    stale cached outputs back."""
    modules = (
        batches,
        metrics,
        model,
        regimes,
        checkpoint,
        config_module,
        gru,
        inputs,
        outputs,
        packing,
        run_module,
    )
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def fingerprint(regime: str, pack: list[Run], config: TrainConfig, digests: dict[str, str]) -> str:
    """Hash of everything that determines a pack's outputs (its composition included)."""
    payload = {
        "regime": regime,
        "runs": [[r.seed, list(r.folds)] for r in pack],
        "config": asdict(config),
        "inputs": digests,
        "torch": torch.__version__,
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def output_name(fold: int, seed: int) -> str:
    return f"fold{fold:02d}/seed{seed}"


def _train_and_write(
    frames_args,
    labels_path: Path,
    pack: list[Run],
    regime: str,
    config: TrainConfig,
    target: Path,
    threads: int,
    report,
) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    store = open_frames(*frames_args)
    labels = pd.read_parquet(labels_path)
    state_path = target.with_name(f"{target.name}.state.pt")
    results = train_pack(store, labels, pack, regime, config, state_path, report)
    with atomic_path(target) as tmp:
        for run, per_fold in zip(pack, results, strict=True):
            for fold, out in zip(run.folds, per_fold, strict=True):
                write_outputs(
                    tmp / output_name(fold["fold"], run.seed), fold, run.seed, regime, config, out
                )
    state_path.unlink(missing_ok=True)  # finished: keep only what the outputs need


_QUEUE: Any = None


def _init_worker(events: Any) -> None:
    """Worker set-up: the progress queue, and an end with the stage, however it ends.

    A worker that outlived a killed stage would go on training and writing the same pack
    state as the re-run (see :func:`pipeline.workers.die_with_stage`).
    """
    global _QUEUE
    _QUEUE = events
    die_with_stage()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def _queue_report(line: str, done: int) -> None:
    _QUEUE.put((line, done))


def _worker(*args) -> None:
    _train_and_write(*args, report=_queue_report)


def run_regime(
    regime: str,
    params: dict[str, Any],
    labels_path: Path,
    feature_paths: list[Path],
    folds_path: Path,
    out_dir: Path,
    n_jobs: int,
) -> list[dict[str, Any]]:
    """Train (or reuse) every chosen (fold, seed) of ``regime`` and assemble ``out_dir``."""
    if regime not in REGIMES:
        raise ConfigError(f"unknown regime {regime!r}; one of {REGIMES}")
    config = TrainConfig.from_params(params, regime)
    folds = chosen_folds(json.loads(folds_path.read_text()), params["train"]["folds"])
    digests = {str(p): file_digest(p) for p in (labels_path, folds_path, *feature_paths)}
    cache = CACHE_ROOT / regime
    packs = plan_packs(plan_runs(folds, config.seeds), config.pack)
    targets = [cache / fingerprint(regime, p, config, digests) for p in packs]
    todo = [(p, t) for p, t in zip(packs, targets, strict=True) if not t.is_dir()]
    n_runs = sum(len(p) for p in packs)
    log.info(
        "%s: %d folds x %d seeds = %d runs in %d packs of up to %d; %d packs to train on %s",
        regime,
        len(folds),
        len(config.seeds),
        n_runs,
        len(packs),
        config.pack,
        len(todo),
        config.device,
    )
    address = cluster.scheduler_address()
    if todo:
        # connect first: an unreachable scheduler fails before minutes of preparation
        with cluster.connect(address) if address else contextlib.nullcontext() as client:
            frames_args = (feature_paths, [digests[str(p)] for p in feature_paths], CACHE_ROOT)
            open_frames(*frames_args)  # build the shared memory map once, before the workers
            if client is None:
                _train_packs(todo, frames_args, labels_path, regime, config, n_jobs)
            else:
                _train_on_cluster(client, todo, frames_args, labels_path, regime, config)
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for pack, target in zip(packs, targets, strict=True):
            for r in pack:
                for f in r.folds:
                    name = output_name(f["fold"], r.seed)
                    shutil.copytree(target / name, tmp / name)
    summaries = [json.loads(p.read_text()) for p in out_dir.glob("fold*/seed*/fold.json")]
    return sorted(summaries, key=lambda s: (s["fold"], s["seed"]))


@contextlib.contextmanager
def _progress(todo, regime: str, config: TrainConfig) -> Iterator[Report]:
    """A progress bar over every (run, epoch) to train; the reporter logs and advances it."""
    total = sum(len(p) for p, _ in todo) * config.epochs
    with (
        logging_redirect_tqdm(),
        tqdm(total=total, desc=f"train {regime}", unit="run-epoch", disable=None) as bar,
    ):

        def report(line: str, done: int) -> None:
            if line:
                log.info("%s", line)
            bar.update(done)

        yield report


def _cluster_task(frames_args, labels_path, pack, regime, config, target, expected, events):
    """One pack on a Dask worker, which must run the same code as the stage's machine."""
    found = {"code": code_digest(), "torch": torch.__version__}
    if found != expected:
        raise ConfigError(
            f"a Dask worker runs other pipeline code or torch than this machine ({found} != "
            f"{expected}); install the same commit on every worker"
        )
    threads = cluster.worker_threads() if config.device == "cpu" else 1
    report = cluster.event_reporter(events)
    _train_and_write(frames_args, labels_path, pack, regime, config, target, threads, report)


def _train_on_cluster(client, todo, frames_args, labels_path, regime, config) -> None:
    """Every pack as one Dask task; paths absolute, as every worker must see them."""
    features, digests, cache = frames_args
    shared = ([p.resolve() for p in features], digests, cache.resolve())
    expected = {"code": code_digest(), "torch": torch.__version__}
    jobs = [
        (
            f"train-{regime}-{target.name}",
            (shared, labels_path.resolve(), pack, regime, config, target.resolve(), expected),
        )
        for pack, target in todo
    ]
    with _progress(todo, regime, config) as report:
        cluster.run_on_cluster(client, _cluster_task, jobs, report)


def _train_packs(todo, frames_args, labels_path, regime, config, n_jobs) -> None:
    cores = worker_count(-1)  # every core this process may run on
    workers = min(len(todo), worker_count(n_jobs))
    threads = max(1, cores // workers) if config.device == "cpu" else 1
    with _progress(todo, regime, config) as report:
        if workers == 1:
            for pack, target in todo:
                _train_and_write(
                    frames_args, labels_path, pack, regime, config, target, threads, report
                )
            return
        context = multiprocessing.get_context("spawn")
        events = context.Queue()
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(events,)
        )
        try:
            futures = [
                pool.submit(
                    _worker, frames_args, labels_path, pack, regime, config, target, threads
                )
                for pack, target in todo
            ]
            while not all(f.done() for f in futures):
                with contextlib.suppress(queue.Empty):
                    report(*events.get(timeout=0.2))
        except BaseException:
            # Ctrl-C: do not wait for running packs (their last epoch is saved); the
            # workers die of the same SIGINT or, at the latest, with this process.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        while not events.empty():
            report(*events.get())
        for f in futures:
            f.result()  # re-raise a worker's error
