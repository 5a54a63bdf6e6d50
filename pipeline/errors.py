"""Errors that tell the user which file (and line) is wrong and what was expected."""

from __future__ import annotations

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
