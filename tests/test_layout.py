"""The house's rules, checked fast: imports run one way, each concept is stated once and what
repeats it (dvc.yaml) is checked against it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.regimes import REGIMES, USES_LAMBDA
from pipeline.training import driver
from tests.conftest import REPO

PIPELINE = REPO / "pipeline"


def _imports(path: Path) -> set[str]:
    """Every ``pipeline`` module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pipeline"))
    return found


def _module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def test_no_module_is_both_imported_by_training_and_importing_from_it() -> None:
    training = {_module(p) for p in (PIPELINE / "training").glob("*.py")}
    modules = {_module(p): _imports(p) for p in PIPELINE.rglob("*.py")}
    used_by_training = {m for t in training for m in modules[t] if m in modules}
    outside = used_by_training - training - {"pipeline"}
    both = {m: sorted(i for i in modules[m] if i.startswith("pipeline.training")) for m in outside}
    assert not {m: i for m, i in both.items() if i}, "imports that run back up into training"


def test_the_report_and_the_sweep_run_without_torch() -> None:
    probe = "import sys, stages.make_report, stages.sweep_report; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_dvc_yaml_has_every_regime_and_only_its_lambda_readers_declare_lambda() -> None:
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    stages = dvc_yaml["stages"]
    for prefix in ("train_", "release_"):
        found = [name.removeprefix(prefix) for name in stages if name.startswith(prefix)]
        assert found == list(REGIMES), f"{prefix}<regime> stages and pipeline/regimes.py"
        for regime in REGIMES:
            declares = "lambda" in stages[f"{prefix}{regime}"]["params"]
            assert declares == (regime in USES_LAMBDA), f"{prefix}{regime}, pipeline/regimes.py"
    assert stages["evaluate"]["foreach"] == list(REGIMES)
    released = {a["path"].removeprefix("models/") for a in dvc_yaml["artifacts"].values()}
    assert released == set(REGIMES)
    assert all(a["type"] == "model" for a in dvc_yaml["artifacts"].values())


def test_every_training_module_that_shapes_results_keys_the_fold_cache() -> None:
    """A change to any of them must retrain, never reuse a cached pack (driver.code_digest)."""
    keyed = {Path(m.__file__).resolve() for m in driver.RESULT_MODULES}
    placement_only = {"driver.py", "cluster.py", "__init__.py"}
    missing = [
        p.name
        for p in (PIPELINE / "training").glob("*.py")
        if p.name not in placement_only and p.resolve() not in keyed
    ]
    assert not missing
