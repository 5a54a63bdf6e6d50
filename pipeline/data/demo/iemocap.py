"""Write a small synthetic IEMOCAP in the real IEMOCAP_full_release layout.

Layout: ``Session{1..5}/sentences/wav/<dialog>/<utt>.wav`` and
``Session{1..5}/dialog/EmoEvaluation/<dialog>.txt`` in the real block format. Each session
has one female and one male actor who both speak in every dialog, impro and script, so the
dialog prefix (``Ses01F``) is *not* the speaker; labels include ``exc`` (merged into hap)
and labels the reader must drop. Durations include some > 14 s and some < 1 s.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from joblib import delayed
from tqdm import tqdm

from pipeline.data.corpora.iemocap import MERGE, wav_path
from pipeline.data.demo.voice import SAMPLE_RATE, Speaker, random_speaker, synthesize
from pipeline.runtime.errors import ConfigError
from pipeline.runtime.workers import parallel

RAW_LABELS = {
    "neu": 0.20, "hap": 0.09, "exc": 0.11, "ang": 0.13, "sad": 0.13,
    "fru": 0.12, "sur": 0.04, "fea": 0.02, "dis": 0.01, "oth": 0.03, "xxx": 0.12,
}  # fmt: skip
"""Raw label mix, roughly IEMOCAP's own: many frustrated and no-agreement (xxx) turns."""

_WORDS = {
    "neu": "Neutral", "hap": "Happiness", "exc": "Excited", "ang": "Anger", "sad": "Sadness",
    "fru": "Frustration", "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "oth": "Other",
}  # fmt: skip
_VAD = {
    "neu": (3.0, 2.5, 2.5), "hap": (4.0, 3.0, 3.0), "exc": (4.0, 3.5, 3.5), "ang": (2.0, 3.5, 4.0),
    "sad": (2.0, 2.0, 2.0), "fru": (2.0, 3.5, 3.5), "sur": (3.5, 4.0, 3.0), "fea": (2.0, 3.5, 2.0),
    "dis": (2.0, 3.0, 3.5), "oth": (3.0, 3.0, 3.0), "xxx": (2.5, 3.0, 3.0),
}  # fmt: skip


@dataclass(frozen=True)
class PlannedUtterance:
    """Everything needed to synthesise and document one turn."""

    index: int
    utt_id: str
    speaker: Speaker
    raw_label: str
    duration_s: float


def _dialogs(session: int) -> list[str]:
    s = f"Ses{session:02d}"
    return [f"{s}F_impro01", f"{s}M_impro02", f"{s}F_script01_1", f"{s}M_script02_2"]


def plan(
    seed: int,
    utterances_per_speaker: int,
    mean_seconds: float,
    long_utterances: int,
    short_utterances: int,
) -> list[PlannedUtterance]:
    """Decide every turn (speaker, label, duration, dialog) from the seed alone."""
    if utterances_per_speaker < 4:
        raise ConfigError("utterances_per_speaker must be >= 4 (one per class for each speaker)")
    rng = np.random.default_rng([seed, 0])
    drafts: list[tuple[Speaker, str, str, float]] = []
    for session in range(1, 6):
        for gender in "FM":
            speaker = random_speaker(rng, f"Ses{session:02d}{gender}", gender)
            labels = ["ang", str(rng.choice(["hap", "exc"])), "neu", "sad"]
            labels += list(
                rng.choice(
                    list(RAW_LABELS),
                    size=utterances_per_speaker - 4,
                    p=np.array(list(RAW_LABELS.values())) / sum(RAW_LABELS.values()),
                )
            )
            for label in rng.permutation(labels):
                dialog = str(rng.choice(_dialogs(session)))
                duration = float(np.clip(rng.lognormal(np.log(mean_seconds), 0.4), 1.0, 12.0))
                drafts.append((speaker, str(label), dialog, duration))
    picks = rng.choice(len(drafts), size=long_utterances + short_utterances, replace=False)
    for rank, i in enumerate(picks):
        speaker, label, dialog, _ = drafts[i]
        duration = rng.uniform(14.5, 16.0) if rank < long_utterances else rng.uniform(0.45, 0.9)
        drafts[i] = (speaker, label, dialog, float(duration))

    numbers: Counter[tuple[str, str]] = Counter()
    planned = []
    for index, (speaker, label, dialog, duration) in enumerate(drafts):
        number = numbers[(dialog, speaker.gender)]
        numbers[(dialog, speaker.gender)] += 1
        utt_id = f"{dialog}_{speaker.gender}{number:03d}"
        planned.append(PlannedUtterance(index, utt_id, speaker, label, duration))
    return planned


