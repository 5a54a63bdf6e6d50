"""MSP-Podcast as distributed: ``Labels/labels_consensus.csv`` and ``Audios/<FileName>``.

The label file's columns ``FileName, EmoClass, SpkrID, Gender, Split_Set`` are read (the
dimensional ratings are not). ``EmoClass`` is the consensus class: A anger, H happiness,
N neutral, S sadness, U surprise, F fear, D disgust, C contempt, O other, X no consensus.
O and X have no emotion to learn and are always dropped (counted), as the corpus
documentation advises for categorical work. ``SpkrID`` is ``Unknown`` where the speaker has
not been identified: those recordings are dropped and counted, because both the speaker
classifier and speaker-disjoint evaluation need a speaker. ``Split_Set`` gives the corpus's
own split (Train -> train, Development -> validation, Test1 -> test; other test sets are
dropped and counted, or chosen with ``test_set``), read by the ``split`` fold protocol.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.data.corpora.labelling import label_mapping, label_table
from pipeline.runtime.errors import CorpusError

CLASSES = {"A": "anger", "H": "happiness", "N": "neutral", "S": "sadness", "U": "surprise",
           "F": "fear", "D": "disgust", "C": "contempt"}  # fmt: skip
NO_CLASS = ("O", "X")
DEFAULT_MAP = {"anger": "ang", "happiness": "hap", "neutral": "neu", "sadness": "sad",
               "surprise": None, "fear": None, "disgust": None, "contempt": None}  # fmt: skip
GENDERS = {"Male": "M", "Female": "F"}
COLUMNS = ("FileName", "EmoClass", "SpkrID", "Gender", "Split_Set")
LABELS = "Labels/labels_consensus.csv"


def prepare(
    root: str | Path,
    label_map: Mapping[str, str | None] | None = None,
    expected_counts: Mapping[str, int] | None = None,
    test_set: str = "Test1",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the label table from ``<root>/Labels/labels_consensus.csv`` and ``<root>/Audios``."""
    root = Path(root)
    mapping = label_mapping(DEFAULT_MAP, label_map, root)
    splits = {"Train": "train", "Development": "validation", test_set: "test"}
    labels = root / LABELS
    if not labels.is_file():
        raise CorpusError(labels, "missing: MSP-Podcast's consensus labels (FileName, EmoClass, "
                          "SpkrID, Gender, Split_Set)")  # fmt: skip
    rows, left_out = [], Counter()
    with labels.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(labels, f"missing columns {missing}; header is {reader.fieldnames}",
                              1)  # fmt: skip
        for record in reader:
            line = reader.line_num
            values = {c: (record[c] or "").strip() for c in COLUMNS}
            code = values["EmoClass"]
            if code in NO_CLASS:
                left_out[f"EmoClass {code}"] += 1
                continue
            if code not in CLASSES:
                known = sorted([*CLASSES, *NO_CLASS])
                raise CorpusError(labels, f"EmoClass: expected one of {known}, got {code!r}", line)
            if values["SpkrID"].lower() == "unknown" or not values["SpkrID"]:
                left_out["unknown speaker"] += 1
                continue
            split = values["Split_Set"]
            if split not in splits:
                if not split.startswith("Test"):
                    raise CorpusError(labels, "Split_Set: expected Train, Development or "
                                      f"Test<N>, got {split!r}", line)  # fmt: skip
                left_out[f"Split_Set {split}"] += 1
                continue
            rows.append({
                "utt_id": Path(values["FileName"]).stem,
                "audio_path": str(root / "Audios" / values["FileName"]),
                "speaker": values["SpkrID"], "gender": GENDERS.get(values["Gender"]),
                "emotion": CLASSES[code], "split": splits[split],
            })  # fmt: skip
    if not rows:
        raise CorpusError(labels, "no row with a class, a known speaker and a used split")
    return label_table(rows, mapping, root, expected_counts, left_out)
