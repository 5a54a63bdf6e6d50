"""Header-level checks of the audio a label table points at (and the samples of float files).

Run at label-merging time so that a broken corpus copy fails in seconds, with the list of
bad files, instead of hours later in the middle of feature extraction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.runtime.errors import CorpusError

_SHOWN = 10
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # integer PCM cannot hold NaN or Inf; only these are read
_BLOCK = 1 << 20


@dataclass(frozen=True)
class AudioInfo:
    """What a WAV header tells us without decoding the samples."""

    duration_s: float
    samplerate: int
    channels: int


def _describe(kind: str, paths: list[str]) -> str:
    shown = "\n  ".join(paths[:_SHOWN])
    more = f"\n  ... and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
    return f"{len(paths)} {kind} (first {min(len(paths), _SHOWN)}):\n  {shown}{more}"


def _all_finite(path: str) -> bool:
    """Whether every sample of a float-coded file is finite, read a block at a time."""
    return all(np.isfinite(block).all() for block in sf.blocks(path, blocksize=_BLOCK))


MISSING = "audio files are missing"
UNREADABLE = "audio files could not be read"
EMPTY = "audio files hold no samples"
NON_FINITE = "audio files hold NaN or infinite samples"


def inspect_audio(paths: Iterable[str | Path]) -> tuple[dict[str, AudioInfo], dict[str, list[str]]]:
    """The header of every distinct file, and the bad files by what is wrong with them.

    Missing, unreadable, zero-length and non-finite files are found in one pass; float files
    are read a block at a time for the last check, other files never past their header.
    """
    infos: dict[str, AudioInfo] = {}
    bad: dict[str, list[str]] = {MISSING: [], UNREADABLE: [], EMPTY: [], NON_FINITE: []}
    for path in dict.fromkeys(str(p) for p in paths):
        if not Path(path).is_file():
            variant = _case_variant(Path(path)) if len(bad[MISSING]) < _SHOWN else None
            bad[MISSING].append(f"{path} (there is {variant.name}: names differ only in case)"
                                if variant else path)  # fmt: skip
            continue
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            bad[UNREADABLE].append(f"{path} ({exc})")
            continue
        if info.frames == 0 or info.samplerate <= 0:
            bad[EMPTY].append(path)
            continue
        if info.subtype in FLOAT_SUBTYPES and not _all_finite(path):
            bad[NON_FINITE].append(path)
            continue
        infos[path] = AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels)
    return infos, {kind: group for kind, group in bad.items() if group}


def _case_variant(path: Path) -> Path | None:
    """A file beside ``path`` whose name differs from it only in letter case (``x.WAV`` for
    ``x.wav``): named in the error, since a reader that looks files up by name takes the
    exact name and a copy may have changed the case."""
    if not path.parent.is_dir():
        return None
    wanted = path.name.lower()
    return next((p for p in path.parent.iterdir() if p.name.lower() == wanted), None)


def describe(bad: dict[str, list[str]]) -> str:
    """Every group of bad files, each with its count and first ten paths, one per line."""
    return "\n".join(_describe(kind, group) for kind, group in bad.items())


def probe_audio(paths: Iterable[str | Path], corpus_root: str | Path) -> dict[str, AudioInfo]:
    """Read the header of every distinct file; raise one error that lists all the bad ones,
    so a user fixes a broken copy in one pass."""
    infos, bad = inspect_audio(paths)
    if MISSING in bad:  # the label table names them: say so
        bad = {"labelled utterances point at missing audio files" if k == MISSING else k: v
               for k, v in bad.items()}  # fmt: skip
    if bad:
        raise CorpusError(corpus_root, "bad audio in the corpus:\n" + describe(bad))
    return infos
