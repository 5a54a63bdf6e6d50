"""RAVDESS speech as downloaded: ``Actor_NN/03-01-EE-II-SS-RR-AA.wav``.

A name is modality (01 audio-video, 02 video-only, 03 audio-only), vocal channel (01 speech,
02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07
disgust, 08 surprised), intensity, statement, repetition and actor (odd male, even female).
Only audio-only speech is read; song files, video files (audio-video and video-only, any
extension) and copy debris (:mod:`pipeline.data.corpora.files`) are left out and counted. Calm
stays apart from neutral unless ``label_map`` maps it. The speech set has 1,440 recordings of
24 actors: 96 neutral, 192 of each other emotion.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.corpora import files
from pipeline.data.corpora.labelling import label_mapping, label_table
from pipeline.runtime.errors import CorpusError

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}  # fmt: skip
DEFAULT_MAP = {"neutral": "neu", "happy": "hap", "sad": "sad", "angry": "ang", "calm": None,
               "fearful": None, "disgust": None, "surprised": None}  # fmt: skip
NAME = re.compile(
    r"^(?P<modality>0[123])-(?P<channel>0[12])-(?P<emotion>0[1-8])-(?P<intensity>0[12])-"
    r"(?P<statement>0[12])-(?P<repetition>0[12])-(?P<actor>\d\d)$"
)
ACTOR_DIR = re.compile(r"^Actor_(\d\d)$")


def prepare(
    root: str | Path,
    label_map: Mapping[str, str | None] | None = None,
    expected_counts: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the label table from ``<root>/Actor_NN/``."""
    root = Path(root)
    mapping = label_mapping(DEFAULT_MAP, label_map, root)
    actors = sorted(p for p in root.glob("Actor_*") if p.is_dir())
    if not actors:
        raise CorpusError(root, "no Actor_NN folders in it: is the corpus root right?")
    rows, left_out = [], Counter()
    for folder in actors:
        number = ACTOR_DIR.match(folder.name)
        if not number:
            raise CorpusError(folder, "expected a folder named Actor_NN (two digits)")
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if files.is_debris(path.relative_to(root)):
                left_out[files.DEBRIS] += 1
                continue
            found = NAME.match(path.stem)
            if not found:
                raise CorpusError(path, "not a RAVDESS name: expected like 03-01-05-01-02-01-12"
                                  ".wav (modality-channel-emotion-intensity-statement-"
                                  "repetition-actor)")  # fmt: skip
            if found["actor"] != number[1]:
                raise CorpusError(path, f"actor {found['actor']} in the name, but the file is "
                                  f"in {folder.name}")  # fmt: skip
            if found["modality"] != "03" or path.suffix.lower() != ".wav":
                left_out["video"] += 1
                continue
            if found["channel"] == "02":
                left_out["song"] += 1
                continue
            actor = int(found["actor"])
            rows.append({
                "utt_id": path.stem, "audio_path": str(path), "speaker": f"Actor_{actor:02d}",
                "gender": "M" if actor % 2 else "F", "emotion": EMOTIONS[found["emotion"]],
            })  # fmt: skip
    if not rows:
        raise CorpusError(root, "no audio-only speech file (03-01-*.wav) in the Actor folders")
    return label_table(rows, mapping, root, expected_counts, left_out)
