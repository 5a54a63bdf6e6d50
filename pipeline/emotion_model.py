"""A trained model applied to any audio: emotion probabilities and the embedding v.

One code path with training and evaluation: features come from the features stage's own
code (:func:`pipeline.extract.featurize`: the same loader, resampling, 43 channels and
deterministic RAPT), are standardized with the model's own training statistics and scored
by :meth:`pipeline.inference.FoldModel.predict`, as evaluation scores. A recording is cut
into windows of ``window_s`` seconds (by default the model's training crop) every
``hop_s`` seconds, plus one window ending at the recording's end when the hops leave a
remainder; a recording no longer than one window is one window, cycle-repeated to the crop
exactly as in training. Every recording also gets a row ``window = -1``: the mean of its
windows' probabilities (or embeddings).

A model folder is a released model (``models/<regime>/``) or any training run
(``data/train/<regime>/foldNN/seedS/``); both hold a ``model.pt``
(:mod:`pipeline.run_files`), read with ``weights_only``: loading runs no code from it.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import delayed
from tqdm import tqdm

from pipeline import device as devices
from pipeline.audio_check import describe, inspect_audio
from pipeline.audio_io import resample
from pipeline.batches import FrameStore
from pipeline.errors import CorpusError, ModelError
from pipeline.extract import CHUNK, featurize
from pipeline.feature_store import Features
from pipeline.features import (
    FRAMES_PER_SECOND,
    HOP,
    SAMPLE_RATE,
    WINDOW,
    PitchRange,
    extract_many,
    settings,
)
from pipeline.inference import DeviceFrames, FoldModel
from pipeline.run_files import read_model
from pipeline.workers import parallel

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
"""What a folder given as input is searched for (recursively); soundfile reads them all."""
SHORTER_THAN_A_FRAME = f"audio files are shorter than one frame ({WINDOW / SAMPLE_RATE:g} s)"
MEAN = -1
"""``window`` of the row that averages a recording's windows."""


@dataclass(frozen=True)
class Segment:
    """A stretch of one audio file to score: ``[start_s, end_s)``, to the end when None."""

    path: str
    start_s: float = 0.0
    end_s: float | None = None


def segments_of(sources: Sequence[str | Path]) -> list[Segment]:
    """Files as they are, folders searched for audio, CSV manifests read row by row.

    A manifest is a CSV with a ``path`` column (relative to the CSV's folder, or absolute)
    and optional ``start_s``/``end_s`` columns, as the pipeline's own manifest reader takes;
    other columns (speaker, label) are ignored.
    """
    found: list[Segment] = []
    for source in map(Path, sources):
        if source.is_dir():
            found += [Segment(str(p)) for p in sorted(source.rglob("*"))
                      if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()]  # fmt: skip
        elif source.suffix.lower() == ".csv":
            found += _manifest_segments(source)
        else:
            found.append(Segment(str(source)))
    return found


def _manifest_segments(csv_path: Path) -> list[Segment]:
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "path" not in (reader.fieldnames or []):
            raise CorpusError(csv_path, f"no 'path' column (columns: {reader.fieldnames})", 1)
        segments = []
        for line, row in enumerate(reader, start=2):
            try:
                start = float(row.get("start_s") or 0.0)
                end = float(row["end_s"]) if row.get("end_s") else None
            except ValueError:
                raise CorpusError(csv_path, "start_s/end_s: expected seconds", line) from None
            path = Path(row["path"])
            segments.append(Segment(str(path if path.is_absolute() else csv_path.parent / path),
                                    start, end))  # fmt: skip
    return segments


def windows(n_frames: int, width: int, hop: int) -> list[tuple[int, int]]:
    """[start, stop) frame ranges: one when the recording fits, else every ``hop`` frames
    plus one flush with the end when the hops leave a remainder."""
    if n_frames <= width:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - width + 1, hop))
    if starts[-1] + width < n_frames:
        starts.append(n_frames - width)
    return [(s, s + width) for s in starts]


@dataclass
class Scored:
    """Windows of every recording with the model's outputs: one row per window."""

    table: pd.DataFrame  # path, start_s, end_s, window
    probs: np.ndarray  # (windows, emotions)
    embeddings: np.ndarray  # (windows, dim)


