"""The shared shell of every stage script: logging, and a non-zero exit with a clear message."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.errors import ConfigError, CorpusError

log = logging.getLogger("pipeline")


def run_stage(main: Callable[[list[str]], None]) -> None:
    """Run ``main(argv)``; expected input errors become one log line and exit status 1.

    Anything else is a bug and keeps its traceback (still a non-zero exit).
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        main(sys.argv[1:])
    except (CorpusError, ConfigError) as exc:
        log.error("%s", exc)
        sys.exit(1)
