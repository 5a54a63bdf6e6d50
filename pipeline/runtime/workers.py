"""Worker processes: how many a stage starts, and how they end on Ctrl-C.

One rule for every parallel stage: ``n_jobs: -1`` is every core this process may run on,
any other value (an integer >= 1) is the count itself. Workers die silently on SIGINT,
which a terminal's Ctrl-C sends to every process of the stage at once; the stage's own
process then reports the interruption once (see :mod:`pipeline.runtime.stage`) instead of every
worker printing a traceback. And they die with the stage, however it ends.
"""

from __future__ import annotations

import ctypes
import os
import signal
from typing import Any

from joblib import Parallel

from pipeline.runtime.errors import ConfigError

N_JOBS_RULE = "-1 (all cores) or an integer >= 1"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def valid_n_jobs(value: Any) -> bool:
    """The n_jobs rule (:data:`N_JOBS_RULE`), for params.yaml, `menan` and every stage."""
    return isinstance(value, int) and not isinstance(value, bool) and (value == -1 or value >= 1)


def count(n_jobs: int) -> int:
    """Worker processes for ``n_jobs``; -1 honours taskset and container CPU sets."""
    if not valid_n_jobs(n_jobs):
        raise ConfigError(f"params.yaml n_jobs: expected {N_JOBS_RULE}, got {n_jobs!r}")
    return len(os.sched_getaffinity(0)) if n_jobs == -1 else n_jobs


def die_with_stage() -> None:
    """Worker initializer: end with the stage, never after it, and without a traceback.

    The default SIGINT action ends the process silently. ``PR_SET_PDEATHSIG`` has the
    kernel kill the worker when the stage dies, even of SIGKILL: an orphaned worker would
    go on computing, hold its temporary files and semaphores, and could write the same
    cache entry as the stage's re-run.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def parallel(n_jobs: int, **options: Any) -> Parallel:
    """A joblib pool of ``count(n_jobs)`` processes that never memory-maps into /dev/shm.

    joblib would dump every array over 1 MB that a worker returns into a folder in
    /dev/shm (RAM), and a killed stage leaves that folder behind; the arrays our workers
    return are a few utterances' features, cheap to pickle through the pipe instead.
    """
    workers = count(n_jobs)
    if workers > 1:
        options["initializer"] = die_with_stage
    return Parallel(n_jobs=workers, max_nbytes=None, **options)
