"""A trained model applied to any audio: emotion probabilities and the embedding v.

One code path with training and evaluation: audio is read by the pipeline's own loader
(:mod:`pipeline.features.audio`: mono, 16 kHz with soxr), its frames made by the front end
the model records (:func:`pipeline.features.frontend.from_record`: the 43 channels with
deterministic RAPT, or the same self-supervised model's hidden states, stored at the same
precision as the features it was trained on), standardized
with the model's own training statistics and scored by
:meth:`pipeline.model.scoring.FoldModel.predict`, as evaluation scores. A recording is cut
into windows of ``window_s`` seconds (by default the model's training crop, never longer)
every ``hop_s`` seconds, plus one window ending at the recording's end when the hops leave
a remainder; a recording no longer than one window is one window, cycle-repeated to the
crop exactly as in training. By default (no ``window_s``, no ``hop_s``) a recording longer
than the crop is scored on its middle crop alone, exactly as evaluation scores an utterance,
so the released model answers as the evaluation that describes it; windows are what the
user asks for with ``window_s`` or ``hop_s``. Every recording also gets a row
``window = -1``: the mean of its windows' probabilities (or embeddings).

Everything that can be checked is checked before the first file is scored: the model
(:meth:`EmotionModel.load`), the window and hop, every manifest row (the pipeline's own
manifest reader), every file's header, and audio the model was not trained for
(:mod:`pipeline.features.quality`: refused or flagged). A file that fails to decode midway is
an error, or with ``skip_bad`` one more skipped file.

A model folder is a released model (``models/<regime>/``) or any training run
(``data/train/<regime>/foldNN/seedS/``); both hold a ``model.pt``
(:mod:`pipeline.model.run_files`), read with ``weights_only``: loading runs no code from it.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from joblib import delayed
from tqdm import tqdm

from pipeline.data.audio_check import describe, inspect_audio
from pipeline.data.corpora.files import DEBRIS, is_debris
from pipeline.data.corpora.manifest import fit_to_file, read_rows
from pipeline.features.audio import Native
from pipeline.features.extract import CHUNK, features_of, featurize_judged, workers
from pipeline.features.frame_store import FrameStore
from pipeline.features.frontend import FrontEnd, from_record
from pipeline.features.quality import Judged, below_model_rate
from pipeline.features.spec import (
    PAPER43,
    SAMPLE_RATE,
    SSL_KEYS,
    WINDOW,
    PitchRange,
    frontend_of,
    settings,
)
from pipeline.features.store import Features, value_type
from pipeline.inference.user_output import LEAD_COLUMNS, check_output
from pipeline.model.run_files import model_file, model_format, read_model
from pipeline.model.scoring import DeviceFrames, FoldModel
from pipeline.params import RunSettings, validate_as
from pipeline.regimes import REGIMES
from pipeline.runtime import device as devices
from pipeline.runtime.errors import ConfigError, CorpusError, ModelError
from pipeline.runtime.workers import parallel

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc",
                  ".caf", ".w64", ".au")  # fmt: skip
"""What a folder given as input is searched for (recursively, any letter case): the formats
soundfile reads, MP3 included. Other files there are counted and logged, never read."""
FRAME_S = WINDOW / SAMPLE_RATE
SHORTER_THAN_A_FRAME = f"audio files are shorter than one frame ({FRAME_S:g} s)"
BAD_ROWS = "manifest rows cannot be scored"
LOW_RATE = (f"audio files have a sample rate below the {SAMPLE_RATE} Hz the model was trained "
            "on (--allow-low-rate scores them, flagged)")  # fmt: skip
FAILED = "audio files failed to decode"
MEAN = -1
"""``window`` of the row that averages a recording's windows."""
MAX_CHANNELS = 16
"""A 2-D array with at most this many rows (and more columns) is (channels, samples)."""
PCM_SCALE = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31, np.dtype(np.int8): 2.0**7}
"""Integer PCM as soundfile scales it to float: divided by 2^(bits-1)."""