def _render(root: Path, seed: int, utt: PlannedUtterance) -> None:
    rng = np.random.default_rng([seed, 1, utt.index])
    audio = synthesize(rng, utt.speaker, utt.raw_label, utt.duration_s)
    path = wav_path(root, utt.utt_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")


def _annotations(rng: np.random.Generator, label: str) -> list[str]:
    """Per-annotator lines as IEMOCAP has them: categorical (C-) then dimensional (A-)."""
    pool = [w for k, w in _WORDS.items() if k not in ("oth",)]
    if label == "xxx":  # no majority: three annotators, three different answers
        words = list(rng.choice(pool, size=3, replace=False))
    else:
        words = [_WORDS[label], _WORDS[label], str(rng.choice(pool))]
    lines = [f"C-E{k}:\t{w};\t()" for k, w in zip((1, 2, 4), words, strict=True)]
    for k in (1, 2):
        v, a, d = (int(np.clip(round(x + rng.normal(0, 0.5)), 1, 5)) for x in _VAD[label])
        lines.append(f"A-E{k}:\tval {v}; act {a}; dom  {d};\t()")
    return lines


def _write_evaluations(root: Path, seed: int, planned: list[PlannedUtterance]) -> None:
    rng = np.random.default_rng([seed, 2])
    by_dialog: dict[str, list[PlannedUtterance]] = {}
    for utt in planned:
        by_dialog.setdefault(utt.utt_id.rsplit("_", 1)[0], []).append(utt)
    for dialog, utts in sorted(by_dialog.items()):
        clock = float(rng.uniform(1.0, 5.0))
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for utt in utts:
            start, end = clock, clock + utt.duration_s
            clock = end + float(rng.uniform(0.2, 2.0))
            v, a, d = _VAD[utt.raw_label]
            vad = f"[{v:.4f}, {a:.4f}, {d:.4f}]"
            lines.append(f"[{start:.4f} - {end:.4f}]\t{utt.utt_id}\t{utt.raw_label}\t{vad}")
            lines += [*_annotations(rng, utt.raw_label), ""]
        folder = root / f"Session{int(dialog[3:5])}" / "dialog" / "EmoEvaluation"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{dialog}.txt").write_text("\n".join(lines) + "\n")


def write(
    root: str | Path,
    seed: int,
    utterances_per_speaker: int,
    mean_seconds: float,
    long_utterances: int,
    short_utterances: int,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Write the corpus under ``root`` and return the truth the readers are tested against."""
    root = Path(root)
    planned = plan(seed, utterances_per_speaker, mean_seconds, long_utterances, short_utterances)
    parallel(n_jobs, batch_size=8)(
        delayed(_render)(root, seed, utt) for utt in tqdm(planned, desc="demo IEMOCAP", unit="utt")
    )
    _write_evaluations(root, seed, planned)
    merged = Counter(MERGE[u.raw_label] for u in planned if u.raw_label in MERGE)
    return {
        "utterances": len(planned),
        "raw_label_counts": dict(sorted(Counter(u.raw_label for u in planned).items())),
        "class_counts": dict(sorted(merged.items())),
        "speakers": {
            spk: dict(
                sorted(
                    Counter(
                        MERGE[u.raw_label]
                        for u in planned
                        if u.speaker.speaker_id == spk and u.raw_label in MERGE
                    ).items()
                )
            )
            for spk in sorted({u.speaker.speaker_id for u in planned})
        },
        "long_utterances": sorted(u.utt_id for u in planned if u.duration_s > 14.0),
        "short_utterances": sorted(u.utt_id for u in planned if u.duration_s < 1.0),
        "seconds": round(sum(u.duration_s for u in planned), 3),
    }
