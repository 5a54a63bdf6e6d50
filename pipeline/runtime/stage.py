"""The shared shell of every stage script: logging, and a non-zero exit with a clear message."""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable

from pipeline.runtime.errors import (
    ConfigError,
    CorpusError,
    DiskFullError,
    ModelError,
    NonFiniteError,
    OutputError,
)

log = logging.getLogger("pipeline")

EXPECTED = (CorpusError, ConfigError, DiskFullError, ModelError, NonFiniteError, OutputError)
INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C
INTERRUPT_LINE = "interrupted (Ctrl-C); no partial output was left behind"


def exit_on_interrupt() -> None:
    """Until :func:`run_stage` starts, Ctrl-C ends the process at once with the one line."""

    def stop(signum: int, frame: object) -> None:
        sys.stderr.write(f"{INTERRUPT_LINE}\n")
        os._exit(INTERRUPTED)

    signal.signal(signal.SIGINT, stop)


def run_stage(main: Callable[[list[str]], None]) -> None:
    """Run ``main(argv)``; expected errors become one log line and exit status 1.

    Ctrl-C becomes one line and exit status 130. By the time the interruption reaches
    here every output's temporary has been removed on the way up, and the process ends
    at once (``os._exit``) rather than waiting at interpreter exit for worker pools to
    finish what they were doing; the workers themselves die of the same SIGINT, or with
    their parent. Anything else is a bug and keeps its traceback (still a non-zero exit).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)  # unwind: temporaries go
    try:
        main(sys.argv[1:])
    except EXPECTED as exc:
        log.error("%s", exc)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("%s", INTERRUPT_LINE)
        logging.shutdown()
        os._exit(INTERRUPTED)
