"""Write both demo corpora and the truth file the tests and the README refer to."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline.atomic import atomic_path, write_json
from pipeline.demo import iemocap, mosei

log = logging.getLogger(__name__)

IEMOCAP_DIR = "IEMOCAP_full_release"
MOSEI_DIR = "CMU_MOSEI"
TRUTH_FILE = "truth.json"


def write_demo(out: str | Path, config: dict[str, Any], n_jobs: int = 1) -> dict[str, Any]:
    """Write ``<out>/{IEMOCAP_full_release,CMU_MOSEI,truth.json}`` atomically.

    ``config`` is the ``demo`` section of params.yaml. The output only appears once
    everything is written, so an interrupted run never leaves a half corpus behind.
    """
    seed = int(config["seed"])
    with atomic_path(out) as tmp:
        tmp.mkdir()
        log.info("writing demo IEMOCAP to %s", Path(out) / IEMOCAP_DIR)
        truth = {
            "iemocap": iemocap.write(tmp / IEMOCAP_DIR, seed, n_jobs=n_jobs, **config["iemocap"])
        }
        log.info("writing demo CMU-MOSEI to %s", Path(out) / MOSEI_DIR)
        truth["mosei"] = mosei.write(tmp / MOSEI_DIR, seed, n_jobs=n_jobs, **config["mosei"])
        write_json(tmp / TRUTH_FILE, truth)
    return truth
