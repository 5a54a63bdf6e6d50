"""CREMA-D as downloaded: ``AudioWAV/1001_DFA_ANG_XX.wav`` and ``VideoDemographics.csv``.

A name is actor (1001..1091), sentence (12 codes), emotion (ANG, DIS, FEA, HAP, NEU, SAD)
and level (LO, MD, HI, XX: unspecified). Each actor's gender is the ``Sex`` column of the
demographics file (``ActorID,Age,Sex,Race,Ethnicity``), which must list every actor found.
The full corpus has 7,442 clips of 91 actors (48 male, 43 female): 1,271 of each emotion
but neutral, 1,087 neutral.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.corpora import files
from pipeline.data.corpora.labelling import label_mapping, label_table
from pipeline.runtime.errors import CorpusError

EMOTIONS = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral",
            "SAD": "sad"}  # fmt: skip
DEFAULT_MAP = {"anger": "ang", "happy": "hap", "neutral": "neu", "sad": "sad", "disgust": None,
               "fear": None}  # fmt: skip
NAME = re.compile(r"^(?P<actor>1\d{3})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_"
                  r"(?P<level>LO|MD|HI|XX|X)$")  # fmt: skip
SEXES = {"Male": "M", "Female": "F"}
DEMOGRAPHICS = "VideoDemographics.csv"


def read_genders(path: Path) -> dict[str, str]:
    """ActorID -> M/F from the demographics file, with errors naming its line."""
    if not path.is_file():
        raise CorpusError(path, "missing: CREMA-D's actor demographics (ActorID,...,Sex,...) "
                          "give each speaker's gender")  # fmt: skip
    genders = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("ActorID", "Sex") if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(path, f"missing columns {missing}; header is {reader.fieldnames}", 1)
        for record in reader:
            sex = (record["Sex"] or "").strip()
            if sex not in SEXES:
                raise CorpusError(path, f"Sex: expected one of {sorted(SEXES)}, got {sex!r}",
                                  reader.line_num)  # fmt: skip
            genders[(record["ActorID"] or "").strip()] = SEXES[sex]
    return genders


def prepare(
    root: str | Path,
    label_map: Mapping[str, str | None] | None = None,
    expected_counts: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the label table from ``<root>/AudioWAV`` and ``<root>/VideoDemographics.csv``."""
    root = Path(root)
    mapping = label_mapping(DEFAULT_MAP, label_map, root)
    genders = read_genders(root / DEMOGRAPHICS)
    rows = []
    listing = files.list_files(root / "AudioWAV", ".wav")
    for path in listing.files:
        found = NAME.match(path.stem)
        if not found or found["emotion"] not in EMOTIONS:
            raise CorpusError(path, "not a CREMA-D name: expected like 1001_DFA_ANG_XX.wav "
                              f"(actor, sentence, one of {sorted(EMOTIONS)}, level)")  # fmt: skip
        actor = found["actor"]
        if actor not in genders:
            raise CorpusError(root / DEMOGRAPHICS, f"actor {actor} ({path.name}) is not listed")
        rows.append({
            "utt_id": path.stem, "audio_path": str(path), "speaker": actor,
            "gender": genders[actor], "emotion": EMOTIONS[found["emotion"]],
        })  # fmt: skip
    return label_table(rows, mapping, root, expected_counts, listing.left_out)
