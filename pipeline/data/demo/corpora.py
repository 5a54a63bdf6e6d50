"""Write both demo corpora and the truth file the tests and the README refer to."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.data.demo import TRUTH_FILE, iemocap, mosei
from pipeline.runtime.atomic import atomic_path, write_json

log = logging.getLogger(__name__)

IEMOCAP_DIR = "IEMOCAP_full_release"
MOSEI_DIR = "CMU_MOSEI"


DEMO_DIRS = {"iemocap": IEMOCAP_DIR, "mosei": MOSEI_DIR}


def used_demos(out: str | Path, roots: list[str | Path]) -> list[str]:
    """The demo corpora some corpus root points into: only those are worth writing, so a
    project whose corpora are all real spends nothing on the demo stage."""
    base = Path(out).resolve()
    resolved = [Path(root).resolve() for root in roots]
    return [
        name
        for name, folder in DEMO_DIRS.items()
        if any(r == base / folder or r.is_relative_to(base / folder) for r in resolved)
    ]


def write_demo(
    out: str | Path,
    config: dict[str, Any],
    n_jobs: int = 1,
    corpora: tuple[str, ...] = ("iemocap", "mosei"),
) -> dict[str, Any]:
    """Write ``<out>/{IEMOCAP_full_release,CMU_MOSEI,truth.json}`` atomically (the corpora
    named in ``corpora``; ``truth.json`` always).

    ``config`` is the ``demo`` section of params.yaml. The output only appears once
    everything is written, so an interrupted run never leaves a half corpus behind.
    """
    seed = int(config["seed"])
    writers = {"iemocap": iemocap.write, "mosei": mosei.write}
    truth: dict[str, Any] = {}
    with atomic_path(out, replace_dir=True) as tmp:
        tmp.mkdir()
        for name in corpora:
            log.info("writing demo %s to %s", name, Path(out) / DEMO_DIRS[name])
            truth[name] = writers[name](tmp / DEMO_DIRS[name], seed, n_jobs=n_jobs, **config[name])
        write_json(tmp / TRUTH_FILE, truth)
    return truth
