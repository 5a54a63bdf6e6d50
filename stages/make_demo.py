"""DVC stage `demo`: write the synthetic IEMOCAP and CMU-MOSEI corpora.

Usage: python stages/make_demo.py OUT_DIR
"""

from __future__ import annotations

import json

from pipeline.cli import log, run_stage
from pipeline.demo.corpora import write_demo
from pipeline.params import load_params


def main(argv: list[str]) -> None:
    (out,) = argv
    params = load_params()
    truth = write_demo(out, params.demo.model_dump(), n_jobs=params.n_jobs)
    log.info(
        "demo corpora written to %s: %s",
        out,
        json.dumps({corpus: facts.get("class_counts") for corpus, facts in truth.items()}),
    )


if __name__ == "__main__":
    run_stage(main)
