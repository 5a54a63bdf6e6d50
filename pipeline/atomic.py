"""Write-then-rename helpers, so that a failed stage never leaves a partial output behind.

DVC treats whatever sits at an output path as the stage's result; a half-written
Parquet file after a crash would be hashed and cached as if it were good.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success move it into place, else delete it.

    Works for files and directories alike. The temporary lives in the target's own folder
    so the final ``os.replace`` is a rename on one filesystem, never a copy.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    work = tmp / target.name
    try:
        yield work
        if not work.exists():
            raise RuntimeError(f"nothing was written for {target}")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(work, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(target: str | Path, payload: Any) -> None:
    """Write JSON atomically with stable key order, so reruns give byte-identical files."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
