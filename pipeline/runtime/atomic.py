"""Write-then-rename helpers, so that a failed stage never leaves a partial output behind.

DVC treats whatever sits at an output path as the stage's result; a half-written
Parquet file after a crash would be hashed and cached as if it were good. Each write
goes to a temporary folder beside its target, named for the host and process that
writes it; a process killed outright (SIGKILL, power loss) cannot clean up, so the next
write of the same target removes the temporaries of processes that no longer exist.
Every output goes through here, which makes it the one place where a full disk becomes
an error that names the path being written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.runtime.errors import DiskFullError, OutputError

FULL = (errno.ENOSPC, errno.EDQUOT)
NOT_REPLACED = "is an existing folder, and is never replaced (nothing was written)"


def _owner_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _alive(tag: str) -> bool:
    """Whether the process that made a temporary with this tag may still be writing it."""
    host, _, pid = tag.rpartition("-")
    if not pid.isdigit():
        return False  # not a tag this code writes: an older version's temporary
    if host != socket.gethostname():
        return True  # another machine's process (a shared filesystem): not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(target: Path) -> None:
    """Delete temporaries of ``target`` left by processes of this host that are gone."""
    for tmp in target.parent.glob(f".{target.name}.*.partial"):
        tag = tmp.name[len(target.name) + 2 : -len(".partial")].rsplit(".", 1)[0]
        if not _alive(tag):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(target: str | Path, *, replace_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``target``; on success move it into place, else delete it.

    Works for files and directories alike. The temporary lives in the target's own folder
    so the final ``os.replace`` is a rename on one filesystem, never a copy.

    An existing directory at ``target`` (or a link to one) is never replaced: an
    :class:`OutputError` before anything is written. A stage whose output *is* that
    directory says ``replace_dir``, and its earlier output gives way to the new one. Without
    this rule a file written to a user's folder would delete everything in it.
    """
    target = Path(target)
    if not replace_dir and target.is_dir():
        raise OutputError(target, NOT_REPLACED)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target)
    tmp = Path(
        tempfile.mkdtemp(
            prefix=f".{target.name}.{_owner_tag()}.", suffix=".partial", dir=target.parent
        )
    )
    work = tmp / target.name
    try:
        yield work
        if not work.exists():
            raise RuntimeError(f"nothing was written for {target}")
        if target.is_dir():
            if not replace_dir:  # it appeared while the work was being written
                raise OutputError(target, NOT_REPLACED)
            if not target.is_symlink():
                shutil.rmtree(target)
        os.replace(work, target)
    except DiskFullError:
        raise
    except OSError as exc:
        if exc.errno not in FULL:
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # give the space back before measuring it
        raise DiskFullError(target, shutil.disk_usage(target.parent).free) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(target: str | Path, payload: Any) -> None:
    """Write JSON atomically with stable key order, so reruns give byte-identical files.

    NaN and Infinity are refused: they are not JSON, and no result of ours may hold them.
    """
    text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_path(target) as tmp:
        tmp.write_text(text)
