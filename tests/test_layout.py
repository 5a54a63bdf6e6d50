"""The house's rules, checked fast: a few packages with their docstrings, imports that run
one way between them, torch only where a network runs, and dvc.yaml's regimes as
pipeline/regimes.py states them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.regimes import ERASED, REGIMES, TRAINED, params_read
from pipeline.runtime.imports import imported_names, module_file
from tests.helpers import REPO

PIPELINE = REPO / "pipeline"
MODULES = ("params", "regimes")
"""Top-level modules beside the packages: every layer reads the settings and the regimes."""
MAY_IMPORT = {
    "runtime": {"params"},  # the device and n_jobs rules are params.yaml's
    "data": {"runtime"},
    "features": {"data", "runtime"},
    "model": {"features", "data", "params", "runtime"},
    "training": {"model", "features", "data", "evaluation", "params", "regimes", "runtime"},
    "evaluation": {"model", "features", "data", "params", "regimes", "runtime"},
    "reporting": {"evaluation", "data", "features", "regimes", "runtime"},
    "inference": {"model", "features", "data", "params", "regimes", "runtime"},
    "params": {"data", "features", "runtime"},
    "regimes": set(),
}
"""Which parts of the project each part may import (besides itself and the package root's
EMOTIONS): the rules each package's docstring states."""
TORCH_FREE = (
    "pipeline.params", "pipeline.regimes", "pipeline.data", "pipeline.features",
    "pipeline.reporting", "pipeline.evaluation.metrics", "pipeline.evaluation.probes",
    "pipeline.evaluation.statistics", "pipeline.evaluation.summary",
    "pipeline.evaluation.calibration", "pipeline.runtime.errors", "pipeline.runtime.atomic",
    "pipeline.runtime.workers", "pipeline.runtime.stage", "pipeline.runtime.imports",
)  # fmt: skip
"""What runs without torch: everything up to the frames, and all text."""


def _part(path: Path) -> str:
    """``pipeline/<part>/...`` or ``pipeline/<part>.py`` -> part (the root: ``pipeline``)."""
    parts = path.relative_to(PIPELINE).parts
    return parts[0].removesuffix(".py") if len(parts) > 1 or parts[0] != "__init__.py" else ""


def _project_files() -> list[Path]:
    return sorted(p for p in PIPELINE.rglob("*.py") if "__pycache__" not in p.parts)


def test_pipeline_is_a_few_packages_each_saying_what_it_owns_and_may_import() -> None:
    top = sorted(p.name for p in PIPELINE.iterdir() if p.name != "__pycache__")
    packages = [name for name in top if (PIPELINE / name).is_dir()]
    assert len(top) <= 11, top
    assert set(top) == {"__init__.py", *(f"{m}.py" for m in MODULES), *packages}
    assert set(packages) | set(MODULES) == set(MAY_IMPORT)
    for name in packages:
        doc = ast.get_docstring(ast.parse((PIPELINE / name / "__init__.py").read_text()))
        assert doc and "Owns:" in doc and "May import:" in doc, f"pipeline/{name}/__init__.py"


def test_imports_run_one_way_between_the_parts() -> None:
    wrong = []
    for path in _project_files():
        part = _part(path)
        if not part:
            continue
        for name in imported_names(path):
            target = module_file(name)
            if target is None or not target.is_relative_to(PIPELINE):
                continue
            other = _part(target)
            if other and other != part and other not in MAY_IMPORT[part]:
                wrong.append(f"{path.relative_to(REPO)} imports {name}")
    assert not wrong, "imports against the rules of tests/test_layout.py MAY_IMPORT: " + str(wrong)


def test_only_the_stages_that_train_networks_import_training() -> None:
    users = {
        path.relative_to(REPO).as_posix()
        for folder in ("pipeline", "stages")
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
        and not path.is_relative_to(PIPELINE / "training")
        and any(n.startswith("pipeline.training") for n in imported_names(path))
    }
    assert users == {"stages/train.py", "stages/release.py", "stages/erase.py",
                     "stages/erase_release.py"}  # fmt: skip


def test_data_features_text_and_statistics_import_no_torch() -> None:
    probe = (
        "import importlib, pkgutil, sys\n"
        f"for name in {TORCH_FREE!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "import stages.report, stages.sweep_report\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_dvc_yaml_states_every_regime_and_the_params_each_reads() -> None:
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    found = {name: v[name] for v in dvc_yaml["vars"] for name in v}
    assert list(found["regimes"]) == list(TRAINED), "dvc.yaml vars.regimes and pipeline/regimes.py"
    assert list(found["scored"]) == list(REGIMES), "dvc.yaml vars.scored and pipeline/regimes.py"
    assert {r: e["base"] for r, e in found["erased"].items()} == {
        r: base for r, (base, _) in ERASED.items()
    }
    for group in ("regimes", "scored"):
        for regime, entry in found[group].items():
            declared = {"train", entry["reads"], entry["adversary"]}
            assert declared == set(params_read(regime)), (group, regime)
    stages = dvc_yaml["stages"]
    for name in ("train", "release"):
        assert stages[name]["foreach"] == "${regimes}", name
        assert "${item.adversary}" in stages[name]["do"]["params"], name
    for name in ("erase", "erase_release"):
        assert stages[name]["foreach"] == "${erased}", name
        assert stages[name]["do"]["params"] == ["erase.epochs", "${item.reads}"], name
    kernel = {r for r, (_, method) in ERASED.items() if method == "kernel"}
    for regime, entry in found["erased"].items():  # each reads its own keys, no more
        expected = "erase.kernel_features" if regime in kernel else "erase.epochs"
        assert entry["reads"] == expected, regime
    for name in ("evaluate", "publish"):
        assert stages[name]["foreach"] == "${scored}", name
    report_deps = set(stages["report"]["deps"])
    for regime in REGIMES:
        assert {f"data/train/{regime}", f"data/eval/{regime}"} <= report_deps, regime
    released = {a["path"].removeprefix("models/") for a in dvc_yaml["artifacts"].values()}
    assert released == set(REGIMES)
    assert all(a["type"] == "model" for a in dvc_yaml["artifacts"].values())