@dataclass(frozen=True)
class Segment:
    """A stretch of one audio file to score: ``[start_s, end_s)``, to the end when None;
    ``where`` is the manifest line that named it, if one did."""

    path: str
    start_s: float = 0.0
    end_s: float | None = None
    where: str = ""

    @property
    def named(self) -> str:
        return f"{self.where} ({self.path})" if self.where else self.path


@dataclass
class AudioSources:
    """What the user asked to score, gathered before any work: the segments, every file read
    to find them (inputs of the run, never to be written), and manifest rows that cannot be
    scored, by reason."""

    segments: list[Segment] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    problems: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def gather(cls, sources: Sequence[str | Path]) -> AudioSources:
        """Files as they are, folders searched for audio, CSV manifests read row by row.

        A manifest is the pipeline's own manifest format (:func:`pipeline.data.corpora.manifest.
        read_rows`): a ``path`` column (relative to the CSV's folder, or absolute), and
        ``start_s`` and ``end_s`` together or neither; other columns (speaker, label) are
        ignored. A source that does not exist is an error at once.
        """
        found = cls()
        for source in map(Path, sources):
            if not source.exists():
                raise CorpusError(source, "no such file or folder")
            if source.is_dir():
                found.segments += [Segment(str(p)) for p in _audio_in(source)]
            elif source.suffix.lower() == ".csv":
                problems: list[CorpusError] = []
                for row in read_rows(source, ("path",), problems):
                    found.segments.append(Segment(str(row.audio), row.start_s or 0.0, row.end_s,
                                                  f"{source}:{row.line}"))  # fmt: skip
                found.problems.setdefault(BAD_ROWS, []).extend(map(str, problems))
            else:
                found.segments.append(Segment(str(source)))
            found.inputs.append(str(source))
        found.inputs += [s.path for s in found.segments]
        found.problems = {k: v for k, v in found.problems.items() if v}
        return found


def _audio_in(folder: Path) -> list[Path]:
    """The audio files below ``folder``, by suffix in any case; copy debris and other files
    are left out and counted in the log (:mod:`pipeline.data.corpora.files`'s rule)."""
    audio, others = [], Counter()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if is_debris(path.relative_to(folder)):
            others[DEBRIS] += 1
        elif path.suffix.lower() in AUDIO_SUFFIXES:
            audio.append(path)
        else:
            others[path.suffix.lower() or "(no suffix)"] += 1
    if others:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(others.items()))
        log.info("%s: %d files that are not audio left out (%s)", folder,
                 sum(others.values()), kinds)  # fmt: skip
    return audio


def windows(n_frames: int, width: int, hop: int | None) -> list[tuple[int, int]]:
    """[start, stop) frame ranges: one when the recording fits; else, with no ``hop``, the
    middle ``width`` frames (evaluation's crop, :meth:`pipeline.model.scoring.DeviceFrames.
    crops`), or every ``hop`` frames plus one flush with the end when the hops leave a
    remainder."""
    if n_frames <= width:
        return [(0, n_frames)]
    if hop is None:
        start = (n_frames - width) // 2
        return [(start, start + width)]
    starts = list(range(0, n_frames - width + 1, hop))
    if starts[-1] + width < n_frames:
        starts.append(n_frames - width)
    return [(s, s + width) for s in starts]


@dataclass
class Scored:
    """Windows of every recording with the model's outputs: one row per window."""

    table: pd.DataFrame  # path, start_s, end_s, window, flags
    probs: np.ndarray  # (windows, emotions)
    embeddings: np.ndarray  # (windows, dim)


Recording = tuple[Segment, np.ndarray, float, Judged]
"""A segment, its (n_frames, width) features, its length in seconds and its flags."""


