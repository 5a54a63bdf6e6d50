"""DVC stage `labels@<corpus>`: one corpus's annotations -> the common label table.

Usage: python -m stages.labels CORPUS OUT_PARQUET OUT_COUNTS_JSON

OUT_COUNTS_JSON (``reports/results/labels/<corpus>.json``, tracked by git) holds the class
counts, the labels dropped, the files left out by reason (copy debris among them,
:mod:`pipeline.data.corpora.files`) and the speakers: what to check a corpus copy against.
"""

from __future__ import annotations

from pipeline.data import labels as label_table
from pipeline.data.corpora import prepare_corpus
from pipeline.params import load_params
from pipeline.runtime.atomic import write_json
from pipeline.runtime.stage import log, run_stage


def main(argv: list[str]) -> None:
    corpus, out, counts_path = argv
    config = load_params().corpora[corpus]
    log.info("reading corpus %s (%s) from %s", corpus, config["format"], config["root"])
    table, info = prepare_corpus(corpus, config)
    label_table.write(table, out, corpus, info)
    counts = label_table.class_counts(table)
    log.info("%s: %d utterances %s -> %s; dropped classes %s; files left out %s", corpus,
             len(table), counts, out, info["dropped"], info["left_out"])  # fmt: skip
    summary = {k: v for k, v in info.items() if k not in ("speakers", "format")}
    write_json(
        counts_path,
        {
            "utterances": len(table),
            "speakers": int(table["speaker"].nunique()),
            "classes": counts,
            **summary,
        },
    )


if __name__ == "__main__":
    run_stage(main)
