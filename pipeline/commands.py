"""``menan``: the command installed with the project, for using a trained model on any audio.

    menan predict MODEL AUDIO... [-o predictions.csv]   emotion probabilities per window and file
    menan embed   MODEL AUDIO... [-o embeddings.parquet] the speaker-invariant embedding v
    menan export  MODEL --onnx model.onnx                the network as ONNX (checked)

MODEL is a released model folder (``models/<regime>``) or a training run folder; AUDIO are
files, folders (searched for audio) or CSV manifests (a ``path`` column, optional
``start_s``/``end_s``). Errors are one line and exit status 1, as the stages'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.atomic import atomic_path
from pipeline.cli import log, run_stage
from pipeline.emotion_model import EmotionModel
from pipeline.workers import N_JOBS_RULE, count


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text}")
    return value


def _n_jobs(text: str) -> int:
    try:
        return count(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {N_JOBS_RULE}, got {text}") from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="menan", description="Use a trained MEnAN-pipeline model on any audio."
    )
    verbs = top.add_subparsers(dest="verb", required=True)
    for verb, default, what in (
        ("predict", "predictions.csv", "emotion probabilities (.csv or .parquet)"),
        ("embed", "embeddings.parquet", "the embedding v per window and file (.parquet)"),
    ):
        sub = verbs.add_parser(verb, help=what)
        sub.add_argument("model", type=Path, help="a models/<regime> or a run folder")
        sub.add_argument("audio", nargs="+", help="audio files, folders or CSV manifests")
        sub.add_argument("-o", "--out", type=Path, default=Path(default), help=what)
        sub.add_argument("--window", type=_seconds, help="seconds (default: the training crop)")
        sub.add_argument("--hop", type=_seconds, help="seconds between windows (default: window)")
        sub.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:<index>")
        sub.add_argument("--n-jobs", type=_n_jobs, default=-1, help="feature workers (-1: all)")
        sub.add_argument("--skip-bad", action="store_true",
                         help="score the good files and list the bad ones")  # fmt: skip
    export = verbs.add_parser("export", help="the encoder and emotion head as ONNX")
    export.add_argument("model", type=Path)
    export.add_argument("--onnx", type=Path, required=True, help="the .onnx file to write")
    return top


def write_table(table: pd.DataFrame, target: Path) -> None:
    """CSV or Parquet by the suffix, atomically; an embedding column becomes a fixed-size
    list (Parquet only)."""
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise SystemExit(f"menan: {target}: expected a .csv or .parquet file name")
    columns = {name: pa.array(table[name]) for name in table.columns if name != "v"}
    if "v" in table:
        if target.suffix.lower() == ".csv":
            raise SystemExit(f"menan: {target}: embeddings are written as .parquet")
        flat = np.stack(table["v"].to_list())
        columns["v"] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
    with atomic_path(target) as tmp:
        if target.suffix.lower() == ".csv":
            table.to_csv(tmp, index=False)
        else:
            pq.write_table(pa.table(columns), tmp)


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    model = EmotionModel.load(args.model, args.device if args.verb != "export" else "cpu")
    if args.verb == "export":
        worst = model.export_onnx(args.onnx)
        log.info("wrote %s (onnxruntime matches torch within %.1e)", args.onnx, worst)
        return
    options = {"window_s": args.window, "hop_s": args.hop, "n_jobs": args.n_jobs,
               "skip_bad": args.skip_bad, "progress": sys.stderr.isatty()}  # fmt: skip
    table = getattr(model, args.verb)(args.audio, **options)
    write_table(table, args.out)
    files = int((table["window"] == -1).sum())
    log.info("%s: %d files, %d windows -> %s", args.verb, files, len(table) - files, args.out)


def entry() -> None:
    """The console script ``menan``."""
    run_stage(main)
