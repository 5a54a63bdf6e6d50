"""Manifest reader: a CSV of ``path, speaker, label[, session, start_s, end_s, gender, utt_id,
split]``.

For corpora that are neither IEMOCAP nor MOSEI. Audio paths are relative to the CSV's
folder (or absolute). Labels go through an explicit map to ang/hap/neu/sad; mapping a label
to null drops it on purpose, while a label missing from the map is an error, so a typo in
the map can never silently shrink the corpus. The four class names map to themselves.

The rows themselves (encoding, header, paths, times, repeats, a segment's extent in its
file) are read by :func:`read_rows` and :func:`fit_to_file`, which ``menan`` uses for the
manifests it scores too: one rule for what a valid manifest row is.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import EMOTIONS
from pipeline.data.audio_check import probe_audio
from pipeline.data.corpora.labelling import check_targets
from pipeline.data.labels import SPLIT_NAMES
from pipeline.runtime.errors import CorpusError

REQUIRED = ("path", "speaker", "label")
OPTIONAL = ("session", "start_s", "end_s", "gender", "utt_id", "split")
TIMES = ("start_s", "end_s")
END_TOLERANCE_S = 0.5
"""How far an ``end_s`` may overrun its file (rounding, a trailing frame) before it is an
error: further means wrong units (milliseconds for seconds) or the wrong file."""


@dataclass(frozen=True)
class Row:
    """One data row of a manifest: its stripped cells, the audio file it names, its times."""

    line: int
    values: dict[str, str]
    audio: Path
    start_s: float | None
    end_s: float | None


def _text(csv_path: Path) -> str:
    """The file as text: UTF-8, with or without the byte-order mark spreadsheets write.

    Another encoding (a Latin-1 or Windows-1252 export) is refused with the line of its
    first undecodable byte rather than guessed: a guessed encoding can turn a path into the
    name of a file that does not exist, or of another one.
    """
    data = csv_path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CorpusError(
            csv_path, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the manifest as "
            "UTF-8 (a spreadsheet program's 'CSV UTF-8')", line
        ) from None  # fmt: skip


def _seconds(value: str, column: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"column {column!r}: expected seconds, got {value!r}") from None
    if not math.isfinite(seconds):
        raise ValueError(f"column {column!r}: expected finite seconds, got {value!r}")
    return seconds


def _row(header: list[str], record: dict, line: int, required: Sequence[str], root: Path) -> Row:
    """One record checked on its own; a ValueError says what is wrong with it."""
    if None in record:
        raise ValueError(f"more fields than the {len(header)} columns")
    values = {k: (v or "").strip() for k, v in record.items() if k is not None}
    empty = [c for c in required if not values.get(c)]
    if empty:
        raise ValueError(f"empty value in {empty}")
    start = end = None
    if any(c in header for c in TIMES):
        if not values.get("start_s") or not values.get("end_s"):
            raise ValueError("start_s and end_s must both be given")
        start, end = (_seconds(values[c], c) for c in TIMES)
        if not 0 <= start < end:
            raise ValueError(f"need 0 <= start_s < end_s, got {start}, {end}")
    audio = Path(values["path"])
    return Row(line, values, audio if audio.is_absolute() else root / audio, start, end)


def read_rows(
    csv_path: Path, required: Sequence[str], problems: list[CorpusError] | None = None
) -> list[Row]:
    """Every row of a manifest, checked: required columns present and filled, times finite
    with ``0 <= start_s < end_s``, no row repeated, no segment named twice.

    A file-level fault (encoding, header) is always an error. A faulty row is an error too,
    unless ``problems`` is given: then each faulty row is appended to it and left out, so a
    caller can list them all at once.
    """
    reader = csv.DictReader(io.StringIO(_text(csv_path), newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise CorpusError(csv_path, f"missing columns {missing}; header is {header}", line=1)
    reader.fieldnames = header
    rows: list[Row] = []
    seen_rows: dict[tuple[str, ...], int] = {}
    seen_segments: dict[tuple[str, float | None, float | None], int] = {}
    for record in reader:
        line = reader.line_num
        try:
            row = _row(header, record, line, required, csv_path.parent)
            key = tuple(row.values.get(c, "") for c in header)
            if key in seen_rows:
                raise ValueError(f"repeats line {seen_rows[key]} exactly")
            segment = (str(row.audio), row.start_s, row.end_s)
            if segment in seen_segments:
                raise ValueError(
                    f"the same segment (path, start_s, end_s) as line {seen_segments[segment]}"
                )
        except ValueError as exc:
            problem = CorpusError(csv_path, str(exc), line)
            if problems is None:
                raise problem from None
            problems.append(problem)
            continue
        seen_rows[key], seen_segments[segment] = line, line
        rows.append(row)
    return rows


def fit_to_file(audio: str | Path, start_s: float, end_s: float, duration_s: float) -> float:
    """``end_s`` clipped to ``audio``, a file of ``duration_s``; a ValueError for a segment
    that does not lie in it (a start past its end, an end more than END_TOLERANCE_S past)."""
    if start_s >= duration_s:
        raise ValueError(f"start_s {start_s} lies past the end of {audio}")
    if end_s > duration_s + END_TOLERANCE_S:
        raise ValueError(
            f"end_s {end_s} lies {end_s - duration_s:.2f} s past the end of {audio} "
            f"({duration_s:.2f} s long; more than {END_TOLERANCE_S} s is an error): seconds "
            "are expected, not milliseconds"
        )  # fmt: skip
    return min(end_s, duration_s)


def _one_gender(rows: list[dict[str, Any]], csv_path: Path) -> None:
    """A speaker is one person: two different ``gender`` values for one speaker are an error
    (the gender probe and the gender-balanced folds read it per speaker)."""
    first: dict[str, tuple[str, int]] = {}
    for row in rows:
        if row["gender"] is None:
            continue
        seen = first.setdefault(row["speaker"], (row["gender"], row["line"]))
        if seen[0] != row["gender"]:
            raise CorpusError(
                csv_path, f"speaker {row['speaker']!r} has gender {row['gender']!r} here and "
                f"{seen[0]!r} on line {seen[1]}", row["line"]
            )  # fmt: skip


def prepare(
    root: str | Path,
    manifest: str = "manifest.csv",
    label_map: Mapping[str, str | None] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the label table from ``<root>/<manifest>``: the rows whose label is kept, their
    times checked against their audio, their split (if any) checked."""
    root = Path(root)
    csv_path = root / manifest
    if not csv_path.is_file():
        raise CorpusError(csv_path, "manifest CSV not found")
    mapping: dict[str, str | None] = {label: label for label in EMOTIONS}
    mapping.update(label_map or {})
    check_targets(mapping, csv_path)
    read = read_rows(csv_path, REQUIRED)
    rows, dropped = _kept_rows(read, mapping, csv_path)
    _one_gender(rows, csv_path)
    table = _timed(_with_ids(pd.DataFrame(rows), csv_path), root, csv_path)
    table["correct"] = [[label] for label in table["label"]]
    table = _checked_split(table, csv_path)
    info = {"rows": len(read), "dropped": dict(sorted(dropped.items())), "left_out": {}}
    return table.drop(columns=["stem", "line"]), info


