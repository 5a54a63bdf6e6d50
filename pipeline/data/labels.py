"""The one label-table schema shared by every corpus reader, and its Parquet I/O.

Every reader returns a DataFrame with exactly these columns, so later stages never
need to know which corpus they are looking at. The label set and corpus facts are
stored in the Parquet schema metadata next to the data (the audformat habit).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import EMOTIONS
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.errors import CorpusError

MOSEI_RATINGS: tuple[str, ...] = ("happy", "sad", "anger", "surprise", "disgust", "fear")
"""CMU-MOSEI's six emotion ratings, in the SDK's column order (after sentiment)."""

_BASE_FIELDS: list[pa.Field] = [
    pa.field("utt_id", pa.string(), nullable=False),
    pa.field("corpus", pa.string(), nullable=False),
    pa.field("audio_path", pa.string(), nullable=False),
    pa.field("start_s", pa.float64(), nullable=False),
    pa.field("end_s", pa.float64(), nullable=False),
    pa.field("speaker", pa.string(), nullable=False),
    pa.field("session", pa.string()),
    pa.field("gender", pa.string()),
    pa.field("label", pa.string(), nullable=False),
    # Classes a prediction may take and still count as correct: [label] for single-label
    # corpora, every positively rated class for MOSEI. Cross-corpus scoring reads only this.
    pa.field("correct", pa.list_(pa.string()), nullable=False),
]
METADATA_KEY = b"menan"


SPLIT_NAMES = ("train", "validation", "test")
"""Values of the optional ``split`` column: a corpus's own partition (MSP-Podcast, or a
manifest's ``split`` column), read by the ``split`` fold protocol."""


def schema(with_ratings: bool, with_split: bool = False) -> pa.Schema:
    """The Arrow schema of a label table; MOSEI tables carry the six ratings too, and a
    corpus with its own partition its ``split``."""
    fields = list(_BASE_FIELDS)
    if with_ratings:
        fields += [pa.field(name, pa.float32(), nullable=False) for name in MOSEI_RATINGS]
    if with_split:
        fields.append(pa.field("split", pa.string(), nullable=False))
    return pa.schema(fields)


def validate(table: pd.DataFrame, source: str) -> None:
    """Refuse a table that breaks the invariants later stages rely on."""
    bad_labels = sorted(set(table["label"]) - set(EMOTIONS))
    if bad_labels:
        raise CorpusError(source, f"labels outside {EMOTIONS}: {bad_labels}")
    dupes = table["utt_id"][table["utt_id"].duplicated()].unique().tolist()
    if dupes:
        raise CorpusError(source, f"duplicate utt_id values, e.g. {dupes[:5]}")
    if (table["end_s"] <= table["start_s"]).any():
        raise CorpusError(source, "segments with end_s <= start_s")
    if table.empty:
        raise CorpusError(source, "no utterance survived label merging")
    if "split" in table and not table["split"].isin(SPLIT_NAMES).all():
        found = sorted(set(table["split"].dropna()) - set(SPLIT_NAMES))
        raise CorpusError(source, f"split values must be {SPLIT_NAMES}; found {found or 'empty'}")


def write(table: pd.DataFrame, target: str | Path, corpus: str, info: Mapping[str, Any]) -> None:
    """Write the table atomically, with the scheme (labels, corpus, reader info) as metadata."""
    with_ratings = all(name in table.columns for name in MOSEI_RATINGS)
    arrow_schema = schema(with_ratings, with_split="split" in table.columns)
    table = table.sort_values("utt_id", kind="stable").reset_index(drop=True)
    validate(table, str(target))
    arrow = pa.Table.from_pandas(
        table[arrow_schema.names], schema=arrow_schema, preserve_index=False
    )
    meta = {"labels": list(EMOTIONS), "corpus": corpus, **info}
    arrow = arrow.replace_schema_metadata({METADATA_KEY: json.dumps(meta, sort_keys=True).encode()})
    with atomic_path(target) as tmp:
        pq.write_table(arrow, tmp, compression="zstd")


def read(path: str | Path) -> pd.DataFrame:
    """Read a label table written by :func:`write`."""
    return pq.read_table(path).to_pandas()


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The scheme stored beside the data: label set, corpus name, reader facts."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[METADATA_KEY])


def class_counts(table: pd.DataFrame) -> dict[str, int]:
    """Utterances per class, every class present (zero where none)."""
    counts = table["label"].value_counts()
    return {label: int(counts.get(label, 0)) for label in EMOTIONS}
