"""Manifest reader: a CSV of ``path, speaker, label[, session, start_s, end_s, gender, utt_id,
split]``.

For corpora that are neither IEMOCAP nor MOSEI. Audio paths are relative to the CSV's
folder (or absolute). Labels go through an explicit map to ang/hap/neu/sad; mapping a label
to null drops it on purpose, while a label missing from the map is an error, so a typo in
the map can never silently shrink the corpus. The four class names map to themselves.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import EMOTIONS
from pipeline.audio_check import probe_audio
from pipeline.corpora.coded import check_targets
from pipeline.errors import CorpusError
from pipeline.label_table import SPLITS

REQUIRED = ("path", "speaker", "label")
OPTIONAL = ("session", "start_s", "end_s", "gender", "utt_id", "split")
END_TOLERANCE_S = 0.5
"""How far an ``end_s`` may overrun its file (rounding, a trailing frame) before it is an
error: further means wrong units (milliseconds for seconds) or the wrong file."""


def _float(value: str, column: str, path: Path, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise CorpusError(
            path, f"column {column!r}: expected seconds, got {value!r}", line
        ) from None


def prepare(
    root: str | Path,
    manifest: str = "manifest.csv",
    label_map: Mapping[str, str | None] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the label table from ``<root>/<manifest>``."""
    root = Path(root)
    csv_path = root / manifest
    if not csv_path.is_file():
        raise CorpusError(csv_path, "manifest CSV not found")
    mapping: dict[str, str | None] = {label: label for label in EMOTIONS}
    mapping.update(label_map or {})
    check_targets(mapping, csv_path)

    rows: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    seen_rows: dict[tuple[str, ...], int] = {}
    seen_segments: dict[tuple[str, float | None, float | None], int] = {}
    # utf-8-sig: spreadsheet programs start a CSV with a byte-order mark
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise CorpusError(csv_path, f"missing columns {missing}; header is {header}", line=1)
        reader.fieldnames = header
        has_times = "start_s" in header or "end_s" in header
        for record in reader:
            line = reader.line_num
            values = {k: (v or "").strip() for k, v in record.items() if k is not None}
            if None in record:
                raise CorpusError(csv_path, f"more fields than the {len(header)} columns", line)
            empty = [c for c in REQUIRED if not values.get(c)]
            if empty:
                raise CorpusError(csv_path, f"empty value in {empty}", line)
            row_key = tuple(values.get(c, "") for c in header)
            if row_key in seen_rows:
                raise CorpusError(csv_path, f"repeats line {seen_rows[row_key]} exactly", line)
            seen_rows[row_key] = line
            audio = Path(values["path"])
            audio = audio if audio.is_absolute() else root / audio
            start = end = None
            if has_times:
                if not values.get("start_s") or not values.get("end_s"):
                    raise CorpusError(csv_path, "start_s and end_s must both be given", line)
                start = _float(values["start_s"], "start_s", csv_path, line)
                end = _float(values["end_s"], "end_s", csv_path, line)
                if not 0 <= start < end:
                    raise CorpusError(
                        csv_path, f"need 0 <= start_s < end_s, got {start}, {end}", line
                    )
            segment = (str(audio), start, end)
            if segment in seen_segments:
                raise CorpusError(
                    csv_path,
                    f"the same segment (path, start_s, end_s) as line {seen_segments[segment]}",
                    line,
                )
            seen_segments[segment] = line
            raw = values["label"]
            if raw not in mapping:
                raise CorpusError(
                    csv_path,
                    f"label {raw!r} is not in the label map; map it to one of {EMOTIONS} "
                    "or to null to drop it",
                    line,
                )
            if mapping[raw] is None:
                dropped[raw] += 1
                continue
            rows.append(
                {
                    "utt_id": values.get("utt_id") or None,
                    "stem": Path(values["path"]).with_suffix("").as_posix(),
                    "audio_path": str(audio),
                    "start_s": start,
                    "end_s": end,
                    "speaker": values["speaker"],
                    "session": values.get("session") or None,
                    "gender": values.get("gender") or None,
                    "split": values.get("split") or None,
                    "label": mapping[raw],
                    "line": line,
                }
            )
    if not rows:
        raise CorpusError(csv_path, "no row with a kept label")
    table = pd.DataFrame(rows)
    # Default id: the audio path without extension; "[k]" numbers several segments of one file.
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

    audio_info = probe_audio(table["audio_path"], root)
    duration = table["audio_path"].map(lambda p: audio_info[p].duration_s)
    table["start_s"] = table["start_s"].fillna(0.0).astype(float)
    table["end_s"] = table["end_s"].fillna(duration).astype(float)
    past_end = table["start_s"] >= duration
    if past_end.any():
        first = table[past_end].iloc[0]
        raise CorpusError(
            csv_path,
            f"start_s {first['start_s']} lies past the end of {first['audio_path']}",
            int(first["line"]),
        )
    overrun = table["end_s"] > duration + END_TOLERANCE_S
    if overrun.any():
        first = table[overrun].iloc[0]
        length = audio_info[first["audio_path"]].duration_s
        raise CorpusError(
            csv_path,
            f"end_s {first['end_s']} lies {first['end_s'] - length:.2f} s past the end of "
            f"{first['audio_path']} ({length:.2f} s long; more than {END_TOLERANCE_S} s is "
            "an error): seconds are expected, not milliseconds",
            int(first["line"]),
        )
    table["end_s"] = table["end_s"].clip(upper=duration)
    table["correct"] = [[label] for label in table["label"]]
    if table["split"].isna().all():
        table = table.drop(columns="split")
    elif table["split"].isna().any() or not table["split"].isin(SPLITS).all():
        bad = table[~table["split"].isin(SPLITS)].iloc[0]
        raise CorpusError(csv_path, f"split: expected one of {SPLITS} on every row, got "
                          f"{bad['split']!r}", int(bad["line"]))  # fmt: skip
    info = {"rows": len(rows) + sum(dropped.values()), "dropped": dict(sorted(dropped.items()))}
    return table.drop(columns=["stem", "line"]), info
