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

from pipeline.errors import CorpusError

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


def probe_audio(paths: Iterable[str | Path], corpus_root: str | Path) -> dict[str, AudioInfo]:
    """Read the header of every distinct file; raise one error that lists all the bad ones.

    Missing, unreadable, zero-length and non-finite files are reported together, each
    group with its count and first ten paths, so a user fixes a broken copy in one pass.
    """
    infos: dict[str, AudioInfo] = {}
    missing: list[str] = []
    unreadable: list[str] = []
    empty: list[str] = []
    non_finite: list[str] = []
    for path in dict.fromkeys(str(p) for p in paths):
        if not Path(path).is_file():
            missing.append(path)
            continue
        try:
            info = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            unreadable.append(f"{path} ({exc})")
            continue
        if info.frames == 0 or info.samplerate <= 0:
            empty.append(path)
            continue
        if info.subtype in FLOAT_SUBTYPES and not _all_finite(path):
            non_finite.append(path)
            continue
        infos[path] = AudioInfo(info.frames / info.samplerate, info.samplerate, info.channels)
    problems = [
        _describe(kind, group)
        for kind, group in (
            ("labelled utterances point at missing audio files", missing),
            ("audio files could not be read", unreadable),
            ("audio files hold no samples", empty),
            ("audio files hold NaN or infinite samples", non_finite),
        )
        if group
    ]
    if problems:
        raise CorpusError(corpus_root, "bad audio in the corpus:\n" + "\n".join(problems))
    return infos
