"""``menan``: the command installed with the project, for using a trained model on any audio.

    menan predict MODEL AUDIO... [-o predictions.csv]   emotion probabilities per window and file
    menan embed   MODEL AUDIO... [-o embeddings.parquet] the speaker-invariant embedding v
    menan export  MODEL --onnx model.onnx                the network as ONNX (checked)

MODEL is a released model folder (``models/<regime>``) or a training run folder; a model
trained on a self-supervised front end also needs that SSL model, found where it was
trained (the recorded ``features.ssl.model``) or given with ``--ssl-model``; AUDIO are
files, folders (searched for audio) or CSV manifests (a ``path`` column; ``start_s`` and
``end_s`` together, or neither). Errors are one line and exit status 1, as the stages'.

Everything is checked before the first file is scored: the options, the device, the model,
the manifests, the audio headers and the output path (:mod:`pipeline.inference.user_output`: never
a folder, an input, a model file or a file ``menan`` did not write). Also runs as
``python -m pipeline.inference.cli``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from pipeline.inference.emotion_model import AudioSources, EmotionModel
from pipeline.inference.user_output import check_output, unwritable, write_table
from pipeline.runtime.errors import DiskFullError
from pipeline.runtime.stage import log, run_stage
from pipeline.runtime.workers import N_JOBS_RULE, count


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
        sub.add_argument("-o", "--out", type=Path, default=Path(default),
                         help=f"{what}; replaces only an earlier menan output")  # fmt: skip
        whole = "with it or --hop, the whole recording in windows"
        sub.add_argument("--window", type=float,
                         help=f"seconds, at most the model's crop; {whole} (default: its "
                              "middle crop, as evaluation scores)")  # fmt: skip
        sub.add_argument("--hop", type=float, help="seconds between windows (default: window)")
        sub.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:<index>")
        sub.add_argument("--n-jobs", type=_n_jobs, default=-1, help="feature workers (-1: all)")
        sub.add_argument("--skip-bad", action="store_true",
                         help="score the good files and list the bad ones")  # fmt: skip
        sub.add_argument("--allow-low-rate", action="store_true",
                         help="score audio below 16 kHz too (flagged low_rate)")  # fmt: skip
    export = verbs.add_parser("export", help="the encoder and emotion head as ONNX")
    export.add_argument("model", type=Path)
    export.add_argument("--onnx", type=Path, required=True, help="the .onnx file to write")
    for sub in (*verbs.choices.values(),):
        sub.add_argument("--ssl-model", help=SSL_HELP)
    return top


SSL_HELP = (
    "a model trained on an SSL front end: the folder of its SSL model (default: where "
    "it was trained, as the model records; must hold the same weights)"
)


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    device = args.device if args.verb != "export" else "cpu"
    model = EmotionModel.load(args.model, device, args.ssl_model)
    if args.verb == "export":
        with _writing(args.onnx):  # export_onnx checks the path before it exports
            worst = model.export_onnx(args.onnx)
        log.info("wrote %s (onnxruntime matches torch within %.1e)", args.onnx, worst)
        return
    model.frames(args.window, args.hop)  # refused here, before the audio is gathered
    model.frontend  # noqa: B018 -- an SSL model found and checked before the audio is
    sources = AudioSources.gather(args.audio)
    check_output(args.out, args.verb, sources.inputs, model=model.given)
    options = {"window_s": args.window, "hop_s": args.hop, "n_jobs": args.n_jobs,
               "skip_bad": args.skip_bad, "allow_low_rate": args.allow_low_rate,
               "progress": sys.stderr.isatty()}  # fmt: skip
    table = getattr(model, args.verb)(sources, **options)
    with _writing(args.out):
        write_table(table, args.out, args.verb, model.about)
    files = int((table["window"] == -1).sum())
    flagged = int(((table["window"] == -1) & (table["flags"] != "")).sum())
    log.info("%s: %d files (%d flagged), %d windows -> %s", args.verb, files, flagged,
             len(table) - files, args.out)  # fmt: skip


@contextlib.contextmanager
def _writing(target: Path) -> Iterator[None]:
    """An OSError while writing an output that passed its checks (the folder changed in the
    meantime) becomes one line naming it; a full disk keeps its own message."""
    try:
        yield
    except DiskFullError:
        raise
    except OSError as exc:
        raise unwritable(exc, target) from None


def entry() -> None:
    """The console script ``menan``."""
    run_stage(main)


if __name__ == "__main__":
    entry()
