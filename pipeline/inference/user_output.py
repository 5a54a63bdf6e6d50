"""What ``menan`` may write, decided before any work: never a folder, an input of the run, a
file of the model, or a file it did not write itself.

A user's ``-o`` or ``--onnx`` is checked against every rule here before a file is scored:

- the suffix says the kind (``.csv``/``.parquet`` for ``predict``, ``.parquet`` for
  ``embed``, ``.onnx`` for ``export``);
- an existing folder (or a link to one) is refused, never replaced;
- an input of this run (an audio file, a manifest, anything inside the model folder) is
  refused, also through another path to the same file;
- an existing file is replaced only if it is an earlier output of the same kind (the usual
  habit of ``-o``): a CSV whose header is ``menan predict``'s, a Parquet or ONNX file that
  carries this module's mark (:data:`MARK`) for that kind. Anything else is the user's;
- the folder it goes into must be writable (a probe file is made and removed there), and
  no part of the path may be a regular file.

The writers here put the mark in, so the next run may replace what this one wrote.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.errors import OutputError

MARK = "menan"
"""Key of the Parquet schema metadata and ONNX metadata that names the kind of output."""
SUFFIXES = {"predict": (".csv", ".parquet"), "embed": (".parquet",), "export": (".onnx",)}
LEAD_COLUMNS = ("path", "start_s", "end_s", "window")
"""The first columns of every table ``menan`` writes, in order (a CSV's header begins so)."""


def check_output(
    target: Path, kind: str, inputs: Iterable[str | Path] = (), model: Path | None = None
) -> None:
    """Refuse ``target`` for ``kind`` (an :class:`OutputError`) unless every rule of the
    module docstring holds. Nothing is written, except a probe file that is removed.

    ``model``: what the user named as the model. A folder (a released model, a run) is kept
    free of anything else: DVC would drop a stranger there at its next checkout. A bare
    ``model.pt`` protects itself (no output suffix can name it)."""
    target = Path(target)
    allowed = SUFFIXES[kind]
    if target.is_dir():
        raise OutputError(target, "is a folder; give a file name inside it")
    if target.suffix.lower() not in allowed:
        raise OutputError(target, f"expected a {' or '.join(allowed)} file name for {kind}")
    resolved = _resolve(target)
    if model is not None and model.is_dir() and resolved.is_relative_to(_resolve(model)):
        raise OutputError(target, f"lies inside the model folder {model}; write it elsewhere")
    for source in inputs:
        if _resolve(Path(source)) == resolved or _same_file(target, Path(source)):
            raise OutputError(target, f"is an input of this run ({source}); it is only read")
    exists = target.exists() or target.is_symlink()
    if exists and (not target.is_file() or _kind_of(target) != kind):
        raise OutputError(
            target, f"exists and is not a menan {kind} output; it is left alone (choose "
            "another name, or remove it yourself)"
        )  # fmt: skip
    _check_writable(target)


def _resolve(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _same_file(a: Path, b: Path) -> bool:
    """One file under two names (a hard link, a case-insensitive file system)."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _kind_of(path: Path) -> str | None:
    """The kind of ``menan`` output ``path`` is, from its content; None if it is none."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8", errors="replace") as handle:
                header = handle.readline().strip().split(",")
            ours = tuple(header[: len(LEAD_COLUMNS)]) == LEAD_COLUMNS and "predicted" in header
            return "predict" if ours else None
        if suffix == ".parquet":
            meta = pq.read_schema(path).metadata or {}
            return json.loads(meta[MARK.encode()])["kind"] if MARK.encode() in meta else None
        if suffix == ".onnx":
            import onnx

            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False)
                     .metadata_props}  # fmt: skip
            return props.get(MARK)
    except Exception:  # unreadable as that kind means: not ours
        return None
    return None


def _check_writable(target: Path) -> None:
    """The nearest existing folder above ``target`` must be a folder we can create a file in."""
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(target, f"cannot be written: {folder} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".menan-probe.", dir=folder)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise OutputError(
            target, f"cannot be written: {folder} is not writable ({reason})"
        ) from None
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def write_table(table: pd.DataFrame, target: Path, kind: str, about: dict) -> None:
    """A ``predict`` or ``embed`` table as CSV or Parquet by the suffix, atomically; the
    embedding column ``v`` becomes a fixed-size list (Parquet only). A Parquet file carries
    the mark with ``about`` (the model, its regime)."""
    if target.suffix.lower() == ".csv":
        if "v" in table:
            raise OutputError(target, "embeddings are written as .parquet")
        with atomic_path(target) as tmp:
            table.to_csv(tmp, index=False)
        return
    columns = {name: pa.array(table[name]) for name in table.columns if name != "v"}
    if "v" in table:
        flat = np.stack(table["v"].to_list())
        columns["v"] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])
    mark = json.dumps({"kind": kind, **about}, sort_keys=True).encode()
    with atomic_path(target) as tmp:
        pq.write_table(pa.table(columns, metadata={MARK.encode(): mark}), tmp)


def unwritable(exc: OSError, target: Path) -> OutputError:
    """An OSError met while writing ``target`` (it changed since the check) as one line."""
    reason = os.strerror(exc.errno) if exc.errno in errno.errorcode else str(exc)
    return OutputError(target, f"cannot be written ({reason})")
