"""The whole pipeline under real DVC, in a throw-away git+DVC copy of the project."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from pipeline.data import labels as label_table
from pipeline.evaluation.summary import HEADLINE
from pipeline.features import store as feature_store
from pipeline.regimes import (
    COMPARISONS,
    ERASED,
    REGIMES,
    TRAINED,
    USES_LAMBDA,
)
from tests.helpers import BIN, TINY_DEMO, blocks, demo_project, dvc, dvc_env, git


def _each(stage: str, regimes: tuple[str, ...] = REGIMES) -> tuple[str, ...]:
    return tuple(f"{stage}@{r}" for r in regimes)


TRAIN_STAGES, EVAL_STAGES = _each("train", TRAINED), _each("evaluate")
RELEASE_STAGES, PUBLISH_STAGES = _each("release", TRAINED), _each("publish")
ERASE_STAGES = (*_each("erase", tuple(ERASED)), *_each("erase_release", tuple(ERASED)))
ALL_STAGES = (
    "check", "demo", "labels@iemocap", "labels@mosei", "frontend", "features@iemocap",
    "features@mosei", "augment", "folds", *TRAIN_STAGES, *ERASE_STAGES, *EVAL_STAGES,
    *RELEASE_STAGES, *PUBLISH_STAGES, "report",
)  # fmt: skip
LAMBDA_STAGES = {
    "check", "report",
    *(f"{s}@{r}" for s in ("train", "evaluate", "release", "publish") for r in USES_LAMBDA),
}  # fmt: skip
# two sessions (folds 0-3), so every summary has a 95 % interval over sessions
TINY_TRAIN = {"epochs": 1, "max_seconds": 1, "folds": [0, 1, 2, 3], "seeds": [1234, 7]}
SPEEDS = [0.8, 0.9, 1.1, 1.2]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    changes = {"n_jobs": 1, "demo": TINY_DEMO, "train": TINY_TRAIN, "erase": {"epochs": 1}}
    return demo_project(tmp_path_factory.mktemp("project"), changes)


def ran_stages(result: subprocess.CompletedProcess) -> set[str]:
    return {stage for stage in ALL_STAGES if f"Running stage '{stage}'" in result.stdout}


def set_param(root: Path, dotted: str, value) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    *parents, leaf = dotted.split(".")
    node = params
    for key in parents:
        node = node[key]
    node[leaf] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.slow
def test_dvc_repro_builds_demo_and_label_tables(project: Path) -> None:
    result = dvc(project, "repro")
    for stage in ALL_STAGES:
        assert f"Running stage '{stage}'" in result.stdout
    truth = json.loads((project / "data" / "demo" / "truth.json").read_text())
    iemocap = label_table.read(project / "data" / "labels" / "iemocap.parquet")
    mosei = label_table.read(project / "data" / "labels" / "mosei.parquet")
    assert iemocap["label"].value_counts().to_dict() == truth["iemocap"]["class_counts"]
    assert len(mosei) == truth["mosei"]["kept"]
    metrics = json.loads((project / "reports/results/labels/iemocap.json").read_text())
    assert metrics["classes"] == {
        k: truth["iemocap"]["class_counts"].get(k, 0) for k in metrics["classes"]
    }
    features = feature_store.load(project / "data" / "features" / "iemocap.parquet")
    speed = feature_store.load(project / "data" / "features" / "iemocap_speed.parquet")
    assert sorted(features.utt_ids) == sorted(iemocap["utt_id"])
    assert len(speed) == 4 * len(iemocap) and sorted(set(speed.speeds)) == pytest.approx(SPEEDS)
    assert len(feature_store.load(project / "data" / "features" / "mosei.parquet")) == len(mosei)
    folds = json.loads((project / "data" / "folds.json").read_text())
    assert len(folds) == 10
    for regime in REGIMES:
        out = project / "data" / "train" / regime
        runs = sorted(str(p.relative_to(out)) for p in out.glob("*/*"))
        assert runs == [f"fold{f:02d}/seed{s}" for f in range(4) for s in (1234, 7)]
        fold = json.loads((out / "fold01" / "seed7" / "fold.json").read_text())
        assert (fold["test"], fold["val"], fold["seed"]) == (folds[1]["test"], folds[1]["val"], 7)
        # one row per epoch: the mean over the 8 (fold, seed) runs, in %
        (curve,) = json.loads((project / "plots" / "train" / f"{regime}.json").read_text())
        assert (curve["epoch"], curve["runs"]) == (1, 8) and 0 <= curve["val_ua"] <= 100
        # progress: one line per run and epoch (both seeds of session 1 trained as one pack)
        for seed in (1234, 7):
            if regime in TRAINED:
                assert f"{regime} Ses01/seed{seed} epoch 1/1:" in result.stderr
            else:
                assert f"{regime} run 2/8 (fold 0, seed 1234): epoch" in result.stderr
    # an erasure regime keeps EC only's encoder and adds the eraser fitted on the run
    erased = torch.load(project / "data/train/ec_kleace/fold00/seed7/model.pt", weights_only=True)
    base = torch.load(project / "data/train/ec_only/fold00/seed7/model.pt", weights_only=True)
    assert erased["erasure"]["method"] == "kernel" and erased["format"] == 3
    assert torch.equal(erased["state_dict"]["enc.gru.weight_hh_l0"],
                       base["state_dict"]["enc.gru.weight_hh_l0"])  # fmt: skip
    assert erased["state_dict"]["enc.erase.affine.weight"].shape == (512, 512)
    assert "Data and pipelines are up to date" in dvc(project, "status").stdout
    assert "Running stage" not in dvc(project, "repro").stdout
    shown = json.loads(dvc(project, "metrics", "show", "--json").stdout)
    metrics = shown[""]["data"]
    # the headline only: six means per regime, one decimal; the rest is tracked in git
    assert sorted(metrics) == sorted(f"metrics/{r}.json" for r in REGIMES)
    headline = metrics["metrics/menan.json"]["data"]
    assert set(headline) <= set(HEADLINE) and all(round(v, 1) == v for v in headline.values())
    menan = json.loads((project / "reports/results/menan.json").read_text())
    assert headline["test_ua"] == round(menan["within"]["ua_test"]["mean"], 1)
    assert (menan["folds"], menan["seeds"], menan["sessions"], menan["runs"]) == (4, 2, 2, 4)
    ua = menan["within"]["ua_test"]
    assert 0 <= ua["low"] <= ua["mean"] <= ua["high"] <= 100 and ua["sessions"] == 2
    scored = json.loads((project / "data" / "eval" / "menan" / "folds.json").read_text())
    assert sorted((f["fold"], f["seed"]) for f in scored) == [
        (f, s) for f in range(4) for s in (7, 1234)
    ]
    assert set(menan["cross_corpus"]) == {
        "mean", "low", "high", "sessions", "min", "max", "segments", "two_way_low",
        "two_way_high",
    }  # fmt: skip
    # every probe is in the file; the tiny corpus is too small for most (null, which
    # `dvc metrics show` leaves out)
    assert set(menan["probe"]) == {
        f"{p}_{m}" for p in ("speaker", "gender", "emotion", "speaker_heldout")
        for m in ("linear", "kernel")
    }  # fmt: skip
    comparisons = json.loads((project / "reports/results/comparisons.json").read_text())
    assert set(comparisons) == {f"{a}-{b}" for a, b in COMPARISONS}
    assert set(comparisons["menan-multitask"]["ua_test"]) == {
        "mean", "low", "high", "sessions", "p", "p_sign_flip", "p_adjusted",
    }  # fmt: skip
    report = (project / "reports" / "report.md").read_text()
    for heading in ("## Paired comparisons", "## Table 2", "## Table 3", "probes",
                    "**Data: the synthetic demo corpora**", "![t-SNE]",
                    "## Speaker identity left, and what removing it cost",
                    "| 1 |", "| EC only + kernel LEACE |"):  # fmt: skip
        assert heading in report
    # two sessions: nothing can be confirmed, and the reading says why when it matters
    assert re.search(
        r"- MEnAN vs Multi-task: [-+]\d+\.\d test UA points \[.*\]: (not distinguishable|"
        r"MEnAN (higher|lower) by the interval only, .*cannot go below p = 0\.5 with 2 sessions)",
        report,
    )
    assert "| input features (control) |" in report and "(**in-sample**" in report
    for part in ("| Holm p |", "corrected** resampled t-interval", "Gender (speaker-disjoint)",
                 "Size of each probe", "interval over sessions and segments"):  # fmt: skip
        assert part in report, part
    for figure in ("tsne.png", "curves.png"):
        assert (project / "reports" / "figures" / figure).read_bytes().startswith(b"\x89PNG")
    dvc(project, "plots", "show", "-o", "rendered")
    page = (project / "rendered" / "index.html").read_text()
    assert "plots/confusion/menan.json" in page and "tsne.png" in page
    for title in ("Validation UA (%), mean over runs", "with chance (100/K)", "log K"):
        assert title in page
    assert "plots/train/menan.json" not in re.findall(r'"title": "([^"]*)"', page)
    # the report, its figures and every result can be read in git, and nothing is pending
    readable = ["reports/report.md", "reports/results/menan.json", "reports/figures/curves.png",
                "reports/results/labels/mosei.json", "metrics/menan.json"]  # fmt: skip
    ignored = subprocess.run(["git", "check-ignore", *readable], cwd=project,
                             capture_output=True, text=True).stdout  # fmt: skip
    assert ignored == ""
    for regime in REGIMES:
        card = (project / "models" / regime / "model_card.md").read_text()
        assert "**Epochs: 1**" in card and "**the synthetic demo corpus**" in card
        assert f"the DVC stage `publish@{regime}`" in card
        released = (project / "models" / regime / "model.pt").read_bytes()
        assert len(released) > 10_000  # the network `release@` trained, copied byte for byte
        assert released == (project / "data" / "release" / regime / "model.pt").read_bytes()


@pytest.mark.slow
def test_released_models_are_dvc_artifacts_and_score_audio(project: Path, tmp_path: Path) -> None:
    """DVC's model workflow as the README shows it: register the released models (a git tag
    each, with GTO, which comes with DVC), list them, fetch one by name, predict with it."""
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "released models", "--allow-empty")
    names = ("ec-only", "multitask", "dat", "menan")
    for name in names:
        subprocess.run([str(BIN / "gto"), "register", name], cwd=project, env=dvc_env(project),
                       check=True, capture_output=True)  # fmt: skip
    shown = subprocess.run([str(BIN / "gto"), "show"], cwd=project, env=dvc_env(project),
                           check=True, capture_output=True, text=True).stdout  # fmt: skip
    assert all(f"{name} " in shown for name in names), shown
    for name in names:
        dvc(project, "artifacts", "get", str(project), name, "-o", str(tmp_path / name))
    assert sorted(p.name for p in (tmp_path / "menan").iterdir()) == ["model.pt", "model_card.md"]
    wav = next((project / "data" / "demo").rglob("*.wav"))
    done = subprocess.run(
        [str(BIN / "menan"), "predict", str(tmp_path / "menan"), str(wav), "-o", "p.csv"],
        cwd=tmp_path, env=dvc_env(project), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "predict: 1 files (0 flagged), 1 windows" in done.stderr
    for command in blocks()["Using a trained model"]:  # as the README writes them
        words = shlex.split(command)
        ran = subprocess.run([str(BIN / words[0]), *words[1:]], cwd=project, env=dvc_env(project),
                             capture_output=True, text=True)  # fmt: skip
        assert ran.returncode == 0, f"{command}\n{ran.stderr}"
    assert (project / "predictions.csv").is_file() and (project / "menan.onnx").is_file()


@pytest.mark.slow
def test_the_readme_demo_as_written_then_a_return_from_the_run_cache(project: Path) -> None:
    """The README's demo commands, one by one as a newcomer types them, on results committed
    as in a fresh clone; then back to lambda 0.5, which the run-cache serves."""
    demo = blocks()["The demo"]
    assert demo[:2] == [". .venv/bin/activate", "dvc repro"]
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "baseline results", "--allow-empty")
    done = {}
    for command in demo[2:]:
        words = shlex.split(command)
        assert words[0] == "dvc", command
        done[" ".join(words[1:3])] = dvc(project, *words[1:])
    assert ran_stages(done["exp run"]) == LAMBDA_STAGES
    table = done["metrics diff"].stdout  # fits one screen
    assert 3 < len(table.splitlines()) <= 40, table
    assert "metrics/ec_only.json" not in table  # EC only reads no lambda
    assert (project / "dvc_plots" / "index.html").is_file()

    result = dvc(project, "exp", "run", "-n", "lam05", "-S", "lambda=0.5")
    # every lambda=0.5 result comes back from the run-cache; the report (git-tracked, so
    # outside the run-cache) is rewritten, byte for byte, in seconds
    assert ran_stages(result) == {"report"}
    for stage in LAMBDA_STAGES - {"report"}:
        assert f"Stage '{stage}' is cached - skipping run" in result.stdout
    assert "Data and pipelines are up to date" in dvc(project, "status").stdout
    assert subprocess.run(["git", "status", "--porcelain", "reports", "metrics"], cwd=project,
                          capture_output=True, text=True).stdout == ""  # fmt: skip
    shown = dvc(project, "exp", "show", "--csv").stdout
    assert "lam05" in shown
    rows = json.loads(dvc(project, "exp", "show", "--json").stdout)
    metrics = [(row.get("data") or {}).get("metrics", {}) for row in rows]
    columns = {f"{path}:{key}" for files in metrics for path, found in files.items()
               for key in found["data"]}  # fmt: skip
    assert 20 <= len(columns) <= 40, sorted(columns)


@pytest.mark.slow
def test_a_param_reruns_only_the_stages_that_read_it(project: Path) -> None:
    dvc(project, "repro")
    truth = json.loads((project / "data" / "demo" / "truth.json").read_text())
    set_param(project, "corpora.iemocap.expected_counts", truth["iemocap"]["class_counts"])
    result = dvc(project, "repro")
    assert "Running stage 'labels@iemocap'" in result.stdout
    assert "Running stage 'labels@mosei'" not in result.stdout
    assert "Running stage 'demo'" not in result.stdout

    set_param(project, "augment.speeds", [0.9, 1.1])
    result = dvc(project, "repro")
    assert ran_stages(result) == {
        "check", "augment", *TRAIN_STAGES, *ERASE_STAGES, *EVAL_STAGES, *RELEASE_STAGES,
        *PUBLISH_STAGES, "report",
    }  # fmt: skip
    speed = feature_store.load(project / "data" / "features" / "iemocap_speed.parquet")
    assert sorted(set(speed.speeds)) == pytest.approx([0.9, 1.1])

    set_param(project, "lambda", 0.3)
    assert ran_stages(dvc(project, "repro")) == LAMBDA_STAGES

    # a DAT adversary setting retrains DAT alone; the kernel eraser's width only the kernel
    # eraser, the classifier's epochs both erasers (the report prints params.yaml)
    set_param(project, "adversary.dat.ensemble", 2)
    assert ran_stages(dvc(project, "repro")) == {
        "check", "report", *(f"{s}@dat" for s in ("train", "evaluate", "release", "publish")),
    }  # fmt: skip
    erasing = ("erase", "erase_release", "evaluate", "publish")
    set_param(project, "erase.kernel_features", 64)
    assert ran_stages(dvc(project, "repro")) == {
        "check", "report", *(f"{s}@ec_kleace" for s in erasing),
    }  # fmt: skip
    set_param(project, "erase.epochs", 2)
    assert ran_stages(dvc(project, "repro")) == {
        "check", "report", *(f"{s}@{r}" for s in erasing for r in ERASED),
    }  # fmt: skip

    # what the paper's front end does not read: checked again, nothing extracted again (the
    # report re-runs: it prints params.yaml)
    set_param(project, "features.ssl.layers", [1, 2])
    assert ran_stages(dvc(project, "repro")) == {"check", "frontend", "report"}
    notes = project / "models" / "ssl" / "notes.txt"
    notes.write_text("a model will go here\n")
    assert ran_stages(dvc(project, "repro")) == {"frontend"}
    notes.unlink()  # git-ignored: a clone in a later test would not have it
    assert ran_stages(dvc(project, "repro")) <= {"frontend"}  # or from DVC's run cache
    assert "Data and pipelines are up to date" in dvc(project, "status").stdout

    set_param(project, "report.tsne_fold", 5)  # only folds 0 and 1 were trained
    failed = dvc(project, "repro", check=False)
    assert failed.returncode != 0 and "tsne_fold=5" in failed.stdout + failed.stderr
    assert not (project / "reports" / "report.md").exists()
    set_param(project, "report.tsne_fold", 1)
    assert ran_stages(dvc(project, "repro")) == {"check", "report"}

    # typos stop `dvc repro` in the check stage, with the key named, before anything runs
    good = (project / "params.yaml").read_text()
    for key, value, message in (
        ("cross_corpus", "mosie", "params.yaml cross_corpus: 'mosie' names no entry of corpora"),
        ("train.batch_size", -4, "params.yaml train.batch_size: expected an integer >= 1"),
        ("corpora.mosei.root", "/nowhere/CMU_MOSEI", "mosei.root: /nowhere/CMU_MOSEI does not"),
    ):
        set_param(project, key, value)
        failed = dvc(project, "repro", check=False)
        assert failed.returncode != 0 and message in failed.stderr, failed.stdout + failed.stderr
        assert ran_stages(failed) == {"check"}
        (project / "params.yaml").write_text(good)

    wrong = {**truth["iemocap"]["class_counts"], "ang": 1103}
    set_param(project, "corpora.iemocap.expected_counts", wrong)
    failed = dvc(project, "repro", check=False)
    assert failed.returncode != 0
    assert "expected class counts" in failed.stdout + failed.stderr


def _wait_for_queue(root: Path, timeout_s: float = 900) -> str:
    """Poll `dvc queue status` until nothing is queued or running; return the last status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = dvc(root, "queue", "status").stdout
        if not re.search(r"\b(Queued|Running)\b", status):
            return status
        time.sleep(3)
    raise AssertionError(f"queue still busy after {timeout_s} s:\n{status}")


