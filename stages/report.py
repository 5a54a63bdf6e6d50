"""DVC stage `report`: reports/report.md with every table, the t-SNE figure and the curves.

Usage: python -m stages.report TRAIN_ROOT EVAL_ROOT PLOTS_ROOT REPORT_DIR

Reads, per regime, ``TRAIN_ROOT/<regime>/foldNN/seedS`` (embeddings for the t-SNE),
``EVAL_ROOT/<regime>/{folds,summary}.json``, ``PLOTS_ROOT/train/<regime>.json`` and
``PLOTS_ROOT/confusion/<regime>.json``. Writes, all tracked by git so that the results can
be read in the repository: ``report.md``, ``figures/``, and ``results/``: every regime's
whole evaluation summary and the paired comparisons (differences, 95 % intervals, p).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.data.folds import speakers_of
from pipeline.evaluation.summary import read_folds, read_summary
from pipeline.model import run_files
from pipeline.params import load_params
from pipeline.regimes import REFERENCE, REGIMES, TITLES, TRAINED
from pipeline.reporting.figures import curves_figure, tsne_figure
from pipeline.reporting.report import compare, render
from pipeline.runtime.atomic import atomic_path, write_json
from pipeline.runtime.errors import ConfigError
from pipeline.runtime.stage import log, run_stage

REPORTED_PARAMS = (
    "train_corpus", "cross_corpus", "corpora", "features", "augment", "lambda", "train",
    "evaluate", "report",
)  # fmt: skip


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _tsne_fold(train_root: Path, fold: int, seed: int) -> dict[str, Path]:
    """Per regime, the run of ``fold`` with the first seed (the t-SNE's); an error naming
    the setting where that fold was not trained."""
    fold_dirs = {r: run_files.run_dir(train_root / r, fold, seed) for r in REGIMES}
    missing = [str(d) for d in fold_dirs.values() if not (d / run_files.SUMMARY).is_file()]
    if missing:
        raise ConfigError(
            f"params.yaml report.tsne_fold={fold}: that fold was not trained ({missing[0]}); "
            "pick one of train.folds"
        )
    return fold_dirs


def _figures(
    fold_dirs: dict[str, Path], plots_root: Path, report_dir: Path, settings: Any,
    fold: int, unseen: dict[str, str],
) -> dict[str, str]:  # fmt: skip
    """The t-SNE of one fold (paper Fig. 2) and the training curves, under ``report_dir``."""
    figures = {"tsne": "figures/tsne.png", "curves": "figures/curves.png"}
    log.info("t-SNE of fold %d for %d regimes", fold, len(REGIMES))
    tsne_figure(
        [(TITLES[r], *run_files.unseen_embeddings(d)) for r, d in fold_dirs.items()],
        report_dir / figures["tsne"],
        perplexity=settings.tsne_perplexity,
        seed=settings.seed,
        subtitle=f"fold {fold}: validation {unseen['val']}, test {unseen['test']}",
    )
    curves_figure(
        {TITLES[r]: _read(plots_root / "train" / f"{r}.json") for r in TRAINED},
        report_dir / figures["curves"],
    )
    return figures


def main(argv: list[str]) -> None:
    train_root, eval_root, plots_root, report_dir = map(Path, argv)
    params = load_params()
    fold = params.report.tsne_fold
    fold_dirs = _tsne_fold(train_root, fold, params.train.seeds[0])
    info = run_files.read_summary(fold_dirs[REFERENCE])
    unseen = {k: "+".join(speakers_of(info[k])) for k in ("val", "test")}
    figures = _figures(fold_dirs, plots_root, report_dir, params.report, fold, unseen)
    folds = {r: read_folds(eval_root / r) for r in REGIMES}
    summaries = {r: read_summary(eval_root / r) for r in REGIMES}
    comparisons = compare(folds)
    text = render(
        summaries=summaries,
        folds=folds,
        comparisons=comparisons,
        confusions={r: _read(plots_root / "confusion" / f"{r}.json") for r in REGIMES},
        params=params.section(*REPORTED_PARAMS),
        figures=figures,
        protocol=info.get("protocol", "sessions"),
        tsne_caption=(
            f"t-SNE of v for fold {fold} (validation {unseen['val']}, test {unseen['test']}); "
            "left colored by emotion, right by speaker (paper Fig. 2)."
        ),
    )
    with atomic_path(report_dir / "report.md") as tmp:
        tmp.write_text(text)
    for regime, summary in summaries.items():
        write_json(report_dir / "results" / f"{regime}.json", summary)
    write_json(report_dir / "results" / "comparisons.json", comparisons)
    log.info("wrote %s", report_dir / "report.md")


if __name__ == "__main__":
    run_stage(main)
