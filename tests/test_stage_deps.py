"""A stage's code dependencies in dvc.yaml are its script's import closure: every project
module it can run, lazy imports included, and nothing else (pipeline/runtime/imports.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.regimes import REGIMES
from pipeline.runtime.imports import PACKAGES, as_paths, closure, dep_files
from pipeline.training import driver
from tests.helpers import REPO, copy_project

BIN = Path(sys.executable).parent
SCRIPT = re.compile(r"python -m (stages\.\w+)")


def _stages() -> dict[str, tuple[str, list[str]]]:
    """Stage (template) name: (its script's module, its declared deps)."""
    found = {}
    for name, stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].items():
        body = stage.get("do", stage)
        match = SCRIPT.search(body["cmd"])
        assert match, f"dvc.yaml stage {name}: its cmd runs no `python -m stages.<script>`"
        found[name] = (match.group(1), body.get("deps", []))
    return found


def _code(deps: list[str], root: Path = REPO) -> set[str]:
    """The Python files a stage's code dependencies stand for (folders expanded)."""
    code = [d for d in deps if d.split("/")[0] in PACKAGES]
    return set().union(*(dep_files(d, root) for d in code)) if code else set()


def test_every_stage_declares_exactly_the_project_code_it_can_import() -> None:
    wrong = {}
    for name, (module, deps) in _stages().items():
        for dep in deps:
            if dep.split("/")[0] in PACKAGES:
                assert (REPO / dep).exists(), f"dvc.yaml stage {name}: {dep} does not exist"
        expected, declared = as_paths(closure(module)), _code(deps)
        if expected != declared:
            wrong[name] = {
                "missing": sorted(expected - declared),
                "superfluous": sorted(declared - expected),
            }
    assert not wrong, (
        f"dvc.yaml code deps differ from the import closure: {json.dumps(wrong, indent=1)}; "
        "print the right list with `python -m pipeline.runtime.imports stages.<script>`"
    )


def test_text_is_outside_every_training_closure() -> None:
    """Editing the report's or the card's prose re-renders text; it never retrains."""
    stages = _stages()
    text = {"pipeline/reporting/report.py", "pipeline/reporting/model_card.py"}
    for name in ("train", "release"):
        assert not text & as_paths(closure(stages[name][0])), name
    assert "pipeline/reporting/model_card.py" in as_paths(closure(stages["publish"][0]))


def _changed_code(project: Path, env: dict[str, str]) -> dict[str, set[str]]:
    """Per stage, the Python files behind the code deps `dvc status` lists as modified."""
    done = subprocess.run(
        [str(BIN / "dvc"), "status", "--json"], cwd=project, env=env, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    status = json.loads(done.stdout or "{}")
    changed: dict[str, set[str]] = {}
    for stage, entries in status.items():
        deps = [
            path
            for entry in entries
            if isinstance(entry, dict)
            for path in entry.get("changed deps", {})
        ]
        changed[stage] = _code(deps, project)
    return changed


@pytest.mark.slow
def test_dvc_status_sees_an_edit_to_any_module_a_stage_runs_and_no_other(tmp_path: Path) -> None:
    """The done-when of issue 28, with `dvc status` alone (no stage runs): a comment appended
    to every project module marks exactly each stage's closure as changed."""
    project = tmp_path / "project"
    copy_project(project, keep_lock=True)  # code, dvc.yaml, dvc.lock; no outputs
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}:{os.environ['PATH']}"}
    before = {s: files for s, files in _changed_code(project, env).items() if files}
    assert not before, f"dvc.lock predates the code of {sorted(before)}: run `dvc repro`"

    for name in ("pipeline/reporting/report.py", "pipeline/reporting/model_card.py"):
        with open(project / name, "a") as f:
            f.write("# an edited sentence\n")
    stale = {s for s, files in _changed_code(project, env).items() if files}
    assert stale == {"report", *(f"publish@{r}" for r in REGIMES)}  # no train@, no release@

    for pkg in PACKAGES:
        for path in (project / pkg).rglob("*.py"):
            with open(path, "a") as f:
                f.write("# edited\n")
    after = _changed_code(project, env)
    stages = _stages()
    locked = yaml.safe_load((REPO / "dvc.lock").read_text())["stages"]
    assert set(after) == set(locked)  # every stage runs some project code
    for stage, files in after.items():
        assert files == as_paths(closure(stages[stage.split("@")[0]][0])), stage


def test_the_fold_cache_key_follows_the_training_closure(tmp_path: Path) -> None:
    """A module that shapes a trained pack changes the key (folds.py builds the splits); text
    or placement does not."""
    root = tmp_path / "copy"
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    base = driver.code_digest(root)
    for name, moves in [
        ("pipeline/data/folds.py", True),
        ("pipeline/training/steps.py", True),
        ("pipeline/reporting/report.py", False),
        ("pipeline/training/cluster.py", False),
    ]:
        driver.closure.cache_clear()
        original = (root / name).read_text()
        (root / name).write_text(original + "# edited\n")
        assert (driver.code_digest(root) != base) == moves, name
        (root / name).write_text(original)
        driver.closure.cache_clear()
    assert driver.code_digest(root) == base
