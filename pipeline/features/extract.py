"""Feature extraction over a whole label table: parallel, streamed, with progress.

Workers (joblib processes) each take a small chunk of utterances, read each one's audio
once and return its features at every requested speed, made by the front end
(:mod:`pipeline.features.frontend`: the paper's 43 channels or a self-supervised model's
hidden states). A front end on a GPU runs in the stage's own process, one utterance at a
time (the GPU is the parallelism). Results come back in order through
a generator with a bounded number of chunks in flight and go straight into Parquet row
groups, so memory stays flat however large the corpus (the real IEMOCAP with four speed
copies is about 35 hours of audio).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import delayed
from tqdm import tqdm

from pipeline.data import labels as label_table
from pipeline.features.audio import (
    SAMPLE_RATE,
    Native,
    load_segment,
    read_native,
    speed_perturb,
    to_model_rate,
    truncated_seconds,
)
from pipeline.features.frontend import FrontEnd, from_record
from pipeline.features.quality import Judged, assess
from pipeline.features.store import feature_writer
from pipeline.runtime.errors import CorpusError
from pipeline.runtime.workers import parallel

log = logging.getLogger(__name__)

CHUNK = 8  # utterances per task: amortises task overhead, keeps results small
Row = tuple[str, str, float, float]


def featurize(
    rows: Sequence[Row], speeds: Sequence[float], frontend: FrontEnd
) -> list[tuple[str, float, np.ndarray, float]]:
    """(utt_id, speed, features, source seconds) for every row at every speed."""
    out = []
    for utt_id, path, start_s, end_s in rows:
        audio = load_segment(path, start_s, end_s)
        copies = frontend.compute([speed_perturb(audio, s) for s in speeds])
        seconds = len(audio) / SAMPLE_RATE
        out += [(utt_id, s, f, seconds) for s, f in zip(speeds, copies, strict=True)]
    return out


def featurize_judged(
    rows: list[tuple[int, str, float, float]], frontend: FrontEnd, keep_going: bool
) -> list[tuple[int, np.ndarray | None, float, Judged | str]]:
    """(index, features, seconds, flags) per row of a file to score (``menan``), in a
    worker: the audio judged as the file holds it (:func:`pipeline.features.quality.assess`),
    then the features of its 16 kHz mono mix, as :func:`featurize` computes them. A file
    that fails to decode is an error, or with ``keep_going`` its message in place of the
    flags. Here, not beside the model, so that a worker process imports no torch."""
    out: list[tuple[int, np.ndarray | None, float, Judged | str]] = []
    for index, path, start_s, end_s in rows:
        try:
            native = read_native(path, start_s, end_s)
        except CorpusError as exc:
            if not keep_going:
                raise
            out.append((index, None, 0.0, str(exc)))
            continue
        native = replace(native, truncated_s=truncated_seconds(path))
        out.append((index, *features_of(native, frontend)))
    return out


def features_of(native: Native, frontend: FrontEnd) -> tuple[np.ndarray, float, Judged]:
    """Decoded audio's features (of its 16 kHz mono mix), its seconds, and its flags judged
    on the samples as they were decoded (:func:`pipeline.features.quality.assess`)."""
    audio = to_model_rate(native)
    seconds = len(audio) / SAMPLE_RATE
    judged = assess(native.samples, native.rate, seconds, native.truncated_s)
    [features] = frontend.compute([audio])
    return features, seconds, judged


def workers(frontend: FrontEnd, n_jobs: int) -> int:
    """``n_jobs`` for a front end's extraction: one process when it runs on a GPU."""
    return n_jobs if frontend.device == "cpu" else 1


def extract_table(
    labels: pd.DataFrame,
    target: str | Path,
    speeds: Sequence[float],
    frontend: FrontEnd,
    n_jobs: int,
    metadata: dict[str, Any],
) -> dict[str, Any]:
    """Write the features of every labelled utterance at every speed to ``target`` (no
    speeds: an empty table, the speed copies a user chose not to keep)."""
    rows: list[Row] = list(
        zip(labels["utt_id"], labels["audio_path"], labels["start_s"], labels["end_s"], strict=True)
    )
    chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
    meta = {**frontend.metadata, "speeds": list(speeds), **metadata}
    started = time.perf_counter()
    seconds = 0.0
    tasks = (delayed(featurize)(chunk, speeds, frontend) for chunk in chunks if speeds)
    jobs = workers(frontend, n_jobs)
    results = parallel(jobs, return_as="generator", pre_dispatch="2*n_jobs")(tasks)
    with (
        feature_writer(target, meta) as writer,
        tqdm(total=len(rows), desc=f"features {Path(target).name}", unit="utt") as bar,
    ):
        for result in results:
            for utt_id, speed, features, source_seconds in result:
                writer.add(utt_id, speed, features)
                seconds += source_seconds / len(speeds)
            bar.update(len(result) // len(speeds))
        if not speeds:
            bar.update(len(rows))
    wall = time.perf_counter() - started
    stats = {
        "utterances": len(rows),
        "rows": writer.utterances,
        "frames": writer.frames,
        "audio_hours": round(seconds * sum(1 / s for s in speeds) / 3600, 4),
        "wall_seconds": round(wall, 2),
    }
    log.info("wrote %s: %s", target, stats)
    return stats


def extract_labelled(
    labels_path: str | Path, target: str | Path, speeds: Sequence[float],
    frontend_file: str | Path, n_jobs: int, device: str,
) -> dict[str, Any]:  # fmt: skip
    """A features stage: every utterance of a label table at ``speeds``, made by the front
    end the ``frontend`` stage wrote down in ``frontend_file`` (on ``device``, where it can
    use one)."""
    record = json.loads(Path(frontend_file).read_text())
    frontend = from_record(record, device=device, where=str(frontend_file))
    labels = label_table.read(labels_path)
    corpus = label_table.read_metadata(labels_path)["corpus"]
    return extract_table(labels, target, speeds, frontend, n_jobs, {"corpus": corpus})