class EmotionModel:
    """A model folder ready to score audio; see the module docstring."""

    def __init__(self, model: FoldModel, saved: dict[str, Any], where: str, given: Path,
                 ssl_model: str | None = None):  # fmt: skip
        self.model, self.device, self.given = model, where, given
        self.folder = model_file(given).parent  # the folder of its model.pt
        self.emotions: list[str] = list(saved["emotions"])
        self.regime: str = saved["regime"]
        self.record: dict[str, Any] = saved["features"]
        self.ssl_model = ssl_model
        self.spec = model.frames
        self.window_s = model.max_frames / self.spec.frames_per_second

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto",
             ssl_model: str | None = None) -> EmotionModel:  # fmt: skip
        """The model in ``folder`` (its ``model.pt``), on ``device`` (``auto``: a GPU if any).

        Checked before it is used: the device exists here, the stored settings pass the
        same typed rules as params.yaml's ``train``, the statistics and weights are finite,
        the regime is one of the four, and the features are ones this pipeline makes: for a
        model trained on a self-supervised front end, the SSL model it records (or
        ``ssl_model``, a folder holding the same weights) is found and its hash checked.
        """
        where = devices.check(device, "device")
        given = Path(folder)
        path = model_file(given)
        folder = path.parent
        saved = read_model(path)
        _check_saved(saved, path)
        if folder.name in REGIMES and folder.name != saved["regime"]:
            log.warning("%s holds a %s model, not %s (model.pt says regime %s)", folder,
                        saved["regime"], folder.name, saved["regime"])  # fmt: skip
        devices.prepare()
        try:
            model = FoldModel.from_saved(saved, where, str(path))
        except RuntimeError as exc:  # a state dict of another network
            raise ModelError(folder, f"weights do not fit the network: {exc}") from None
        log.info("model %s: regime %s, seed %s, %d emotions, %g s crop, %s front end, on %s",
                 folder, saved["regime"], saved["seed"], len(saved["emotions"]),
                 model.max_frames / model.frames.frames_per_second,
                 frontend_of(saved["features"]), where)  # fmt: skip
        return cls(model, saved, where, given, ssl_model)

    @cached_property
    def frontend(self) -> FrontEnd:
        """What makes this model's frames from audio, checked on first use (for an SSL front
        end: its model folder found and hashed), so that ``export``, which needs no audio,
        needs no SSL model either."""
        return from_record(self.record, self.ssl_model, self.device, f"{self.folder}'s features")

    @property
    def about(self) -> dict[str, str]:
        """What an output records of the model that made it."""
        return {"model": str(self.folder), "regime": self.regime}

    def frames(self, window_s: float | None, hop_s: float | None) -> tuple[int, int | None]:
        """``window_s`` and ``hop_s`` (seconds) as frames, checked: a window from one frame
        to the model's crop (the network never sees more at once), a hop from one frame
        hop (10 ms; 20 ms on an SSL front end) to the window (a longer hop would leave audio
        unscored). Neither given:
        the crop and no hop, the middle crop as in evaluation (:func:`windows`)."""
        spec = self.spec
        if window_s is None and hop_s is None:
            return spec.frames_in(self.window_s), None
        window = _number(self.window_s if window_s is None else window_s)
        hop = window if hop_s is None else _number(hop_s)
        frame_s, hop_min = spec.window / SAMPLE_RATE, 1 / spec.frames_per_second
        if not frame_s <= window <= self.window_s + 1e-9:  # False for NaN
            raise ConfigError(
                f"window {window!r} s: expected {frame_s:g} s (one frame) to {self.window_s:g} "
                "s, the crop this model was trained on (it sees no more at once)"
            )  # fmt: skip
        if not hop_min <= hop <= window:
            raise ConfigError(
                f"hop {hop!r} s: expected {hop_min:g} s (one frame hop) to the "
                f"window ({window:g} s); a longer hop would leave audio unscored"
            )  # fmt: skip
        return spec.frames_in(window), spec.frames_in(hop)

    def predict(self, sources: Any, **options: Any) -> pd.DataFrame:
        """Emotion probabilities per window and per recording (``window == -1``).

        ``sources``: a path, a list of paths, folders and CSV manifests, an
        :class:`AudioSources`, or a numpy array of samples with ``sample_rate=`` (float in
        [-1, 1], or int8/int16/int32 PCM scaled as soundfile scales it; 1-D, or 2-D as
        (samples, channels) or (channels, samples)). Options: ``window_s``, ``hop_s``
        (seconds; neither: the middle crop, as evaluation), ``n_jobs`` (feature workers),
        ``skip_bad`` (score the good files, list the bad in the log; otherwise a bad file is
        an error and nothing is scored),
        ``allow_low_rate`` (score audio below 16 kHz, flagged), ``progress``.
        """
        scored = self.score(sources, **options)
        table = scored.table.copy()
        for k, name in enumerate(self.emotions):
            table[f"prob_{name}"] = scored.probs[:, k].astype(np.float32)
        table["predicted"] = [self.emotions[i] for i in scored.probs.argmax(axis=1)]
        return self._finish(table)

    def embed(self, sources: Any, **options: Any) -> pd.DataFrame:
        """The embedding v per window and per recording (``window == -1``), as ``predict``."""
        scored = self.score(sources, **options)
        table = scored.table.copy()
        table["v"] = list(scored.embeddings.astype(np.float32))
        return self._finish(table)

    def _finish(self, table: pd.DataFrame) -> pd.DataFrame:
        """The regime and the flags last: what made each row and what to doubt in it."""
        table["regime"] = self.regime
        return table[[c for c in table.columns if c != "flags"] + ["flags"]]

    def score(
        self, sources: Any, *, sample_rate: float | None = None, window_s: float | None = None,
        hop_s: float | None = None, n_jobs: int = 1, skip_bad: bool = False,
        allow_low_rate: bool = False, progress: bool = True,
    ) -> Scored:  # fmt: skip
        """Every window of every recording through the network; see :meth:`predict`."""
        width, hop = self.frames(window_s, hop_s)
        if isinstance(sources, np.ndarray):
            recordings: Iterator[Recording] = iter(
                [self._array(sources, sample_rate, allow_low_rate)]
            )
            named = "the samples given"
        else:
            if not isinstance(sources, AudioSources):
                paths = [sources] if isinstance(sources, str | Path) else list(sources)
                sources = AudioSources.gather(paths)
            recordings = self._files(sources, n_jobs, skip_bad, allow_low_rate, progress)
            named = _common_folder(sources.segments) or "the audio given"
        parts = [self._score_chunk(chunk, width, hop) for chunk in _chunks(recordings, 64)]
        if not parts:
            raise CorpusError(named, "no audio to score")
        return Scored(
            table=pd.concat([p.table for p in parts], ignore_index=True),
            probs=np.concatenate([p.probs for p in parts]),
            embeddings=np.concatenate([p.embeddings for p in parts]),
        )

    def _array(self, audio: np.ndarray, sample_rate: float | None, allow_low_rate: bool
               ) -> Recording:  # fmt: skip
        if sample_rate is None or not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"scoring samples needs their sample_rate= (> 0), got {sample_rate}")
        native = Native(float_samples(audio), int(sample_rate))
        if not np.isfinite(native.samples).all():
            raise CorpusError("<samples>", "NaN or infinite samples")
        if below_model_rate(sample_rate) and not allow_low_rate:
            raise CorpusError("<samples>", f"sample rate {sample_rate:g} Hz: {LOW_RATE}")
        if len(native.samples) / sample_rate < FRAME_S:
            raise CorpusError("<samples>", f"shorter than one frame ({FRAME_S:g} s)")
        features, seconds, judged = features_of(native, self.frontend)
        if judged.flags:
            log.warning("<samples>: %s", judged.message)
        return Segment("<samples>"), features, seconds, judged

    def _files(
        self, sources: AudioSources, n_jobs: int, skip_bad: bool, allow_low_rate: bool,
        progress: bool,
    ) -> Iterator[Recording]:  # fmt: skip
        """Every good segment's features, extracted in parallel, in order.

        Bad files and rows are found first, all of them, from the manifests and the files'
        headers: one error lists them (nothing is scored), or with ``skip_bad`` one warning
        does. A file that then fails to decode midway is an error too, or skipped.
        """
        infos, bad = inspect_audio(s.path for s in sources.segments)
        bad = {**{k: list(v) for k, v in sources.problems.items()}, **bad}
        good: list[Segment] = []
        for segment in sources.segments:
            info = infos.get(segment.path)
            if info is None:
                continue
            try:
                end = fit_to_file(segment.path, segment.start_s, info.duration_s
                                  if segment.end_s is None else segment.end_s,
                                  info.duration_s)  # fmt: skip
            except ValueError as exc:
                bad.setdefault(BAD_ROWS, []).append(f"{segment.where}: {exc}")
                continue
            if (end - segment.start_s) * SAMPLE_RATE < WINDOW:
                bad.setdefault(SHORTER_THAN_A_FRAME, []).append(
                    f"{segment.named} [{segment.start_s}, {end:g})"
                )
            elif below_model_rate(info.samplerate) and not allow_low_rate:
                bad.setdefault(LOW_RATE, []).append(f"{segment.named} ({info.samplerate} Hz)")
            else:
                good.append(Segment(segment.path, segment.start_s, end, segment.where))
        if bad:
            message = "cannot score:\n" + describe(bad)
            if not skip_bad:
                raise CorpusError(_common_folder(sources.segments) or "the audio given",
                                  f"{message}\nnothing was scored (--skip-bad scores the "
                                  "others)")  # fmt: skip
            log.warning("%s\nskipped; scoring the others", message)
        rows = [(i, s.path, s.start_s, s.end_s) for i, s in enumerate(good)]
        chunks = [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]
        tasks = (delayed(featurize_judged)(chunk, self.frontend, skip_bad) for chunk in chunks)
        jobs = workers(self.frontend, n_jobs)
        results = parallel(jobs, return_as="generator", pre_dispatch="2*n_jobs")(tasks)
        failed = []
        with tqdm(total=len(good), desc="audio", unit="file", disable=not progress) as bar:
            for result in results:
                for index, features, seconds, judged in result:
                    segment = good[index]
                    if isinstance(judged, str):
                        failed.append(judged)
                        continue
                    if judged.flags:
                        log.warning("%s: %s", segment.named, judged.message)
                    yield segment, features, seconds, judged
                bar.update(len(result))
        if failed:
            log.warning("cannot score:\n%s\nskipped", describe({FAILED: failed}))

    def _score_chunk(self, recordings: list[Recording], width: int, hop: int | None) -> Scored:
        """The windows of some recordings through the network, in one frame store; then
        each recording's rows: its windows, and their mean."""
        plan, pieces = [], []
        for segment, features, seconds, judged in recordings:
            spans = [(k, a, b, len(pieces) + k)
                     for k, (a, b) in enumerate(windows(len(features), width, hop))]  # fmt: skip
            pieces += [features[a:b] for _, a, b, _ in spans]
            plan.append((segment, seconds, judged, spans))
        counts = np.array([len(p) for p in pieces])
        store = FrameStore.combine(
            Features(
                utt_ids=np.arange(len(pieces)).astype(str).astype(object),
                speeds=np.ones(len(pieces), np.float32),
                offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
                # at the precision the training features were stored at, as evaluation reads
                frames=np.concatenate(pieces).astype(value_type(self.record), copy=False),
                metadata=self.record,
            )
        )
        probs, v = self.model.predict(DeviceFrames(store, self.device), np.arange(len(pieces)))
        rows, p_rows, v_rows = [], [], []
        for segment, seconds, judged, spans in plan:
            end = segment.start_s + seconds
            for k, a, b, i in spans:
                start = segment.start_s + a / self.spec.frames_per_second
                rows.append((segment.path, start, min(segment.start_s + self.spec.seconds(b), end),
                             k, judged.column))  # fmt: skip
                p_rows.append(probs[i])
                v_rows.append(v[i])
            members = [i for *_, i in spans]
            rows.append((segment.path, segment.start_s, end, MEAN, judged.column))
            p_rows.append(probs[members].mean(axis=0))
            v_rows.append(v[members].mean(axis=0))
        table = pd.DataFrame(rows, columns=[*LEAD_COLUMNS, "flags"])
        return Scored(table, np.stack(p_rows), np.stack(v_rows))

    def export_onnx(self, target: str | Path) -> float:
        """The encoder and emotion head, standardization included, as ONNX, checked against
        torch with onnxruntime; returns the largest difference found. ``target`` passes
        :func:`pipeline.inference.user_output.check_output` first: never a folder, a model file or a
        file ``menan`` did not write."""
        from pipeline.inference.onnx_export import export

        check_output(Path(target), "export", model=self.given)
        return export(self.model, Path(target), self.about)


