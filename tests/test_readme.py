"""The README stays short, and what it tells a newcomer to type is what works.

The demo and model commands run as written in the real-DVC test
(tests/test_dvc_pipeline.py); here: the set-up is what CI does, the settings of the
real-corpus commands are keys params.yaml accepts, and every docs page it links exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline.data.corpora import check_entries
from pipeline.params import validate
from tests.helpers import README, REPO, blocks, exp_run_settings


def test_the_readme_is_short_and_its_links_resolve() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert any(link.startswith("docs/") for link in links)
    for link in links:
        assert (REPO / link).exists(), link
    for page in (REPO / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / link).exists(), f"{page.name}: {link}"


def test_the_two_setup_commands_are_what_ci_runs() -> None:
    setup = blocks()["Set-up"]
    assert len(setup) == 2
    ci = (REPO / ".ci" / "run").read_text()
    for command in setup:
        assert command in ci, command


def test_the_real_corpus_commands_set_keys_params_yaml_accepts(tmp_path: Path) -> None:
    commands = [c for c in blocks()["Your real IEMOCAP"] if c.startswith("dvc exp run")]
    assert len(commands) == 2  # the smoke run and the paper protocol
    for command in commands:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        for key, value in exp_run_settings(command).items():
            *parents, leaf = key.split(".")
            node = params
            for part in parents:
                node = node[part]
            assert leaf in node, key  # DVC refuses -S for a key the file lacks
            node[leaf] = yaml.safe_load(value)
        checked = validate(params)  # types and ranges of every key
        check_entries(checked.corpora)  # and each corpus entry's options, as `check` does
        assert checked.corpora["iemocap"]["root"] == "/data/IEMOCAP_full_release"


@pytest.mark.parametrize("section", ["The demo", "Using a trained model"])
def test_the_runnable_sections_hold_commands(section: str) -> None:
    assert blocks()[section], section
