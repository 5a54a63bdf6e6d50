"""Small copies of EmoDB, RAVDESS, CREMA-D and MSP-Podcast in their real on-disk layouts.

Real file names and label files in their real columns, with a short synthetic voice per
recording (the demo's source-filter voice, so emotion and speaker are learnable). Each
writer returns what it wrote, by the reader's classes, so tests compare the readers with it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from pipeline.demo.voice import random_speaker, synthesize

STYLE = {"anger": "ang", "angry": "ang", "ANG": "ang", "happiness": "hap", "happy": "hap",
         "HAP": "hap", "neutral": "neu", "NEU": "neu", "calm": "neu", "sadness": "sad",
         "sad": "sad", "SAD": "sad", "boredom": "oth", "disgust": "dis", "DIS": "dis",
         "fear": "fea", "fearful": "fea", "surprised": "sur", "surprise": "sur",
         "contempt": "dis"}  # fmt: skip
"""The demo voice's style for each corpus class name."""


def _voice(path: Path, seed: int, speaker: Any, emotion: str, seconds: float,
           rate: int = 16_000) -> None:  # fmt: skip
    audio = synthesize(np.random.default_rng(seed), speaker, STYLE[emotion], seconds, rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, rate, subtype="PCM_16")


def add_copy_debris(folder: Path, beside: str) -> int:
    """What a copy made on a Mac or Windows leaves in ``folder``: an AppleDouble file beside
    ``beside``, ``.DS_Store`` and ``Thumbs.db``. Returns how many files it wrote."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"._{beside}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    return 3


def upper_case_suffix(path: Path) -> Path:
    """Rename ``x.wav`` to ``x.WAV``, as some archives and Windows tools leave it."""
    return path.rename(path.with_suffix(path.suffix.upper()))


def _speaker(seed: int, name: str, gender: str) -> Any:
    return random_speaker(np.random.default_rng([seed, len(name), *map(ord, name)]), name, gender)


def write_emodb(root: Path, seconds: float = 1.0) -> dict[str, Any]:
    """The ten speakers, texts a01 and a02, every emotion letter but E (disgust) once."""
    from pipeline.corpora.emodb import EMOTIONS, GENDERS

    counts: Counter[str] = Counter()
    for i, (speaker, gender) in enumerate(GENDERS.items()):
        voice = _speaker(1, speaker, gender)
        for text in ("a01", "a02"):
            for letter, emotion in EMOTIONS.items():
                if letter == "E":
                    continue
                _voice(root / "wav" / f"{speaker}{text}{letter}a.wav", i * 100 + len(counts),
                       voice, emotion, seconds)  # fmt: skip
                counts[emotion] += 1
    upper_case_suffix(root / "wav" / "03a01Fa.wav")
    debris = add_copy_debris(root / "wav", "03a01Fa.wav")
    (root / "wav" / "old").mkdir()  # an earlier copy kept in a subfolder: counted, not read
    (root / "wav" / "old" / "03a01Wa.wav").write_bytes((root / "wav" / "03a01Wa.wav").read_bytes())
    return {"classes": dict(counts), "speakers": len(GENDERS), "files": sum(counts.values()),
            "debris": debris}  # fmt: skip


def write_ravdess(root: Path, actors: int = 24, seconds: float = 1.0) -> dict[str, Any]:
    """Per actor: the eight emotions once (speech, audio-only), one song file and one
    audio-video file, which the reader must skip."""
    from pipeline.corpora.ravdess import EMOTIONS

    counts: Counter[str] = Counter()
    for actor in range(1, actors + 1):
        folder = root / f"Actor_{actor:02d}"
        voice = _speaker(2, folder.name, "M" if actor % 2 else "F")
        for code, emotion in EMOTIONS.items():
            name = f"03-01-{code}-01-01-01-{actor:02d}.wav"
            _voice(folder / name, actor * 10 + int(code), voice, emotion, seconds, 48_000)
            counts[emotion] += 1
        _voice(folder / f"03-02-03-01-01-01-{actor:02d}.wav", actor, voice, "happy", 0.5)
        (folder / f"01-01-05-02-02-02-{actor:02d}.mp4").write_bytes(b"not audio")
    upper_case_suffix(root / "Actor_01" / "03-01-01-01-01-01-01.wav")
    debris = add_copy_debris(root / "Actor_03", "03-01-05-01-01-01-03.wav")
    return {"classes": dict(counts), "speakers": actors, "song": actors, "video": actors,
            "debris": debris}  # fmt: skip


def write_crema_d(root: Path, actors: int = 91, seconds: float = 1.0) -> dict[str, Any]:
    """Actors 1001.. with one clip of ANG, HAP, NEU, SAD and DIS each, and the demographics
    file (48 male, 43 female at full size; here every third actor is female)."""
    from pipeline.corpora.crema_d import EMOTIONS

    counts: Counter[str] = Counter()
    lines = ["ActorID,Age,Sex,Race,Ethnicity"]
    genders: Counter[str] = Counter()
    for i in range(actors):
        actor = str(1001 + i)
        sex = "Female" if i % 3 == 0 else "Male"
        genders[sex] += 1
        lines.append(f"{actor},{30 + i % 40},{sex},Caucasian,Not Hispanic")
        voice = _speaker(3, actor, sex[0])
        for code in ("ANG", "HAP", "NEU", "SAD", "DIS"):
            level = "XX" if code == "NEU" else "HI"
            _voice(root / "AudioWAV" / f"{actor}_DFA_{code}_{level}.wav", i * 7 + len(code),
                   voice, code, seconds)  # fmt: skip
            counts[EMOTIONS[code]] += 1
    (root / "VideoDemographics.csv").write_text("\n".join(lines) + "\n")
    upper_case_suffix(root / "AudioWAV" / "1001_DFA_ANG_HI.wav")
    debris = add_copy_debris(root / "AudioWAV", "1001_DFA_ANG_HI.wav")
    return {"classes": dict(counts), "speakers": actors, "genders": dict(genders),
            "debris": debris}  # fmt: skip


MSP_SPLITS = {"Train": 8, "Development": 3, "Test1": 3}
"""Known speakers per split of the MSP-Podcast fixture."""


def write_msp_podcast(root: Path, seconds: float = 1.0) -> dict[str, Any]:
    """Speakers in Train, Development and Test1, four classes each; plus rows the reader
    drops: an unknown speaker, no-consensus (X) and other (O) classes, a Test2 row."""
    header = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"
    rows, kept = [header], Counter()
    number = 0

    def add(speaker: str, gender: str, code: str, split: str, emotion: str) -> None:
        nonlocal number
        number += 1
        name = f"MSP-PODCAST_{number:04d}_0001.wav"
        voice = _speaker(4, speaker, gender[0] if gender != "Unknown" else "M")
        _voice(root / "Audios" / name, number, voice, emotion, seconds)
        rows.append(f"{name},{code},4.0,4.0,4.0,{speaker},{gender},{split}")

    speaker_id = 100
    for split, speakers in MSP_SPLITS.items():
        for s in range(speakers):
            speaker_id += 1
            gender = "Female" if s % 2 else "Male"
            for code, emotion in (("A", "anger"), ("H", "happiness"), ("N", "neutral"),
                                  ("S", "sadness"), ("U", "surprise")):  # fmt: skip
                add(str(speaker_id), gender, code, split, emotion)
                kept[(split, emotion)] += 1
    add("Unknown", "Unknown", "A", "Train", "anger")
    add("101", "Male", "X", "Train", "neutral")
    add("101", "Male", "O", "Train", "neutral")
    add("999", "Male", "N", "Test2", "neutral")
    labels = root / "Labels" / "labels_consensus.csv"
    labels.parent.mkdir(parents=True, exist_ok=True)
    labels.write_text("\n".join(rows) + "\n")
    add_copy_debris(root / "Audios", "MSP-PODCAST_0001_0001.wav")  # never listed: harmless
    return {"kept": dict(kept), "speakers": sum(MSP_SPLITS.values())}