def _check_saved(saved: dict[str, Any], path: Path) -> None:
    """A ``model.pt``'s content by the rules training wrote it under; a ModelError naming
    the file and the first thing wrong."""
    try:
        validate_as(RunSettings, saved["config"], f"{path} config")
    except ConfigError as exc:
        raise ModelError(path, f"stored settings are not valid ({exc})") from None
    features = saved["features"]
    ssl_model = frontend_of(features) != PAPER43
    if saved["format"] != model_format(features, saved.get("erasure")):
        raise ModelError(path, f"format {saved['format']} with {frontend_of(features)} features: "
                         "written by no version of this pipeline")  # fmt: skip
    if ssl_model:
        missing = [key for key in SSL_KEYS if key not in features]
        if missing or not isinstance(features.get("layers"), list):
            raise ModelError(path, f"its SSL features record lacks {missing or ['layers']}")
        expected = features  # its weights are checked against the SSL model when it is found
    else:
        try:
            expected = settings(PitchRange(saved["features"]["f0_min_hz"],
                                           saved["features"]["f0_max_hz"]))  # fmt: skip
        except ConfigError as exc:
            raise ModelError(path, f"its pitch range cannot be used ({exc})") from None
    if saved["features"] != expected:
        raise ModelError(
            path, f"trained on other features ({saved['features']}); this pipeline makes "
            f"{expected}"
        )  # fmt: skip
    if saved["regime"] not in REGIMES:
        raise ModelError(path, f"regime {saved['regime']!r} is none of {', '.join(REGIMES)}")
    for name in ("mean", "std"):
        value = saved[name]
        if not (isinstance(value, torch.Tensor) and torch.isfinite(value).all()):
            raise ModelError(path, f"its standardization {name} is not finite: a broken model")
    if not (saved["std"] > 0).all():
        raise ModelError(path, "its standardization std is not positive: a broken model")
    for name, tensor in saved["state_dict"].items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ModelError(path, f"weights {name} hold NaN or infinite values: a broken model")


