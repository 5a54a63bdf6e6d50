"""The files a corpus copy carries, by one rule for every reader.

A copy holds more than the corpus: macOS leaves an AppleDouble ``._<name>`` beside every file
it copies to a shared or exFAT drive (and ``.DS_Store`` in every folder, ``__MACOSX/`` in
the zip archives it makes); Windows leaves ``Thumbs.db`` and ``desktop.ini``. That is
**copy debris**: skipped and counted, never parsed, never an error. A file that claims to be
corpus audio and is misnamed stays an error that names it (each reader's own rule).

Audio suffixes are matched without regard to case (``.wav``, ``.WAV``, ``.Wav``): archives and
Windows tools leave either. Every other file a listing leaves out is counted too, by reason,
so that nothing leaves a corpus without a number (``reports/results/labels/<corpus>.json``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.runtime.errors import CorpusError

DEBRIS_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "icon\r", ".localized"})
DEBRIS_FOLDERS = frozenset({"__macosx", ".spotlight-v100", ".trashes", ".fseventsd"})
DEBRIS = "copy debris"
"""The reason under which skipped debris is counted."""


def is_debris(path: Path) -> bool:
    """Whether ``path`` is something a copy left behind, not part of the corpus."""
    if path.name.startswith("._") or path.name.lower() in DEBRIS_NAMES:
        return True
    return any(part.lower() in DEBRIS_FOLDERS for part in path.parts)


def has_suffix(path: Path, suffix: str) -> bool:
    """``path`` ends in ``suffix`` in any letter case (``.wav`` matches ``a.WAV``)."""
    return path.suffix.lower() == suffix.lower()


@dataclass
class Listing:
    """The files of a folder a reader takes, sorted, and what it left out, by reason."""

    files: list[Path] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)


def list_files(folder: Path, suffix: str) -> Listing:
    """The files directly in ``folder`` ending in ``suffix`` in any case; every other file
    below it is counted as left out: copy debris, another suffix, or (with the suffix) in a
    subfolder. An error names the folder when it does not exist or holds no such file (the
    usual sign of a root one level off)."""
    if not folder.is_dir():
        raise CorpusError(folder, "folder not found: is the corpus root right?")
    listing = Listing()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if is_debris(path.relative_to(folder)):
            listing.left_out[DEBRIS] += 1
        elif not has_suffix(path, suffix):
            listing.left_out[f"not {suffix}"] += 1
        elif path.parent != folder:
            listing.left_out[f"{suffix} in a subfolder"] += 1
        else:
            listing.files.append(path)
    if not listing.files:
        raise CorpusError(folder, f"no *{suffix} in it: is the corpus root right?")
    return listing


def left_out(counts: Counter[str]) -> dict[str, int]:
    """Left-out counts as the label stage records them: by reason, sorted, no zeros."""
    return {reason: n for reason, n in sorted(counts.items()) if n}
