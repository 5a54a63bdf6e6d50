"""Training packs on a Dask ``distributed`` cluster, when ``DASK_SCHEDULER_ADDRESS`` names one.

Where work runs never changes what it computes, so the address is an environment
variable, not a parameter: ``DASK_SCHEDULER_ADDRESS=tcp://host:8786 dvc repro`` trains the
packs of each training stage on the cluster's workers, one pack per worker thread, and
without it everything runs on this machine as before. Workers read the label table, the
feature memory map and the fold cache from the same absolute paths as this machine (a
shared filesystem), never from arrays shipped through the scheduler, and each pack saves
its state there after every epoch: a worker that dies costs the epoch it was in, because
the scheduler hands the pack to another worker, which resumes from that state. A pack
computes with the same fixed thread count on a worker as anywhere else
(:func:`pipeline.runtime.device.prepare_training`), so a cluster's outputs equal this machine's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.runtime.errors import ConfigError
from pipeline.training.run import Report

log = logging.getLogger(__name__)

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT_S = 10


def scheduler_address() -> str | None:
    """The scheduler named in the environment, or None to train on this machine."""
    return os.environ.get(SCHEDULER_ENV) or None


def connect(address: str) -> Any:
    """A client of the scheduler at ``address``; an error naming it if none answers in time."""
    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.WARNING)
    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(
            f"{SCHEDULER_ENV}={address}: no Dask scheduler answered within "
            f"{CONNECT_TIMEOUT_S} s ({exc}). Start one (`dask scheduler`) and workers "
            f"(`dask worker {address} --nthreads 1`), or unset {SCHEDULER_ENV} to train here"
        ) from None


def event_reporter(topic: str) -> Report:
    """Inside a task: send progress lines to the client as events of ``topic``."""
    from distributed import get_worker

    worker = get_worker()
    return lambda line, done, rows: worker.log_event(
        topic, {"line": line, "done": done, "rows": rows}
    )


def run_on_cluster(
    client: Any,
    task: Callable[..., None],
    jobs: Sequence[tuple[str, tuple[Any, ...]]],
    report: Report,
) -> None:
    """Run ``task(*args, topic)`` for every ``(key, args)`` of ``jobs``; relay its progress.

    Re-raises the first task error (its own type: a NonFiniteError stays one).
    """
    topic = f"menan-progress-{uuid.uuid4().hex}"
    events: queue.SimpleQueue = queue.SimpleQueue()  # filled on the client's event loop
    client.subscribe_topic(topic, lambda event: events.put(event[1]))
    log.info("training %d packs on the Dask cluster at %s (%d workers)",
             len(jobs), client.scheduler.address,
             len(client.scheduler_info()["workers"]))  # fmt: skip
    futures = [client.submit(task, *args, topic, key=key, pure=False) for key, args in jobs]
    try:
        while not all(f.done() for f in futures):
            with contextlib.suppress(queue.Empty):
                event = events.get(timeout=0.2)
                report(event["line"], event["done"], event["rows"])
    finally:
        client.unsubscribe_topic(topic)
    while not events.empty():
        event = events.get()
        report(event["line"], event["done"], event["rows"])
    for f in futures:
        f.result()