class EmotionModel:
    """A model folder ready to score audio; see the module docstring."""

    def __init__(self, model: FoldModel, saved: dict[str, Any], where: str, folder: Path):
        self.model, self.device, self.folder = model, where, folder
        self.emotions: list[str] = list(saved["emotions"])
        self.regime: str = saved["regime"]
        features = saved["features"]
        self.pitch_range = PitchRange(features["f0_min_hz"], features["f0_max_hz"])
        self.window_s = model.max_frames / FRAMES_PER_SECOND

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto") -> EmotionModel:
        """The model in ``folder`` (its ``model.pt``), on ``device`` (``auto``: a GPU if any)."""
        folder = Path(folder)
        saved = read_model(folder)
        expected = settings(PitchRange(saved["features"]["f0_min_hz"],
                                       saved["features"]["f0_max_hz"]))  # fmt: skip
        if saved["features"] != expected:
            raise ModelError(
                folder, f"trained on other features ({saved['features']}); this pipeline makes "
                f"{expected}"
            )  # fmt: skip
        where = devices.resolve(device)
        devices.prepare()
        try:
            model = FoldModel.from_saved(saved, where)
        except RuntimeError as exc:  # a state dict of another network
            raise ModelError(folder, f"weights do not fit the network: {exc}") from None
        return cls(model, saved, where, folder)

    def predict(self, sources: Any, **options: Any) -> pd.DataFrame:
        """Emotion probabilities per window and per recording (``window == -1``).

        ``sources``: a path, a list of paths, folders and CSV manifests, or a numpy array
        of samples with ``sample_rate=``. Options: ``window_s``, ``hop_s`` (seconds),
        ``n_jobs`` (feature workers), ``skip_bad`` (score the good files, list the bad in
        the log; otherwise a bad file is an error and nothing is scored), ``progress``.
        """
        scored = self.score(sources, **options)
        table = scored.table.copy()
        for k, name in enumerate(self.emotions):
            table[f"prob_{name}"] = scored.probs[:, k].astype(np.float32)
        table["predicted"] = [self.emotions[i] for i in scored.probs.argmax(axis=1)]
        return table

    def embed(self, sources: Any, **options: Any) -> pd.DataFrame:
        """The embedding v per window and per recording (``window == -1``), as ``predict``."""
        scored = self.score(sources, **options)
        table = scored.table.copy()
        table["v"] = list(scored.embeddings.astype(np.float32))
        return table

    def score(
        self, sources: Any, *, sample_rate: float | None = None, window_s: float | None = None,
        hop_s: float | None = None, n_jobs: int = 1, skip_bad: bool = False,
        progress: bool = True,
    ) -> Scored:  # fmt: skip
        """Every window of every recording through the network; see :meth:`predict`."""
        width = round((window_s or self.window_s) * FRAMES_PER_SECOND)
        hop = round((hop_s or window_s or self.window_s) * FRAMES_PER_SECOND)
        if width < 1 or hop < 1:
            raise ValueError(
                f"window and hop must be at least one frame (10 ms), got {width}, {hop}"
            )
        if isinstance(sources, np.ndarray):
            recordings: Iterator[Recording] = iter([self._array(sources, sample_rate)])
            named = "the samples given"
        else:
            paths = [sources] if isinstance(sources, str | Path) else list(sources)
            segments = segments_of(paths)
            recordings = self._files(segments, n_jobs, skip_bad, progress)
            named = _common_folder(segments) if segments else ", ".join(map(str, paths))
        parts = [self._score_chunk(chunk, width, hop) for chunk in _chunks(recordings, 64)]
        if not parts:
            raise CorpusError(named, "no audio to score")
        return Scored(
            table=pd.concat([p.table for p in parts], ignore_index=True),
            probs=np.concatenate([p.probs for p in parts]),
            embeddings=np.concatenate([p.embeddings for p in parts]),
        )

    def _array(self, audio: np.ndarray, sample_rate: float | None) -> Recording:
        if sample_rate is None:
            raise ValueError("scoring samples needs their sample_rate=")
        audio = np.asarray(audio, dtype=np.float32)
        mono = audio.mean(axis=1) if audio.ndim == 2 else audio
        if sample_rate != SAMPLE_RATE:
            mono = resample(mono, sample_rate, SAMPLE_RATE)
        if len(mono) < WINDOW or not np.isfinite(mono).all():
            raise CorpusError("<samples>", "shorter than one frame, or NaN or infinite samples")
        [features] = extract_many([mono], self.pitch_range)
        return Segment("<samples>"), features, len(mono) / SAMPLE_RATE

    def _files(
        self, segments: list[Segment], n_jobs: int, skip_bad: bool, progress: bool
    ) -> Iterator[Recording]:
        """Every good segment's features, extracted in parallel, in order.

        Bad files are found first, all of them, from their headers: one error lists them
        (nothing is scored), or with ``skip_bad`` one warning does.
        """
        infos, bad = inspect_audio(s.path for s in segments)
        short = {
            s for s in segments if s.path in infos and _seconds(s, infos) * SAMPLE_RATE < WINDOW
        }
        if short:
            bad[SHORTER_THAN_A_FRAME] = [f"{s.path} [{s.start_s}, {s.end_s})" for s in short]
        if bad:
            message = "cannot score:\n" + describe(bad)
            if not skip_bad:
                raise CorpusError(_common_folder(segments), f"{message}\nnothing was scored "
                                  "(--skip-bad scores the others)")  # fmt: skip
            log.warning("%s\nskipped; scoring the others", message)
        good = [s for s in segments if s.path in infos and s not in short]
        rows = [(str(i), s.path, s.start_s, s.end_s) for i, s in enumerate(good)]
        chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
        tasks = (delayed(featurize)(chunk, [1.0], self.pitch_range) for chunk in chunks)
        results = parallel(n_jobs, return_as="generator", pre_dispatch="2*n_jobs")(tasks)
        with tqdm(total=len(good), desc="audio", unit="file", disable=not progress) as bar:
            for result in results:
                for utt_id, _, features, seconds in result:
                    yield good[int(utt_id)], features, seconds
                bar.update(len(result))

    def _score_chunk(self, recordings: list[Recording], width: int, hop: int) -> Scored:
        """The windows of some recordings through the network, in one frame store; then
        each recording's rows: its windows, and their mean."""
        plan, pieces = [], []
        for segment, features, seconds in recordings:
            spans = [(k, a, b, len(pieces) + k)
                     for k, (a, b) in enumerate(windows(len(features), width, hop))]  # fmt: skip
            pieces += [features[a:b] for _, a, b, _ in spans]
            plan.append((segment, seconds, spans))
        counts = np.array([len(p) for p in pieces])
        store = FrameStore.combine(
            Features(
                utt_ids=np.arange(len(pieces)).astype(str).astype(object),
                speeds=np.ones(len(pieces), np.float32),
                offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
                frames=np.concatenate(pieces),
            )
        )
        probs, v = self.model.predict(DeviceFrames(store, self.device), np.arange(len(pieces)))
        rows, p_rows, v_rows = [], [], []
        for segment, seconds, spans in plan:
            end = segment.start_s + seconds
            for k, a, b, i in spans:
                start = segment.start_s + a / FRAMES_PER_SECOND
                rows.append((segment.path, start, min(segment.start_s + _frames_end(b), end), k))
                p_rows.append(probs[i])
                v_rows.append(v[i])
            members = [i for *_, i in spans]
            rows.append((segment.path, segment.start_s, end, MEAN))
            p_rows.append(probs[members].mean(axis=0))
            v_rows.append(v[members].mean(axis=0))
        table = pd.DataFrame(rows, columns=["path", "start_s", "end_s", "window"])
        return Scored(table, np.stack(p_rows), np.stack(v_rows))

    def export_onnx(self, target: str | Path) -> float:
        """The encoder and emotion head, standardization included, as ONNX, checked against
        torch with onnxruntime; returns the largest difference found."""
        from pipeline.onnx_export import export

        return export(self.model, Path(target))


Recording = tuple[Segment, np.ndarray, float]
"""A segment, its (n_frames, 43) features and its length in seconds."""


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _frames_end(n_frames: int) -> float:
    """Seconds from a recording's start to the end of its ``n_frames``-th frame."""
    return ((n_frames - 1) * HOP + WINDOW) / SAMPLE_RATE


def _seconds(segment: Segment, infos: dict) -> float:
    total = infos[segment.path].duration_s
    end = total if segment.end_s is None else min(segment.end_s, total)
    return max(end - segment.start_s, 0.0)


def _common_folder(segments: list[Segment]) -> str:
    """What a grouped error names: the one folder all files lie in, else a phrase."""
    folders = {str(Path(s.path).parent) for s in segments}
    return folders.pop() if len(folders) == 1 else "the audio given"
