"""CMU-MOSEI reader: the SDK's ``CMU_MOSEI_Labels.csd`` plus full-video WAVs -> label table.

Rules (paper, section 6): a segment is kept when its happiness, sadness or anger rating is
positive, or when all six emotion ratings are zero (then it is neutral). A prediction is
correct when the predicted class's rating is positive (neutral: all six zero); that set is
the ``correct`` column. The single ``label`` (needed only to stratify or to train on MOSEI)
is the highest-rated of hap/sad/ang; ties go to the first in class order (ang, hap, sad).
Segments rated only for surprise, disgust or fear are dropped: none of the four classes is
correct for them. The speaker is the video: MOSEI has one speaker per video.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from pipeline.data.audio_check import probe_audio
from pipeline.data.labels import MOSEI_RATINGS
from pipeline.runtime.errors import CorpusError

log = logging.getLogger(__name__)

SDK_COLUMNS: tuple[str, ...] = ("sentiment", *MOSEI_RATINGS)
"""Column order of the label features in the SDK: sentiment, then the six emotions."""
_RATING_OF_CLASS = {"ang": "anger", "hap": "happy", "sad": "sad"}  # in class order
_END_TOLERANCE_S = 0.5


def read_csd(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a computational-sequence HDF5 file: video id -> (features N x 7, intervals N x 2)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(path, "CMU-MOSEI label file not found (CMU_MOSEI_Labels.csd)")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise CorpusError(path, f"not an HDF5 computational sequence ({exc})") from exc
    with handle:
        roots = [k for k in handle if isinstance(handle[k], h5py.Group) and "data" in handle[k]]
        if len(roots) != 1:
            raise CorpusError(
                path, f"expected one root group holding 'data' (e.g. 'All Labels'), found {roots}"
            )
        data = handle[roots[0]]["data"]
        videos: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for vid in sorted(data):
            group = data[vid]
            if "features" not in group or "intervals" not in group:
                raise CorpusError(path, f"/{roots[0]}/data/{vid}: needs 'features' and 'intervals'")
            features = np.asarray(group["features"], dtype=np.float64)
            intervals = np.asarray(group["intervals"], dtype=np.float64)
            if features.ndim != 2 or features.shape[1] != len(SDK_COLUMNS):
                raise CorpusError(
                    path,
                    f"/{roots[0]}/data/{vid}/features: expected N x {len(SDK_COLUMNS)} "
                    f"({', '.join(SDK_COLUMNS)}), got shape {features.shape}",
                )
            if intervals.shape != (features.shape[0], 2):
                raise CorpusError(
                    path,
                    f"/{roots[0]}/data/{vid}/intervals: expected {features.shape[0]} x 2, "
                    f"got shape {intervals.shape}",
                )
            if not (np.isfinite(features).all() and np.isfinite(intervals).all()):
                raise CorpusError(path, f"/{roots[0]}/data/{vid}: NaN or infinite values")
            videos[vid] = (features, intervals)
    return videos


def classify(ratings: dict[str, float]) -> tuple[str, list[str]] | None:
    """(label, correct classes) for one segment's six ratings, or None when it is dropped."""
    positive = [cls for cls, name in _RATING_OF_CLASS.items() if ratings[name] > 0]
    if positive:
        # max() keeps the first of equal ratings, so ties go to class order
        return max(positive, key=lambda cls: ratings[_RATING_OF_CLASS[cls]]), positive
    if all(ratings[name] == 0 for name in MOSEI_RATINGS):
        return "neu", ["neu"]
    return None


def prepare(
    root: str | Path,
    labels_file: str = "CMU_MOSEI_Labels.csd",
    wav_dir: str = "Audio/Full/WAV_16000",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Build the MOSEI label table; segments are cut later from ``<wav_dir>/<video>.wav``."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(root, "CMU-MOSEI root not found")
    if not (root / wav_dir).is_dir():
        raise CorpusError(root / wav_dir, "folder of full-video WAVs (<video_id>.wav) not found")
    videos = read_csd(root / labels_file)
    rows: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    for vid, (features, intervals) in videos.items():
        for k, (row, (start, end)) in enumerate(zip(features, intervals, strict=True)):
            ratings = dict(zip(SDK_COLUMNS, row.tolist(), strict=True))
            decided = classify(ratings)
            if decided is None:
                reasons["only_surprise_disgust_fear"] += 1
                continue
            rows.append(
                {
                    "utt_id": f"{vid}[{k}]",
                    "audio_path": str(root / wav_dir / f"{vid}.wav"),
                    "start_s": float(start),
                    "end_s": float(end),
                    "speaker": vid,
                    "session": vid,
                    "gender": None,
                    "label": decided[0],
                    "correct": decided[1],
                    **{name: ratings[name] for name in MOSEI_RATINGS},
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        raise CorpusError(root / labels_file, "no segment is happy, sad, angry or neutral")
    audio = probe_audio(table["audio_path"], root)
    duration = table["audio_path"].map(lambda p: audio[p].duration_s)
    bad_interval = table["end_s"] <= table["start_s"]
    beyond = (table["start_s"] >= duration) | (table["end_s"] > duration + _END_TOLERANCE_S)
    reasons["bad_interval"] += int(bad_interval.sum())
    reasons["beyond_audio_end"] += int((beyond & ~bad_interval).sum())
    if bad_interval.any() or beyond.any():
        log.warning(
            "dropping %d segments whose interval is empty or lies past the end of its WAV, e.g. %s",
            int((bad_interval | beyond).sum()),
            table.loc[bad_interval | beyond, "utt_id"].head(5).tolist(),
        )
    table = table[~(bad_interval | beyond)].copy()
    table["end_s"] = np.minimum(table["end_s"], duration[table.index])
    info = {
        "segments": int(sum(len(f) for f, _ in videos.values())),
        "videos": len(videos),
        "dropped": dict(sorted((k, v) for k, v in reasons.items() if v)),
        "left_out": {},  # audio is looked up by video id, never listed: no file to leave out
        "multi_label": int((table["correct"].map(len) > 1).sum()),
    }
    return table.reset_index(drop=True), info


def write_csd(path: str | Path, videos: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write labels in the SDK's computational-sequence layout (used by the demo generator).

    Root group ``All Labels`` with ``data/<video>/{features,intervals}`` and a ``metadata``
    group of one-element JSON string datasets, as ``mmsdk`` writes them.
    """
    metadata = {
        "root name": "All Labels",
        "computational sequence description": "Synthetic CMU-MOSEI-like labels (MEnAN demo)",
        "dimension names": list(SDK_COLUMNS),
        "computational sequence version": "1.0",
        "alignment compatible": True,
        "dataset name": "CMU-MOSEI demo",
    }
    with h5py.File(path, "w") as handle:
        root = handle.create_group("All Labels")
        data = root.create_group("data")
        for vid, (features, intervals) in sorted(videos.items()):
            group = data.create_group(vid)
            group.create_dataset("features", data=np.asarray(features, dtype=np.float64))
            group.create_dataset("intervals", data=np.asarray(intervals, dtype=np.float64))
        meta = root.create_group("metadata")
        for key, value in metadata.items():
            dataset = meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))
            dataset[0] = json.dumps(value)
