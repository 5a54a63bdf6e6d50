"""DVC stage `frontend`: which front end makes the features, checked and written down.

Usage: python -m stages.frontend OUT_JSON

Writes the description every feature table will carry (:mod:`pipeline.features.frontend`):
for ``paper43`` the channels and the pitch range; for ``ssl`` the model folder, its type,
hidden size, frame hop and window and a hash of its config and weights, after checking the
folder, its sample rate and the chosen layers. The features stages read this file, not
params.yaml: a change of the SSL settings (or of the model folder, a dependency of this
stage) while ``paper43`` is in use rewrites the same file, and no feature is extracted
again.
"""

from __future__ import annotations

import json

from pipeline.features.frontend import configured
from pipeline.params import load_params
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.stage import log, run_stage


def main(argv: list[str]) -> None:
    [out] = argv
    settings = load_params().features
    front = configured(settings.frontend, settings.pitch_range, settings.ssl)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(front.metadata, indent=2, sort_keys=True) + "\n")
    spec = front.spec
    log.info("front end %s: %d values per frame (%d layer(s)), %g frames/s -> %s",
             settings.frontend, spec.width, spec.layers, spec.frames_per_second, out)  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
