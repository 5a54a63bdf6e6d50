"""`dvc repro` on corpora other than IEMOCAP, each with the protocol its size calls for.

One throw-away git+DVC project holds copies of RAVDESS (24 actors), CREMA-D (91 actors) and
MSP-Podcast (its own split) in their real layouts, and EmoDB as the cross-corpus set. The
training corpus is switched between them; ``folds.protocol: auto`` must pick
leave-one-speaker-out, speaker 5-fold and the corpus split, and the report must say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import (
    copy_project,
    dvc,
    git,
    write_crema_d,
    write_emodb,
    write_msp_podcast,
    write_ravdess,
)

CASES = {
    # corpus: (folds, protocol, unit, train.folds, seeds)
    "ravdess": (24, "leave_one_speaker_out", "test speaker", [0, 1, 2], [1]),
    "crema_d": (5, "speaker_kfold", "speaker group", [0, 1, 2], [1]),
    "msp_podcast": (1, "split", "seed", "all", [1, 2]),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpora-project")
    copy_project(root)
    corpora = root.parent / f"{root.name}-corpora"
    writers = {"ravdess": write_ravdess, "crema_d": write_crema_d,
               "msp_podcast": write_msp_podcast, "emodb": write_emodb}  # fmt: skip
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["corpora"] = {}
    for name, write in writers.items():
        write(corpora / name, seconds=0.8)
        params["corpora"][name] = {"format": name, "root": str(corpora / name)}
    params.update({"n_jobs": -1, "cross_corpus": "emodb"})
    params["train"].update({"epochs": 1, "max_seconds": 1})
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "corpora project")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("corpus", list(CASES))
def test_dvc_repro_trains_on_it_with_the_protocol_its_size_calls_for(
    project: Path, corpus: str
) -> None:
    count, protocol, unit, chosen, seeds = CASES[corpus]
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train_corpus"] = corpus
    params["train"].update({"folds": chosen, "seeds": seeds})
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = dvc(project, "repro")
    if "Running stage 'demo'" in result.stdout:  # the first case: every corpus is real
        assert "no demo corpus written" in result.stderr
    assert json.loads((project / "data/demo/truth.json").read_text()) == {}
    folds = json.loads((project / "data/folds.json").read_text())
    assert len(folds) == count and {(f["protocol"], f["unit"]) for f in folds} == {(protocol, unit)}
    report = (project / "reports/report.md").read_text()
    assert f"Protocol: **{protocol}**" in report and f"**{unit}**" in report
    assert "UA [interval over sessions]" in report  # EmoDB is single-label: WA and UA
    headline = json.loads((project / "metrics/menan.json").read_text())
    assert {"test_ua", "cross_corpus", "cross_ua"} <= set(headline)
    summary = json.loads((project / "reports/results/menan.json").read_text())
    assert summary["sessions"] == (len(seeds) if protocol == "split" else len(chosen))
    assert summary["within"]["ua_test"]["low"] is not None  # an interval over the units
    assert "Data and pipelines are up to date" in dvc(project, "status").stdout
