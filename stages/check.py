"""DVC stage `check`: the whole of params.yaml, checked before any other stage runs.

Usage: python -m stages.check DEMO_DIR OUT

Every other stage depends on OUT, so DVC runs this one first whenever params.yaml changes:
a typo anywhere in the file, a `train_corpus` or `cross_corpus` that names no corpus, a
`device` this machine does not have (`cuda` without a GPU), or a corpus root that does not
exist stops `dvc repro` here, with the key named, before DVC
looks for files derived from the bad value and before any training. OUT's content never
changes, so passing the check re-runs nothing downstream. Roots under DEMO_DIR may be
missing: the demo stage writes them.
"""

from __future__ import annotations

from pipeline.data.corpora import check_entries
from pipeline.params import PARAMS_FILE, check_roots, load_params
from pipeline.runtime import device as devices
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.stage import log, run_stage

PASSED = f"{PARAMS_FILE} passed the checks of pipeline/params.py\n"


def main(argv: list[str]) -> None:
    demo_dir, out = argv
    params = load_params()
    check_entries(params.corpora)
    check_roots(params, demo_dir)
    devices.check(params.device, f"{PARAMS_FILE} device")
    with atomic_path(out) as tmp:
        tmp.write_text(PASSED)
    log.info("%s: every setting is valid, the device exists, every corpus root exists",
             PARAMS_FILE)  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