def float_samples(audio: np.ndarray) -> np.ndarray:
    """Samples in memory as (samples, channels) float32 in [-1, 1], the way soundfile reads
    a file: float stays, int8/int16/int32 PCM is divided by 2^(bits-1); a 2-D array with
    at most MAX_CHANNELS rows and more columns is (channels, samples) and is transposed."""
    audio = np.asarray(audio)
    if audio.dtype.kind == "f":
        samples = audio.astype(np.float32)
    elif audio.dtype in PCM_SCALE:
        samples = (audio / PCM_SCALE[audio.dtype]).astype(np.float32)
    else:
        raise ValueError(f"samples of dtype {audio.dtype}: expected float in [-1, 1] or int8, "
                         "int16 or int32 PCM")  # fmt: skip
    if samples.ndim == 1:
        return samples[:, None]
    if samples.ndim == 2:
        rows, cols = samples.shape
        if cols <= MAX_CHANNELS and rows > cols:
            return samples
        if rows <= MAX_CHANNELS and cols > rows:
            return np.ascontiguousarray(samples.T)
    raise ValueError(f"samples of shape {audio.shape}: expected (samples,), (samples, channels) "
                     f"or (channels, samples) with at most {MAX_CHANNELS} channels")  # fmt: skip


def _number(value: Any) -> float:
    """A window or hop in seconds as a float; NaN (refused by the range checks) if it is none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _common_folder(segments: list[Segment]) -> str | None:
    """What a grouped error names: the one folder all files lie in, else None."""
    folders = {str(Path(s.path).parent) for s in segments}
    return folders.pop() if len(folders) == 1 else None
