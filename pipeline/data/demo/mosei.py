"""Write a small synthetic CMU-MOSEI: full-video 16 kHz WAVs plus ``CMU_MOSEI_Labels.csd``.

Each video is one speaker talking in several labelled segments separated by pauses. The
segment kinds cover every rule of the MOSEI reader: one of happy/sad/anger positive,
several positive (multi-label), all six ratings zero (neutral), and only surprise, disgust
or fear positive (dropped).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from joblib import delayed
from tqdm import tqdm

from pipeline.data.corpora.mosei import SDK_COLUMNS, classify, write_csd
from pipeline.data.demo.voice import SAMPLE_RATE, random_speaker, synthesize
from pipeline.data.labels import MOSEI_RATINGS
from pipeline.runtime.errors import ConfigError
from pipeline.runtime.workers import parallel

KINDS = ("single", "multi", "neutral", "other_only")
_KIND_P = (0.45, 0.15, 0.22, 0.18)
_STEPS = np.array([1, 2, 3, 4, 5, 6, 9]) / 3  # MOSEI ratings are means of three 0..3 votes
_ID_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))
_STYLE_OF_OTHER = {"surprise": "sur", "disgust": "dis", "fear": "fea"}


def _ratings(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Seven SDK columns (sentiment first) for a segment of the given kind."""
    row = np.zeros(len(SDK_COLUMNS))
    row[0] = rng.uniform(-3, 3)
    main = [1, 2, 3]  # happy, sad, anger
    other = [4, 5, 6]  # surprise, disgust, fear
    if kind == "single":
        row[rng.choice(main)] = rng.choice(_STEPS)
        if rng.random() < 0.3:
            row[rng.choice(other)] = rng.choice(_STEPS[:3])
    elif kind == "multi":
        for col in rng.choice(main, size=2, replace=False):
            row[col] = rng.choice(_STEPS)
    elif kind == "other_only":
        row[rng.choice(other)] = rng.choice(_STEPS)
    return np.round(row, 6)


def _style(ratings: dict[str, float]) -> str:
    decided = classify(ratings)
    if decided is not None:
        return decided[0]
    return _STYLE_OF_OTHER[max(_STYLE_OF_OTHER, key=lambda name: ratings[name])]


def _render_video(
    wav_dir: Path, seed: int, index: int, vid: str, kinds: list[str], mean_seconds: float
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 11, index])
    speaker = random_speaker(rng, vid, str(rng.choice(["F", "M"])))
    pieces = [1e-4 * rng.standard_normal(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE))]
    clock = len(pieces[0]) / SAMPLE_RATE
    features, intervals = [], []
    for kind in kinds:
        row = _ratings(rng, kind)
        duration = float(np.clip(rng.lognormal(np.log(mean_seconds), 0.35), 1.0, 12.0))
        audio = synthesize(rng, speaker, _style(dict(zip(SDK_COLUMNS, row, strict=True))), duration)
        pieces.append(audio)
        intervals.append((round(clock, 3), round(clock + len(audio) / SAMPLE_RATE, 3)))
        features.append(row)
        gap = 1e-4 * rng.standard_normal(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE))
        pieces.append(gap.astype(np.float32))
        clock += (len(audio) + len(gap)) / SAMPLE_RATE
    sf.write(wav_dir / f"{vid}.wav", np.concatenate(pieces), SAMPLE_RATE, subtype="PCM_16")
    return np.asarray(features), np.asarray(intervals)


def write(
    root: str | Path,
    seed: int,
    videos: int,
    segments_per_video: int,
    mean_seconds: float,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Write the corpus under ``root`` and return the truth the reader is tested against."""
    if videos * segments_per_video < len(KINDS):
        raise ConfigError(f"the MOSEI demo needs at least {len(KINDS)} segments, one per kind")
    root = Path(root)
    wav_dir = root / "Audio" / "Full" / "WAV_16000"
    wav_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 10])
    vids = sorted({"".join(rng.choice(_ID_CHARS, size=11)) for _ in range(videos)})
    kinds = list(rng.choice(KINDS, size=len(vids) * segments_per_video, p=_KIND_P))
    kinds[: len(KINDS)] = KINDS  # every rule is exercised even in the tiniest demo
    per_video = [
        kinds[i * segments_per_video : (i + 1) * segments_per_video] for i in range(len(vids))
    ]
    results = parallel(n_jobs)(
        delayed(_render_video)(wav_dir, seed, i, vid, per_video[i], mean_seconds)
        for i, vid in enumerate(tqdm(vids, desc="demo MOSEI", unit="video"))
    )
    labels = dict(zip(vids, results, strict=True))
    write_csd(root / "CMU_MOSEI_Labels.csd", labels)

    # Counts come from the planned kinds, not from the reader's rules, so tests of the
    # reader against this truth are not circular.
    made = Counter(str(k) for k in kinds)
    decided = [classify(dict(zip(SDK_COLUMNS, r, strict=True))) for f, _ in results for r in f]
    return {
        "videos": len(vids),
        "segments": len(kinds),
        "kept": len(kinds) - made["other_only"],
        "dropped": made["other_only"],
        "multi_label": made["multi"],
        "neutral": made["neutral"],
        "class_counts": dict(sorted(Counter(d[0] for d in decided if d).items())),
        "rating_columns": list(MOSEI_RATINGS),
    }