def _kept_rows(
    read: list[Row], mapping: Mapping[str, str | None], csv_path: Path
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The label-table rows of the manifest rows whose label maps to a class, and the count
    of each label mapped to null; an unmapped label is an error naming its line."""
    rows: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    for row in read:
        raw = row.values["label"]
        if raw not in mapping:
            raise CorpusError(
                csv_path,
                f"label {raw!r} is not in the label map; map it to one of {EMOTIONS} "
                "or to null to drop it",
                row.line,
            )
        if mapping[raw] is None:
            dropped[raw] += 1
            continue
        rows.append(
            {
                "utt_id": row.values.get("utt_id") or None,
                "stem": Path(row.values["path"]).with_suffix("").as_posix(),
                "audio_path": str(row.audio),
                "start_s": row.start_s,
                "end_s": row.end_s,
                "speaker": row.values["speaker"],
                "session": row.values.get("session") or None,
                "gender": row.values.get("gender") or None,
                "split": row.values.get("split") or None,
                "label": mapping[raw],
                "line": row.line,
            }
        )
    if not rows:
        raise CorpusError(csv_path, "no row with a kept label")
    return rows, dropped


def _timed(table: pd.DataFrame, root: Path, csv_path: Path) -> pd.DataFrame:
    """Every row's segment within its audio: a missing start is 0, a missing end the file's
    end, and an end past the file an error naming the manifest line (:func:`fit_to_file`)."""
    audio_info = probe_audio(table["audio_path"], root)
    duration = table["audio_path"].map(lambda p: audio_info[p].duration_s)
    table["start_s"] = table["start_s"].fillna(0.0).astype(float)
    table["end_s"] = table["end_s"].fillna(duration).astype(float)
    ends = []
    for line, path, start, end, seconds in zip(
        table["line"], table["audio_path"], table["start_s"], table["end_s"], duration,
        strict=True,
    ):  # fmt: skip
        try:
            ends.append(fit_to_file(path, start, end, seconds))
        except ValueError as exc:
            raise CorpusError(csv_path, str(exc), int(line)) from None
    table["end_s"] = ends
    return table


def _checked_split(table: pd.DataFrame, csv_path: Path) -> pd.DataFrame:
    """The ``split`` column on every row, from :data:`SPLIT_NAMES`, or on none (then dropped)."""
    if table["split"].isna().all():
        return table.drop(columns="split")
    if table["split"].isna().any() or not table["split"].isin(SPLIT_NAMES).all():
        bad = table[~table["split"].isin(SPLIT_NAMES)].iloc[0]
        raise CorpusError(csv_path, f"split: expected one of {SPLIT_NAMES} on every row, got "
                          f"{bad['split']!r}", int(bad["line"]))  # fmt: skip
    return table


def _with_ids(table: pd.DataFrame, csv_path: Path) -> pd.DataFrame:
    """Every row's ``utt_id``: its own, or the audio path without extension, with "[k]"
    numbering several segments of one file; an id used twice is an error."""
    per_file = table.groupby("stem")["stem"].transform("size")
    index_in_file = table.groupby("stem").cumcount()
    default_id = table["stem"].where(
        per_file == 1, table["stem"] + "[" + index_in_file.astype(str) + "]"
    )
    table["utt_id"] = table["utt_id"].fillna(default_id)
    dupes = table[table["utt_id"].duplicated(keep=False)]
    if not dupes.empty:
        first = dupes.iloc[0]
        raise CorpusError(csv_path, f"utt_id {first['utt_id']!r} is not unique", int(first["line"]))
    return table
