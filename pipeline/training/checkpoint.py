"""A pack's whole training state after each epoch, written atomically.

Everything that the rest of the run depends on is in it: both weight buffers, both
optimisers' moments and step counts, each run's batch counter (the learning-rate
schedule), each run's numpy generator (the batch order) and torch's generator, and per
fold the curve so far and the best weights so far. A run resumed from it continues
exactly as if it had never stopped: on the same machine the result is bit for bit the
same. Only the last epoch's state is kept (one file per pack, replaced in place), and the
file is deleted once the pack's outputs are written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill at any moment leaves the previous epoch's file intact


def load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
