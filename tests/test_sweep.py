"""The sweep report from `dvc exp show --json` rows: which experiments count, and the output."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pipeline.regimes import REGIMES, USES_LAMBDA
from pipeline.reporting.report import with_interval
from pipeline.reporting.sweep import (
    read_sweep,
    read_tradeoff,
    sweep_figure,
    sweep_markdown,
    tradeoff_figure,
    tradeoff_markdown,
)
from tests.helpers import REPO

PARAMS = {"lambda": 0.5, "n_jobs": -1, "train": {"seeds": [1, 2], "epochs": 12}}


def _stat(mean: float) -> dict:
    return {"mean": mean, "low": mean - 2.0, "high": mean + 2.0, "sessions": 5}


COMMITS: dict[tuple[str, str], dict] = {}
"""What each experiment's commit holds at reports/results/<regime>.json."""


def read(rev: str, path: str) -> dict:
    """As stages.sweep_report.git_read: a KeyError names what is missing."""
    if (rev, path) not in COMMITS:
        raise KeyError(f"{path} in commit {rev[:7]}")
    return COMMITS[rev, path]


CODE = {
    "pipeline/model/network.py": {"hash": "1" * 32, "size": 1, "nfiles": None},
    "data/folds.json": {"hash": "2" * 32, "size": 1, "nfiles": None},
}


OTHER_CODE = {**CODE, "pipeline/model/network.py": {"hash": "3" * 32, "size": 1, "nfiles": None}}


def _entry(rev: str, lam: float, ua: float, code: dict | None = None, **params) -> dict:
    """One row as `dvc exp show --json` writes it (the fields the sweep reads), and its
    commit's evaluation summaries."""
    for k, r in enumerate(("ec_only", "multitask", "dat", "menan")):
        COMMITS[rev, f"reports/results/{r}.json"] = {
            # validation prefers lambda 0.3, whose test UA is the lowest: the pick must
            # follow validation, not test
            "within": {"ua_test": _stat(ua + k), "ua_val": _stat(80.0 if lam == 0.3 else 70.0)},
            "probe": {"speaker_kernel": _stat(30.0)},
        }
    data = copy.deepcopy(PARAMS) | {"lambda": lam} | params
    return {
        "rev": rev, "name": None, "error": None, "experiments": None,
        "data": {"params": {"params.yaml": {"data": data}}, "metrics": {}, "deps": code or CODE},
    }  # fmt: skip


def _exp(name: str, entry: dict) -> dict:
    return {"name": name, "executor": None, "revs": [{**entry, "name": name}]}


def _show() -> list[dict]:
    baseline = {**_entry("a" * 40, 0.5, 60.0), "name": "main"}
    failed = {**_entry("f" * 40, 0.9, 0.0), "error": {"msg": "stage failed"}, "data": {}}
    baseline["experiments"] = [
        _exp("lam07", _entry("c" * 40, 0.7, 65.0, n_jobs=2)),  # n_jobs is not a result
        _exp("lam03", _entry("b" * 40, 0.3, 55.0)),
        _exp("again05", _entry("d" * 40, 0.5, 60.0)),
        _exp("seeds", _entry("e" * 40, 0.1, 50.0, train={"seeds": [1], "epochs": 12})),
        _exp("broken", failed),
        _exp("oldcode", _entry("9" * 40, 0.2, 70.0, code=OTHER_CODE)),  # another program
    ]
    return [_entry("workspace", 0.5, 60.0), baseline]


def test_sweep_keeps_experiments_that_differ_in_lambda_alone() -> None:
    sweep = read_sweep(_show(), read)
    assert [(p.name, p.lam) for p in sweep.points] == [
        ("lam03", 0.3), ("main", 0.5), ("lam07", 0.7),
    ]  # fmt: skip
    assert sweep.baseline.name == "main"
    assert sweep.left_out == {
        "seeds": "differs from the baseline in train.seeds",
        "broken": "failed or not finished",
        "oldcode": "ran other code than the baseline (1 file(s), pipeline/model/network.py "
        "first): run it again on this commit",
    }
    assert sweep.points[0].stat("menan", "ua_test")["mean"] == 58.0
    with pytest.raises(ValueError, match="no committed baseline"):
        read_sweep([_entry("workspace", 0.5, 60.0)], read)
    bare = {**_entry("a" * 40, 0.5, 60.0), "name": "main", "rev": "0" * 40}
    with pytest.raises(
        ValueError, match=r"baseline has no reports/results/\w+\.json in commit 0000000: run"
    ):
        read_sweep([bare], read)


