"""The training stage of one regime: plan packs, place them, train them (resumably), assemble.

Runs are (session, seed) pairs of the chosen folds. They are cut into packs of
``train.pack`` runs (``auto``: see :meth:`TrainConfig.pack_size`), in a fixed order (seed,
then session), so a pack's composition, and with it every float it produces, depends only
on params.yaml and the device type, never on ``n_jobs`` or on what an interrupted earlier
attempt had finished. Every pack computes with the same fixed number of torch threads
(:func:`pipeline.runtime.device.prepare_training`), wherever it runs: in this process, in a worker
process, on a Dask worker, or resumed after a kill.

Placement: on the CPU, packs run in up to ``n_jobs`` worker processes, one pack per
process at a time; on CUDA, one process per GPU, each training its share of the packs one
after another. Each pack saves its state after every epoch in
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
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from pipeline.data.folds import Fold, read_folds
from pipeline.features import frame_cache
from pipeline.features import store as feature_store
from pipeline.features.frame_cache import file_digest, open_frames
from pipeline.model import run_files
from pipeline.model.scoring import DeviceFrames
from pipeline.regimes import TRAINED
from pipeline.runtime import device
from pipeline.runtime.atomic import atomic_path, write_json
from pipeline.runtime.errors import ConfigError
from pipeline.runtime.imports import ROOT, closure
from pipeline.runtime.workers import count as worker_count
from pipeline.runtime.workers import die_with_stage
from pipeline.training import cluster, curves
from pipeline.training.config import TrainConfig, chosen_folds
from pipeline.training.pack import Run
from pipeline.training.run import Report, train_pack

log = logging.getLogger(__name__)

CACHE_ROOT = frame_cache.CACHE_DIR
RESULT_ROOT = "pipeline.training.run"
"""The module that trains a pack (:func:`~pipeline.training.run.train_pack`): the project
files it can import are all the code that shapes a trained result (see :func:`code_digest`);
placement (this module, :mod:`~pipeline.training.cluster`) is outside it by construction."""

Item = tuple[list[Run], Path]
"""A pack to train and the fold-cache folder its outputs go to."""


def plan_runs(folds: list[Fold], seeds: list[int]) -> list[Run]:
    """One run per (seed, session) of the chosen folds, seed-major, sessions in fold order."""
    sessions: dict[str, list[Fold]] = defaultdict(list)
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


def cuda_devices(name: str) -> list[str]:
    """The GPUs a CUDA setting means: the one named, or every one torch sees."""
    if ":" in name:
        return [name]
    return [f"cuda:{i}" for i in range(max(torch.cuda.device_count(), 1))]


def placement(
    todo: list[Item], device_name: str, n_jobs: int
) -> tuple[list[tuple[str, list[Item]]], int]:
    """Which process trains which packs on which device: (tasks, processes at once).

    CPU: every pack is a task, up to ``n_jobs`` at once. CUDA: one task per GPU with its
    share of the packs, trained one after another, so no two processes share a GPU.
    Placement never changes what a pack computes, only where and when.
    """
    if device.is_cuda(device_name):
        gpus = cuda_devices(device_name)
        tasks = [(gpu, todo[i :: len(gpus)]) for i, gpu in enumerate(gpus) if todo[i :: len(gpus)]]
        return tasks, len(tasks)
    tasks = [(device_name, [item]) for item in todo]
    return tasks, min(len(tasks), worker_count(n_jobs))


def code_digest(root: Path = ROOT) -> str:
    """Hash of the source of every file in :data:`RESULT_ROOT`'s import closure, so a code
    change never gets a stale cached pack back (the closure is computed from the imports,
    as the stages' DVC dependencies are: no list to keep)."""
    digest = hashlib.sha256()
    for path in closure(RESULT_ROOT, root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(regime: str, runs: list[Run], config: TrainConfig, digests: dict[str, str]) -> str:
    """Hash of everything that determines a pack's outputs (its composition included)."""
    payload = {
        "regime": regime,
        "runs": [[r.seed, list(r.folds)] for r in runs],
        "config": config.fingerprint_fields(),
        "inputs": digests,
        "torch": torch.__version__,
        "code": code_digest(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _train_and_write(
    frames_args, labels_path: Path, items: list[Item], regime: str, config: TrainConfig,
    report: Report,
) -> None:  # fmt: skip
    """Train packs one after another in this process, each into its fold-cache folder."""
    device.prepare_training()
    store = open_frames(*frames_args)
    frames = DeviceFrames(store, config.device)  # one upload for all these packs
    labels = pd.read_parquet(labels_path)
    features = feature_store.read_metadata(frames_args[0][0])  # what the models expect
    settings = config.model_dump()
    for runs, target in items:
        state_path = target.with_name(f"{target.name}.state.pt")
        results = train_pack(store, labels, runs, regime, config, state_path, report, frames)
        with atomic_path(target, replace_dir=True) as tmp:  # the cache's own folder
            for run, per_fold in zip(runs, results, strict=True):
                for fold, result in zip(run.folds, per_fold, strict=True):
                    where = run_files.run_dir(tmp, fold["fold"], run.seed)
                    run_files.write(where, fold, run.seed, regime, settings, features, result)
        state_path.unlink(missing_ok=True)  # finished: keep only what the outputs need


_QUEUE: Any = None


def _init_worker(events: Any) -> None:
    """Worker set-up: the progress queue, and an end with the stage, however it ends.

    A worker that outlived a killed stage would go on training and writing the same pack
    state as the re-run (see :func:`pipeline.runtime.workers.die_with_stage`).
    """
    global _QUEUE
    _QUEUE = events
    die_with_stage()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def _queue_report(line: str, done: int, rows: list[dict[str, Any]]) -> None:
    _QUEUE.put((line, done, rows))


def _worker(*args) -> None:
    _train_and_write(*args, report=_queue_report)


def run_regime(
    regime: str,
    config: TrainConfig,
    labels_path: Path,
    feature_paths: list[Path],
    folds_path: Path,
    out_dir: Path,
    n_jobs: int,
    plot: Path,
) -> list[dict[str, Any]]:
    """Train (or reuse) every chosen (fold, seed) of ``regime`` and assemble ``out_dir``.

    ``plot`` (the tracked ``plots/train/<regime>.json``) is kept current while packs train,
    epoch by epoch, and written from the assembled runs at the end
    (:mod:`pipeline.training.curves`).
    """
    if regime not in TRAINED:
        raise ConfigError(f"unknown regime {regime!r}; one of {TRAINED}")
    folds = chosen_folds(read_folds(folds_path), config.folds)
    digests = {str(p): file_digest(p) for p in (labels_path, folds_path, *feature_paths)}
    cache = CACHE_ROOT / regime
    runs = plan_runs(folds, config.seeds)
    packs = plan_packs(runs, config.pack_size(len(runs)))
    targets = [cache / fingerprint(regime, p, config, digests) for p in packs]
    todo = [(p, t) for p, t in zip(packs, targets, strict=True) if not t.is_dir()]
    log.info(
        "%s: %d folds x %d seeds = %d runs in %d packs of up to %d; %d packs to train on %s",
        regime, len(folds), len(config.seeds), len(runs), len(packs),
        config.pack_size(len(runs)), len(todo), config.device,
    )  # fmt: skip
    _train_missing(todo, [t for t in targets if t.is_dir()], feature_paths, labels_path,
                   digests, regime, config, n_jobs, plot)  # fmt: skip
    _assemble(packs, targets, out_dir)
    write_json(plot, curves.aggregate(curves.run_rows(out_dir)))
    summaries = [run_files.read_summary(d) for d in run_files.finished_runs(out_dir)]
    return sorted(summaries, key=lambda s: (s["fold"], s["seed"]))


def _train_missing(
    todo: list[Item], finished: list[Path], feature_paths: list[Path], labels_path: Path,
    digests: dict[str, str], regime: str, config: TrainConfig, n_jobs: int, plot: Path,
) -> None:  # fmt: skip
    """Train the packs not in the fold cache, here or on a Dask cluster, keeping ``plot``
    live; a failed stage leaves no curve file."""
    address = cluster.scheduler_address()
    # the cached packs' curves show from the start
    live = curves.LiveCurves(plot, [row for t in finished for row in curves.run_rows(t)])
    try:
        if todo:
            # connect first: an unreachable scheduler fails before minutes of preparation
            with cluster.connect(address) if address else contextlib.nullcontext() as client:
                shared = (feature_paths, CACHE_ROOT, [digests[str(p)] for p in feature_paths])
                open_frames(*shared)  # build the shared memory map once, before the workers
                if client is None:
                    _train_here(todo, shared, labels_path, regime, config, n_jobs, live)
                else:
                    _train_on_cluster(client, todo, shared, labels_path, regime, config, live)
    except BaseException:
        plot.unlink(missing_ok=True)  # a failed stage leaves no output, the live file neither
        raise


def _assemble(packs: list[list[Run]], targets: list[Path], out_dir: Path) -> None:
    """The stage's output: every run of every pack, copied from its fold-cache folder."""
    with atomic_path(out_dir, replace_dir=True) as tmp:
        tmp.mkdir()
        for runs_of_pack, target in zip(packs, targets, strict=True):
            for r in runs_of_pack:
                for f in r.folds:
                    shutil.copytree(
                        run_files.run_dir(target, f["fold"], r.seed),
                        run_files.run_dir(tmp, f["fold"], r.seed),
                    )


@contextlib.contextmanager
def _progress(
    todo: list[Item], regime: str, config: TrainConfig, live: curves.LiveCurves
) -> Iterator[Report]:
    """A progress bar over every (run, epoch) to train; the reporter logs, advances it and
    brings the live curves up to date."""
    total = sum(len(p) for p, _ in todo) * config.epochs
    with (
        logging_redirect_tqdm(),
        tqdm(total=total, desc=f"train {regime}", unit="run-epoch", disable=None) as bar,
    ):

        def report(line: str, done: int, rows: list[dict[str, Any]]) -> None:
            if line:
                log.info("%s", line)
            bar.update(done)
            live.add(rows)

        yield report


def _cluster_task(frames_args, labels_path, item, regime, config, expected, events):
    """One pack on a Dask worker, which must run the same code as the stage's machine."""
    found = {"code": code_digest(), "torch": torch.__version__}
    if found != expected:
        raise ConfigError(
            f"a Dask worker runs other pipeline code or torch than this machine ({found} != "
            f"{expected}); install the same commit on every worker"
        )
    report = cluster.event_reporter(events)
    _train_and_write(frames_args, labels_path, [item], regime, config, report)


def _train_on_cluster(client, todo, frames_args, labels_path, regime, config, live) -> None:
    """Every pack as one Dask task; paths absolute, as every worker must see them."""
    features, cache, digests = frames_args
    shared = ([p.resolve() for p in features], cache.resolve(), digests)
    expected = {"code": code_digest(), "torch": torch.__version__}
    jobs = [
        (
            f"train-{regime}-{target.name}",
            (shared, labels_path.resolve(), (runs, target.resolve()), regime, config, expected),
        )
        for runs, target in todo
    ]
    with _progress(todo, regime, config, live) as report:
        cluster.run_on_cluster(client, _cluster_task, jobs, report)


def _train_here(todo, frames_args, labels_path, regime, config, n_jobs, live) -> None:
    """The packs on this machine, placed by :func:`placement`."""
    tasks, workers = placement(todo, config.device, n_jobs)
    with _progress(todo, regime, config, live) as report:
        if workers == 1:
            for where, items in tasks:
                here = config.model_copy(update={"device": where})
                _train_and_write(frames_args, labels_path, items, regime, here, report)
            return
        context = multiprocessing.get_context("spawn")
        events = context.Queue()
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(events,)
        )
        try:
            futures = [
                pool.submit(
                    _worker,
                    frames_args,
                    labels_path,
                    items,
                    regime,
                    config.model_copy(update={"device": where}),
                )
                for where, items in tasks
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
