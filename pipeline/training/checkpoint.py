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

import io
from pathlib import Path
from typing import Any

import torch

from pipeline.atomic import atomic_path


def save(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` atomically: a kill at any moment leaves the previous epoch's file."""
    with atomic_path(path) as tmp:
        write_torch(tmp, state)


def write_torch(path: Path, payload: Any) -> None:
    """``torch.save`` through Python's own file writing.

    torch's C++ writer reports a full disk as ``unexpected pos`` with no path or cause;
    serialising to memory first (a pack's state is a few MB) makes a failed write an
    ordinary ``OSError`` with its errno, which :func:`pipeline.atomic.atomic_path` turns
    into a message naming the path.
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.write_bytes(buffer.getbuffer())


def load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
