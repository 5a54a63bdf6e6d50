"""DVC stage `demo`: write the synthetic IEMOCAP and CMU-MOSEI corpora that params.yaml uses.

Usage: python -m stages.demo OUT_DIR

A demo corpus no entry of ``corpora`` points into is not written: with every corpus real,
the stage writes only an empty ``truth.json`` and takes no time.
"""

from __future__ import annotations

import json

from pipeline.data.demo.corpora import used_demos, write_demo
from pipeline.params import load_params
from pipeline.runtime.stage import log, run_stage


def main(argv: list[str]) -> None:
    (out,) = argv
    params = load_params()
    used = used_demos(out, [entry["root"] for entry in params.corpora.values()])
    if not used:
        log.info("no corpus in params.yaml reads %s: no demo corpus written", out)
    truth = write_demo(out, params.demo.model_dump(), n_jobs=params.n_jobs, corpora=tuple(used))
    log.info(
        "demo corpora written to %s: %s",
        out,
        json.dumps({corpus: facts.get("class_counts") for corpus, facts in truth.items()}),
    )


if __name__ == "__main__":
    run_stage(main)
