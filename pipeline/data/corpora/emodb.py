"""EmoDB (Berlin Database of Emotional Speech) as downloaded: ``wav/03a01Fa.wav``.

A name is speaker (2 digits), text (``a01``..``b10``), emotion letter and version. The ten
speakers' genders are the corpus documentation's (5 female, 5 male); the corpus has no
sessions. The full corpus has 535 recordings: anger 127, boredom 81, disgust 46, fear 69,
happiness 71, sadness 62, neutral 79.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.corpora import files
from pipeline.data.corpora.labelling import label_mapping, label_table
from pipeline.runtime.errors import CorpusError

EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
            "T": "sadness", "N": "neutral"}  # fmt: skip
"""The emotion letter of a name (German initials: Wut, Langeweile, Ekel, Angst, Freude,
Trauer, Neutral)."""
DEFAULT_MAP = {"anger": "ang", "happiness": "hap", "neutral": "neu", "sadness": "sad",
               "boredom": None, "disgust": None, "fear": None}  # fmt: skip
GENDERS = {"03": "M", "08": "F", "09": "F", "10": "M", "11": "M", "12": "M", "13": "F",
           "14": "F", "15": "M", "16": "F"}  # fmt: skip
"""The speakers of the corpus documentation, with their gender."""
NAME = re.compile(r"^(?P<speaker>\d\d)(?P<text>[ab]\d\d)(?P<emotion>[A-Z])(?P<version>[a-z])$")


def prepare(
    root: str | Path,
    label_map: Mapping[str, str | None] | None = None,
    expected_counts: Mapping[str, int] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the label table from ``<root>/wav``."""
    root = Path(root)
    mapping = label_mapping(DEFAULT_MAP, label_map, root)
    rows = []
    listing = files.list_files(root / "wav", ".wav")
    for path in listing.files:
        found = NAME.match(path.stem)
        if not found or found["emotion"] not in EMOTIONS:
            letters = "".join(EMOTIONS)
            raise CorpusError(path, "not an EmoDB name: expected like 03a01Fa.wav (speaker, "
                              f"text, one of the emotion letters {letters}, version)")  # fmt: skip
        if found["speaker"] not in GENDERS:
            raise CorpusError(path, f"speaker {found['speaker']} is not one of EmoDB's ten "
                              f"({', '.join(GENDERS)})")  # fmt: skip
        rows.append({
            "utt_id": path.stem, "audio_path": str(path), "speaker": found["speaker"],
            "gender": GENDERS[found["speaker"]], "emotion": EMOTIONS[found["emotion"]],
        })  # fmt: skip
    return label_table(rows, mapping, root, expected_counts, listing.left_out)
