"""A pack's whole training state after each epoch, written atomically.

What goes into it is :meth:`pipeline.training.pack.Pack.state_dict`: everything the rest
of the runs depends on, so a pack resumed from it continues exactly as if it had never
stopped (on the same machine, bit for bit). Only the last epoch's state is kept (one file
per pack, replaced in place), and the file is deleted once the pack's outputs are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline.model.run_files import write_torch
from pipeline.runtime.atomic import atomic_path


def save(path: Path, state: dict[str, Any]) -> None:
    """Replace ``path`` atomically: a kill at any moment leaves the previous epoch's file."""
    with atomic_path(path) as tmp:
        write_torch(tmp, state)


def load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