def test_sweep_writes_a_table_and_a_png(tmp_path: Path) -> None:
    sweep = read_sweep(_show(), read)
    text = sweep_markdown(sweep)
    assert "| 0.3 | lam03 | 56.0 [54.0, 58.0] | 57.0 [55.0, 59.0] | 58.0 [56.0, 60.0] |" in text
    assert "EC only (reads no lambda), the reference: test UA 60.0 [58.0, 62.0]" in text
    assert "- `seeds`: differs from the baseline in train.seeds" in text
    assert "| MEnAN | 0.3 | 80.0 [78.0, 82.0] | 58.0 [56.0, 60.0] |" in text  # validation's pick
    # which is not nested under a cross-validation protocol, and the sweep says so
    assert "This choice is not nested" in text and "played no part" not in text
    assert "shown for reference only" in text
    assert sweep.chosen("dat").lam == 0.3
    sweep_figure(sweep, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes().startswith(b"\x89PNG")
    for point in sweep.points:  # a probe that ran nowhere (null, dropped): no point, no error
        for summary in point.metrics.values():
            del summary["probe"]["speaker_kernel"]
    sweep_figure(sweep, tmp_path / "without_probe.png")
    assert "n/a" in sweep_markdown(sweep)


def test_the_committed_sweep_agrees_with_the_committed_report() -> None:
    """`reports/sweep.md`'s lambda = 0.5 row is the committed baseline: its numbers are the
    report's (`reports/results/`). A sweep left over from other code fails here: run the
    sweep again (docs/experiments.md) after a change of results."""
    rows = [line for line in (REPO / "reports/sweep.md").read_text().splitlines()
            if line.startswith("| 0.5 |")]  # fmt: skip
    assert len(rows) == 1, "reports/sweep.md has no lambda = 0.5 row"
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    results = {r: json.loads((REPO / f"reports/results/{r}.json").read_text()) for r in USES_LAMBDA}
    expected = [with_interval(results[r]["within"]["ua_test"], 1) for r in USES_LAMBDA]
    expected += [with_interval(results[r]["probe"]["speaker_kernel"], 1) for r in USES_LAMBDA]
    assert cells[2:] == expected, "reports/sweep.md is stale: run the sweep again"


def _strength_entry(rev: str, values: dict[str, tuple[float, float]], **params) -> dict:
    """A `dvc exp show` row whose commit holds, per regime, (test UA, speaker probe)."""
    for regime in REGIMES:
        ua, probe = values.get(regime, (0.0, 0.0))
        COMMITS[rev, f"reports/results/{regime}.json"] = {
            "within": {"ua_test": _stat(ua), "ua_val": _stat(ua)},
            "probe": {"speaker_kernel": _stat(probe)},
        }
    data = copy.deepcopy(PARAMS) | params
    return {
        "rev": rev, "name": None, "error": None, "experiments": None,
        "data": {"params": {"params.yaml": {"data": data}}, "metrics": {}, "deps": CODE},
    }  # fmt: skip


def test_the_tradeoff_takes_each_regime_where_an_experiment_changed_what_it_reads(
    tmp_path: Path,
) -> None:
    base = {"ec_only": (60.0, 45.0), "multitask": (61.0, 70.0), "dat": (60.0, 44.0),
            "menan": (62.0, 46.0), "ec_leace": (58.0, 27.0), "ec_kleace": (57.0, 26.0)}  # fmt: skip
    paper = {"dat": {"ensemble": 1}, "menan": {"ensemble": 1}}
    three = {"dat": {"ensemble": 1}, "menan": {"ensemble": 3}}
    baseline = {**_strength_entry("1" * 40, base, adversary=paper,
                                  erase={"kernel_features": 512}), "name": "main"}  # fmt: skip
    # every regime of these commits differs, so a regime counted where it should not be shows
    shifted = {r: (ua - 1.0, probe + 1.0) for r, (ua, probe) in base.items()}
    baseline["experiments"] = [
        _exp("ens3", _strength_entry("2" * 40, {**shifted, "menan": (63.0, 30.0)},
                                     adversary=three, erase={"kernel_features": 512})),
        _exp("kf64", _strength_entry("3" * 40, shifted, adversary=paper,
                                     erase={"kernel_features": 64})),
        _exp("lam03", _strength_entry("5" * 40, shifted, adversary=paper,
                                      erase={"kernel_features": 512}, **{"lambda": 0.3})),
        # MEnAN's part repeats ens3's setting (not drawn twice); DAT's is new
        _exp("both", _strength_entry("6" * 40, shifted, erase={"kernel_features": 512},
                                     adversary={**three, "dat": {"ensemble": 2}})),
        _exp("seeds", _strength_entry("4" * 40, shifted, adversary=paper,
                                      erase={"kernel_features": 512},
                                      train={"seeds": [1], "epochs": 12})),
    ]  # fmt: skip
    tradeoff = read_tradeoff([baseline], read)
    counted = sorted((p.regime, p.experiment) for p in tradeoff.points)
    assert counted == sorted(
        [(r, "main") for r in REGIMES]
        + [("menan", "ens3"), ("ec_kleace", "kf64"), ("dat", "both")]  # what read a change
        + [(r, "lam03") for r in USES_LAMBDA]
    )
    assert tradeoff.left_out == {"seeds": "differs from the baseline in train.seeds"}
    assert tradeoff.probe == "speaker_kernel"  # the baseline kept nothing out
    # the front: MEnAN with 3 adversaries (63 UA at probe 30) beats every point with a higher
    # probe; the erasers have lower probes and lower UA, so nothing beats them either
    front = [(p.regime, p.experiment) for p in tradeoff.front]
    assert front == [("ec_kleace", "main"), ("ec_leace", "main"), ("menan", "ens3")]
    text = tradeoff_markdown(tradeoff)
    menan = "| MEnAN | ens3 | adversary.menan.ensemble=3 | 30.0 [28.0, 32.0] | 63.0 [61.0, 65.0] |"
    assert f"{menan} yes |" in text
    assert "| Multi-task | main | baseline | 70.0 [68.0, 72.0] | 61.0 [59.0, 63.0] |  |" in text
    assert "| DAT | both | adversary.dat.ensemble=2 |" in text  # only the key DAT reads
    assert "| Multi-task | lam03 | lambda=0.3 |" in text
    assert "in-sample speaker probe" in text and "select on the test speakers" in text
    tradeoff_figure(tradeoff, tmp_path / "tradeoff.png")
    assert (tmp_path / "tradeoff.png").read_bytes().startswith(b"\x89PNG")
