"""Every setting is checked before any work, and each error names its params.yaml key and
what is allowed; the stages fail with that one line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipeline.data.corpora import check_entries
from pipeline.params import check_roots, load_params, validate
from pipeline.runtime import workers
from pipeline.runtime.errors import ConfigError
from tests.helpers import REPO, project_params, write_params


def test_the_shipped_params_file_passes_and_is_typed() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.train.epochs == 12 and params.lam == 0.5 and params.train.pack == "auto"
    assert params.section("lambda", "train")["train"]["max_seconds"] == 4  # as YAML wrote it


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train": {"epochs": 0}}, r"train.epochs: expected an integer >= 1, got 0"),
        ({"train": {"epochs": "abc"}}, r"train.epochs: expected an integer >= 1, got 'abc'"),
        ({"train": {"epochs": 2.5}}, r"train.epochs: expected an integer >= 1, got 2.5"),
        ({"train": {"batch_size": 0}}, r"train.batch_size: expected an integer >= 1, got 0"),
        ({"train": {"batch_size": -4}}, r"train.batch_size: expected an integer >= 1, got -4"),
        ({"train": {"pack": True}}, r"train.pack: expected auto, or an integer >= 1, got True"),
        ({"train": {"pack": 0}}, r"train.pack: expected auto, or an integer >= 1, got 0"),
        ({"train": {"seeds": []}}, r"train.seeds: expected a non-empty list of distinct"),
        ({"train": {"seeds": [1, 1]}}, r"train.seeds: expected a non-empty list of distinct"),
        ({"train": {"lr": "abc"}}, r"train.lr: expected a number > 0, got 'abc'"),
        ({"train": {"lr": 0}}, r"train.lr: expected a number > 0, got 0"),
        ({"train": {"embedding": "flat"}}, r"train.embedding: expected one of pooled, projected"),
        ({"device": "gpu"}, r"params.yaml device: expected auto, cpu, cuda or cuda:<index>"),
        ({"train": {"device": "cuda"}}, r"train.device: unknown key \(known: seeds,"),
        ({"train": {"folds": []}}, r"train.folds: expected all, or a non-empty list"),
        ({"train": {"folds": ["a"]}}, r"train.folds: expected all, or a non-empty list"),
        ({"lambda": "abc"}, r"lambda: expected a number between 0 and 1, exclusive, got 'abc'"),
        ({"lambda": 1}, r"lambda: expected a number between 0 and 1, exclusive, got 1"),
        ({"features": {"f0_min_hz": "abc"}}, r"features.f0_min_hz: expected a number > 0"),
        ({"features": {"f0_min_hz": 600}}, r"features: .*f0_min_hz=600, f0_max_hz=500"),
        ({"augment": {"speeds": [0.9, 1.0]}}, r"augment.speeds: expected .* none equal to 1"),
        ({"n_jobs": 0}, r"n_jobs: expected -1 \(all cores\) or an integer >= 1, got 0"),
        ({"n_jobs": -2}, r"n_jobs: expected -1 \(all cores\) or an integer >= 1, got -2"),
        ({"evaluate": {"probe_splits": 1}}, r"evaluate.probe_splits: expected an integer >= 2"),
        (
            {"report": {"tsne_perplexity": -1}},
            r"report.tsne_perplexity: expected auto, or a number > 0",
        ),
        ({"demo": {"iemocap": {"utterances_per_speaker": 3}}}, r"utterances_per_speaker: .* >= 4"),
        ({"train_corpus": "iemocapp"}, r"train_corpus: 'iemocapp' names no entry of corpora"),
        ({"cross_corpus": "mosie"}, r"cross_corpus: 'mosie' names no entry of corpora"),
        ({"lamda": 0.3}, r"lamda: unknown key; did you mean lambda\?"),
        ({"train": {"epoch": 3}}, r"train.epoch: unknown key; did you mean train.epochs\?"),
        ({"train": "fast"}, r"params.yaml train: expected a mapping, got 'fast'"),
        ({"corpora": {"my corpus": {"format": "manifest", "root": "x"}}}, r"letters, digits"),
    ],
)
def test_a_bad_setting_names_its_key_and_what_is_allowed(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(project_params(changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"corpora": {"mosei": {"format": "timit"}}}, r"corpora.mosei.format: expected one of"),
        ({"corpora": {"mosei": {"wav_dr": "x"}}}, r"corpora.mosei: unknown keys \['wav_dr'\]"),
        ({"corpora": {"mosei": {"wav_dir": 5}}}, r"corpora.mosei.wav_dir: expected a non-empty"),
        (
            {"corpora": {"iemocap": {"expected_counts": {"joy": 3}}}},
            r"corpora.iemocap.expected_counts: expected null, auto .* or a mapping from ang, hap",
        ),
    ],
)
def test_a_bad_corpus_entry_names_its_key_in_the_check_stage(
    changes: dict[str, Any], message: str
) -> None:
    """A format's options are its reader's: checked by the check stage, not by every stage
    that loads params.yaml (which imports no reader)."""
    params = validate(project_params(changes))
    with pytest.raises(ConfigError, match=message):
        check_entries(params.corpora)


def test_a_missing_setting_says_what_is_expected() -> None:
    params = project_params()
    del params["train"]["lr"]
    with pytest.raises(ConfigError, match=r"params.yaml train.lr: missing; expected a number > 0"):
        validate(params)


def test_roots_must_exist_unless_the_demo_stage_writes_them(tmp_path: Path) -> None:
    demo = tmp_path / "data" / "demo"
    params = project_params(
        {
            "corpora": {
                "iemocap": {"root": str(demo / "IEMOCAP_full_release")},
                "mosei": {"root": str(tmp_path)},
            }
        }
    )
    check_roots(validate(params), demo)  # the first is the demo stage's, the second exists
    params["corpora"]["mosei"]["root"] = str(tmp_path / "CMU_MOSEI")
    with pytest.raises(ConfigError, match=rf"corpora.mosei.root: {tmp_path}/CMU_MOSEI does not"):
        check_roots(validate(params), demo)


def test_one_n_jobs_rule_for_every_stage() -> None:
    assert workers.count(-1) == len(os.sched_getaffinity(0))
    assert workers.count(3) == 3
    for bad in (0, -2, 1.5, "2"):
        with pytest.raises(ConfigError, match="n_jobs: expected -1"):
            workers.count(bad)


def _stage(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lambda": "abc"}, "params.yaml lambda: expected a number between 0 and 1"),
        ({"cross_corpus": "mosie"}, "params.yaml cross_corpus: 'mosie' names no entry"),
        ({"corpora": {"iemocap": {"root": "/nowhere/IEMOCAP"}}}, "/nowhere/IEMOCAP does not exist"),
    ],
)
def test_the_check_stage_stops_with_one_line_and_writes_nothing(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    write_params(tmp_path, changes)
    line = _one_error_line(_stage(tmp_path, "stages.check", "data/demo", "out/checked"))
    assert message in line
    assert not (tmp_path / "out").exists()


def test_stages_refuse_bad_settings_before_any_work(tmp_path: Path) -> None:
    """The rows of the hardening issue, on the stages they broke: training with 0 epochs and
    features with n_jobs 0 now stop at once, before reading their inputs."""
    write_params(tmp_path, {"train": {"epochs": 0}})
    train = ["stages.train", "ec_only", *["missing"] * 4, "out", "plot.json"]
    assert "train.epochs: expected an integer >= 1, got 0" in _one_error_line(
        _stage(tmp_path, *train)
    )
    write_params(tmp_path, {"n_jobs": 0})
    features = ["stages.features", "missing.parquet", "frontend.json", "out.parquet"]
    assert "n_jobs: expected -1 (all cores)" in _one_error_line(_stage(tmp_path, *features))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
