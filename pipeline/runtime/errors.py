"""Errors that tell the user which file (and line) is wrong and what was expected."""

from __future__ import annotations

import errno
from pathlib import Path


class ConfigError(ValueError):
    """A params.yaml setting that cannot work; the message names the key."""


class CorpusError(ValueError):
    """Bad or missing corpus input. The message always names the offending path."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple:
        # Rebuilt from its parts, so it survives the trip back from a worker process.
        return (type(self), (self.path, self.message, self.line))


class PathError(ValueError):
    """Something wrong with one path: the message starts with it and says what is wrong."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{path}: {message}")

    def __reduce__(self) -> tuple:
        return (type(self), (self.path, self.message))


class ModelError(PathError):
    """A model folder that cannot be used; the message names the path and what is wrong."""


class OutputError(PathError):
    """An output path that cannot, or must not, be written: the message names it and why."""


class DiskFullError(OSError):
    """A write failed because its filesystem is full; names the path that was being written."""

    def __init__(self, path: str | Path, free_bytes: int | None = None) -> None:
        self.path = Path(path)
        self.free_bytes = free_bytes
        free = f" ({_size(free_bytes)} free there)" if free_bytes is not None else ""
        super().__init__(
            errno.ENOSPC,
            f"{path}: cannot write, the device is full{free}; free some space and re-run "
            "(finished work is kept)",
        )

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self) -> tuple:
        return (type(self), (self.path, self.free_bytes))


def _size(n_bytes: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n_bytes < 1000:
            return f"{n_bytes:.0f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.0f} TB"


class NonFiniteError(ArithmeticError):
    """Training produced NaN or Inf; the message names the fold, epoch and quantity."""