@pytest.mark.slow
def test_a_queued_lambda_sweep_and_its_report(project: Path) -> None:
    git(project, "checkout", "--", "params.yaml")  # undo what earlier tests set
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "baseline results", "--allow-empty")
    dvc(project, "exp", "run", "--queue", "-S", "lambda=0.3,0.7")
    dvc(project, "queue", "start", "--jobs", "1")
    status = _wait_for_queue(project)
    assert status.count("Success") == 2 and "Failed" not in status, status
    result = subprocess.run(
        [sys.executable, "-m", "stages.sweep_report"],
        cwd=project, env=dvc_env(project), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    sweep = (project / "reports" / "sweep.md").read_text()
    lambdas = re.findall(r"^\| (0\.\d) \|", sweep, flags=re.MULTILINE)
    assert lambdas == ["0.3", "0.5", "0.7"]  # the two queued experiments and the baseline
    assert "EC only (reads no lambda), the reference: test UA" in sweep
    assert (project / "reports" / "figures" / "sweep.png").read_bytes().startswith(b"\x89PNG")


def _clone(origin: Path, dest: Path) -> Path:
    subprocess.run(
        ["git", "clone", "-qb", "main", str(origin), str(dest)], check=True, env=dvc_env(dest)
    )
    return dest


def _outputs(root: Path) -> dict[str, str]:
    """Every output hash the lock records, and the bytes of every metrics file."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    hashes = {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage["outs"]}
    metrics = {str(p.relative_to(root)): p.read_text() for p in root.glob("metrics/**/*.json")}
    return {**hashes, **metrics}


@pytest.mark.slow
def test_a_second_clone_gets_baseline_and_experiment_without_running_a_stage(
    project: Path, tmp_path: Path
) -> None:
    """The team workflow of the README: a git remote plus a DVC remote (a local folder)."""
    git(project, "checkout", "--", "params.yaml")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(project, "remote", "add", "origin", str(origin))
    dvc(project, "remote", "add", "-d", "shared", str(tmp_path / "dvc-remote"))
    dvc(project, "repro")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "results and the shared remote", "--allow-empty")
    dvc(project, "push")
    git(project, "push", "-q", "origin", "HEAD:main")

    second = _clone(origin, tmp_path / "second")
    dvc(second, "pull")
    result = dvc(second, "repro")
    assert ran_stages(result) == set(), result.stdout
    assert "Data and pipelines are up to date" in dvc(second, "status").stdout
    assert _outputs(second) == _outputs(project)
    report = "reports/report.md"
    assert (second / report).read_bytes() == (project / report).read_bytes()

    dvc(project, "exp", "run", "-n", "shared-lam03", "-S", "lambda=0.3")
    dvc(project, "exp", "push", "origin", "shared-lam03")
    dvc(second, "exp", "pull", "origin", "shared-lam03")
    dvc(second, "exp", "apply", "shared-lam03")
    dvc(second, "pull")
    assert ran_stages(dvc(second, "repro")) == set()
    assert "Data and pipelines are up to date" in dvc(second, "status").stdout
    assert _outputs(second) == _outputs(project)  # `exp run` left its results in project
    assert yaml.safe_load((second / "params.yaml").read_text())["lambda"] == 0.3
