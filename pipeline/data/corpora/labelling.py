"""What the readers of corpora that code their labels in file names share.

EmoDB, RAVDESS and CREMA-D (and MSP-Podcast's label file) name each recording's speaker
and emotion; a reader parses the names, and this module turns the parsed rows into the label
table: the label map (the paper's four classes by default, any class mappable, a class
mapped to null dropped and counted), the audio check, and the expected counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import EMOTIONS
from pipeline.data.audio_check import probe_audio
from pipeline.data.corpora import files
from pipeline.runtime.errors import CorpusError


def label_mapping(
    defaults: Mapping[str, str | None], label_map: Mapping[str, str | None] | None, source: Path
) -> dict[str, str | None]:
    """The corpus's class names -> ang/hap/neu/sad or None (dropped): the defaults, with the
    user's ``label_map`` on top. A key that names no class of the corpus is an error, so a
    typo never leaves a class silently dropped."""
    mapping = dict(defaults)
    unknown = sorted(set(label_map or {}) - set(defaults))
    if unknown:
        raise CorpusError(
            source, f"label_map names classes this corpus does not have: {unknown}; its classes "
            f"are {sorted(defaults)}"
        )  # fmt: skip
    mapping.update(label_map or {})
    check_targets(mapping, source)
    return mapping


def check_targets(mapping: Mapping[str, str | None], source: Path) -> None:
    """Every label map target must be one of the four classes, or null (dropped)."""
    bad = {k: v for k, v in mapping.items() if v is not None and v not in EMOTIONS}
    if bad:
        raise CorpusError(source, f"label map targets must be one of {EMOTIONS} or null: {bad}")


def check_counts(
    counts: Mapping[str, int], expected_counts: Mapping[str, int] | None, root: Path,
    why: str = "",
) -> None:  # fmt: skip
    """``expected_counts`` (class -> count) turns an incomplete copy into a loud error;
    ``why`` says where the expected counts came from."""
    if expected_counts is None:
        return
    wanted = {k: int(v) for k, v in expected_counts.items()}
    got = {k: counts.get(k, 0) for k in wanted}
    if got != wanted or sum(counts.values()) != sum(wanted.values()):
        raise CorpusError(
            root, f"expected class counts {wanted}, found {dict(sorted(counts.items()))}{why}"
        )


def label_table(
    rows: list[dict[str, Any]],
    mapping: Mapping[str, str | None],
    root: Path,
    expected_counts: Mapping[str, int] | None,
    left_out: Counter[str],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The label table of whole-file utterances, and the counts for the label stage.

    ``rows`` hold ``utt_id, audio_path, speaker, gender, emotion`` (the corpus's class name)
    and optionally ``session`` and ``split``; the audio of every kept row is checked.
    ``left_out``: the files (or label rows) the reader did not take, by reason.
    """
    dropped = Counter(r["emotion"] for r in rows if mapping[r["emotion"]] is None)
    kept = [{**r, "label": mapping[r["emotion"]]} for r in rows if mapping[r["emotion"]]]
    if not kept:
        raise CorpusError(root, "no recording with a kept class (check label_map)")
    table = pd.DataFrame(kept).drop(columns="emotion")
    for column in ("session", "gender"):
        if column not in table:
            table[column] = None
    audio = probe_audio(table["audio_path"], root)
    table["start_s"] = 0.0
    table["end_s"] = table["audio_path"].map(lambda p: audio[p].duration_s)
    table["correct"] = [[label] for label in table["label"]]
    counts = Counter(table["label"])
    check_counts(counts, expected_counts, root)
    info = {
        "recordings": len(rows),
        "dropped": dict(sorted(dropped.items())),
        "left_out": files.left_out(left_out),
        "speakers": sorted(set(table["speaker"])),
        "genders": dict(
            sorted(Counter(table.drop_duplicates("speaker")["gender"].dropna()).items())
        ),
    }
    return table, info
