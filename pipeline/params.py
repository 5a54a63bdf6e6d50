"""Reading params.yaml: the single source of every setting and every random seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError

PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Load params.yaml and check the cross-references later stages rely on."""
    path = Path(path)
    with path.open() as handle:
        params = yaml.safe_load(handle)
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    corpora = params.get("corpora") or {}
    for key in ("train_corpus", "cross_corpus"):
        value = params.get(key)
        if value is not None and value not in corpora:
            raise ConfigError(
                f"{path}: {key}={value!r} names no entry of corpora ({sorted(corpora)})"
            )
    return params
