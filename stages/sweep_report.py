"""The lambda sweep and trade-off report (a command, not a DVC stage): reports/sweep.md and
its figures (``sweep.png``, ``tradeoff.png``).

Usage: python -m stages.sweep_report [REPORT_DIR]   (default: reports)

Run after the sweep's experiments have finished, for example
    dvc exp run --queue -S 'lambda=0.1,0.3,0.5,0.7,0.9' && dvc queue start
    dvc exp run --queue -S 'adversary.menan.ensemble=3,5' && dvc queue start
It reads every experiment of the current commit through `dvc exp show --json`, and each
one's evaluation summaries from its git commit (`git show <rev>:reports/results/...`), so it
is not a stage: no stage can depend on experiments that do not exist yet.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pipeline.reporting.sweep import (
    read_sweep,
    read_tradeoff,
    sweep_figure,
    sweep_markdown,
    tradeoff_figure,
    tradeoff_markdown,
)
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.errors import ConfigError
from pipeline.runtime.stage import log, run_stage


def exp_show() -> list[dict]:
    """`dvc exp show --json` of the current repository, parsed."""
    result = subprocess.run(
        ["dvc", "exp", "show", "--json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ConfigError(f"`dvc exp show --json` failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def git_read(rev: str, path: str) -> dict:
    """A JSON file as committed at ``rev`` (an experiment's commit); KeyError if absent."""
    result = subprocess.run(
        ["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise KeyError(f"{path} in commit {rev[:7]}")
    return json.loads(result.stdout)


def main(argv: list[str]) -> None:
    report_dir = Path(argv[0]) if argv else Path("reports")
    shown = exp_show()
    try:
        sweep = read_sweep(shown, git_read)
        tradeoff = read_tradeoff(shown, git_read)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    for name, why in sweep.left_out.items():
        log.warning("experiment %s left out of the lambda sweep: %s", name, why)
    sweep_figure(sweep, report_dir / "figures" / "sweep.png")
    tradeoff_figure(tradeoff, report_dir / "figures" / "tradeoff.png")
    with atomic_path(report_dir / "sweep.md") as tmp:
        tmp.write_text(sweep_markdown(sweep) + "\n" + tradeoff_markdown(tradeoff))
    lams = ", ".join(f"{p.lam:g}" for p in sweep.points)
    log.info("wrote %s: lambda = %s; trade-off: %d points, %d on the front",
             report_dir / "sweep.md", lams, len(tradeoff.points), len(tradeoff.front))  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
