"""What the tests share: paths, params files, small corpora in real layouts, toy features,
training and DVC projects, the README's commands. Fixtures are in ``conftest.py``; no test
module imports another.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import soundfile as sf
import torch
import yaml

from pipeline import EMOTIONS
from pipeline.data.demo.voice import random_speaker, synthesize
from pipeline.data.folds import make_folds
from pipeline.evaluation.probes import HELD_OUT, PROBE_COLUMNS, PROBE_NAMES
from pipeline.features import store as feature_store
from pipeline.features.audio import SAMPLE_RATE
from pipeline.features.spec import (
    PitchRange,
    settings,
)
from pipeline.features.store import Features
from pipeline.params import EvaluateSettings
from pipeline.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


TINY_DEMO: dict[str, Any] = {
    "seed": 7,
    "iemocap": {
        "utterances_per_speaker": 6,
        "mean_seconds": 1.2,
        "long_utterances": 1,
        "short_utterances": 2,
    },
    "mosei": {"videos": 4, "segments_per_video": 3, "mean_seconds": 1.2},
}


TINY_SSL = {
    "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 32, "conv_dim": (8,) * 7, "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}  # fmt: skip
"""A self-supervised model's config at toy size: the real convolution strides and kernels
(20 ms frames of 25 ms), two transformer layers of 16 (three hidden states)."""


def tiny_ssl_model(folder: Path, kind: str = "wavlm", seed: int = 0, **config: Any) -> Path:
    """A randomly initialised WavLM, HuBERT or wav2vec 2.0 saved as Hugging Face saves one
    (config, safetensors weights, the feature extractor's preprocessor config): the real
    loading code runs on it, and nothing is downloaded."""
    import transformers

    classes = {"wavlm": ("WavLMConfig", "WavLMModel"), "hubert": ("HubertConfig", "HubertModel"),
               "wav2vec2": ("Wav2Vec2Config", "Wav2Vec2Model")}  # fmt: skip
    config_class, model_class = (getattr(transformers, name) for name in classes[kind])
    torch.manual_seed(seed)
    model = model_class(config_class(**{**TINY_SSL, **config}))
    model.save_pretrained(folder)
    extractor = transformers.Wav2Vec2FeatureExtractor(sampling_rate=16_000, do_normalize=True)
    extractor.save_pretrained(folder)
    return folder


def write_frontend(folder: Path) -> Path:
    """``frontend.json`` as the ``frontend`` stage writes it for the default ``paper43``."""
    path = folder / "frontend.json"
    path.write_text(json.dumps(settings(PitchRange()), sort_keys=True))
    return path


def write_tone(path: Path, seconds: float, sample_rate: int = 16_000, f0: float = 150.0) -> Path:
    """A short harmonic tone, enough for a valid, non-empty WAV."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(2 * np.pi * f0 * t), sample_rate, subtype="PCM_16")
    return path


def tree_digest(root: Path) -> dict[str, str]:
    """Path -> content hash of every file below root, to prove a folder was not touched."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def project_params(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project's own params.yaml with ``changes``: every stage checks the whole file."""
    return merged(yaml.safe_load((REPO / "params.yaml").read_text()), changes or {})


def write_params(folder: Path, changes: dict[str, Any] | None = None) -> Path:
    """The project's params.yaml with ``changes``, computing on the CPU unless they say."""
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(project_params({"device": "cpu", **(changes or {})})))
    return path


README = REPO / "README.md"


def blocks() -> dict[str, list[str]]:
    """Section heading -> the commands of its ``bash`` blocks as written (continuations
    joined, trailing ``  # comments`` dropped)."""
    found: dict[str, list[str]] = {}
    section = ""
    for part in re.split(r"^(## .*)$", README.read_text(), flags=re.MULTILINE):
        if part.startswith("## "):
            section = part[3:].strip()
            continue
        for block in re.findall(r"```bash\n(.*?)```", part, flags=re.DOTALL):
            joined = re.sub(r"\\\n\s*", "", block)
            commands = [re.sub(r"\s+# .*$", "", line).strip() for line in joined.splitlines()]
            found.setdefault(section, []).extend(c for c in commands if c)
    return found


def exp_run_settings(command: str) -> dict[str, str]:
    """The ``-S key=value`` options of a `dvc exp run` command."""
    words = shlex.split(command)
    return dict(words[i + 1].split("=", 1) for i, w in enumerate(words) if w == "-S")


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
    from pipeline.data.corpora.emodb import EMOTIONS, GENDERS

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
    from pipeline.data.corpora.ravdess import EMOTIONS

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
    from pipeline.data.corpora.crema_d import EMOTIONS

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


IEMOCAP_BLOCK = (
    "[{s:.4f} - {e:.4f}]\t{utt}\t{label}\t[2.5000, 2.5000, 2.5000]\n"
    "C-E2:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
)


def make_session(root: Path, dialog: str, turns: list[tuple[str, str]], session: int = 1) -> None:
    """Write one dialog's EmoEvaluation file and a WAV per turn, in the real layout."""
    lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"]
    for k, (utt, label) in enumerate(turns):
        lines.append(IEMOCAP_BLOCK.format(s=k * 2.0, e=k * 2.0 + 1.5, utt=utt, label=label))
        write_tone(root / f"Session{session}" / "sentences" / "wav" / dialog / f"{utt}.wav", 0.5)
    folder = root / f"Session{session}" / "dialog" / "EmoEvaluation"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{dialog}.txt").write_text("".join(lines))


def glide(
    f_start: float, f_end: float, seconds: float, harmonics: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """A voiced-like harmonic signal whose f0 glides linearly; returns (audio, f0 per sample)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = f_start + (f_end - f_start) * t / seconds
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    audio = sum(0.3 / k * np.sin(k * phase) for k in range(1, harmonics + 1))
    return audio.astype(np.float32), f0


TOY_SPEAKERS = [f"Ses{s:02d}{g}" for s in range(1, 6) for g in "FM"]


def toy_corpus(per_speaker: int = 8, seed: int = 0) -> tuple[pd.DataFrame, Features, Features]:
    """Features where the emotion shifts channels 0-3 and the speaker shifts channels 10-19."""
    rng = np.random.default_rng(seed)
    rows, originals, copies = [], [], []
    for k, speaker in enumerate(TOY_SPEAKERS):
        for i in range(per_speaker):
            label = EMOTIONS[i % 4]
            utt = f"{speaker}_u{i:02d}"
            rows.append({"utt_id": utt, "speaker": speaker, "session": speaker[:5], "label": label})
            frames = rng.standard_normal((int(rng.integers(20, 90)), 43)).astype(np.float32)
            frames[:, EMOTIONS.index(label)] += 2.5
            frames[:, 10 + k] += 1.5
            originals.append((utt, 1.0, frames))
            copies.append((utt, 1.1, frames[::2] + 0.1))
    return pd.DataFrame(rows), toy_features(originals), toy_features(copies)


@contextmanager
def host_copies() -> Iterator[list[str]]:
    """Records every host-to-device style copy, which a training step must never make:
    ``from_numpy``, ``.to(<device>)``, ``.cuda()``."""
    seen: list[str] = []
    real_to, real_from_numpy = torch.Tensor.to, torch.from_numpy

    def to(self, *args, **kwargs):
        target = kwargs.get("device", args[0] if args else None)
        if isinstance(target, str | torch.device):
            seen.append(f".to({target})")
        return real_to(self, *args, **kwargs)

    def from_numpy(array):
        seen.append("from_numpy")
        return real_from_numpy(array)

    torch.Tensor.to, torch.from_numpy = to, from_numpy
    try:
        yield seen
    finally:
        torch.Tensor.to, torch.from_numpy = real_to, real_from_numpy


def toy_features(items: list[tuple[str, float, np.ndarray]]) -> Features:
    counts = [len(f) for _, _, f in items]
    return Features(
        utt_ids=np.array([u for u, _, _ in items], dtype=object),
        speeds=np.array([s for _, s, _ in items], dtype=np.float32),
        offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
        frames=np.concatenate([f for _, _, f in items]),
    )


def toy_config(**overrides) -> TrainConfig:
    base = {
        "seeds": [3], "epochs": 4, "batch_size": 16, "lr": 3e-3, "lr_decay_power": 1.0,
        "max_seconds": 0.5, "embedding": "pooled", "selection": "best_val_ua",
        "menan_sc_steps": 1, "pack": 5, "folds": "all", "probe_holdout": 0, "device": "cpu",
        "lam": 0.5,
    }  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def write_stage_inputs(tmp: Path, per_speaker: int = 4) -> tuple[Path, list[Path], Path]:
    labels, originals, copies = toy_corpus(per_speaker=per_speaker)
    labels["correct"] = labels["label"].map(lambda x: [x])
    labels_path = tmp / "labels.parquet"
    labels.to_parquet(labels_path)
    paths = []
    for name, table in (("f", originals), ("s", copies)):
        path = tmp / f"{name}.parquet"
        with feature_store.feature_writer(path, settings(PitchRange())) as writer:
            for i in range(len(table)):
                writer.add(str(table.utt_ids[i]), float(table.speeds[i]), table.utterance(i))
        paths.append(path)
    folds_path = tmp / "folds.json"
    folds_path.write_text(json.dumps(make_folds(labels)))
    return labels_path, paths, folds_path


TRAIN = {
    "seeds": [1], "epochs": 1, "batch_size": 16, "lr": 1e-3, "lr_decay_power": 1.0,
    "max_seconds": 0.3, "embedding": "pooled", "selection": "best_val_ua",
    "menan_sc_steps": 1, "pack": 2, "folds": [0, 3], "probe_holdout": 0,
}  # fmt: skip
"""params.yaml ``train`` of the small stage tests."""


def stage_config(lam: float = 0.5, **train) -> TrainConfig:
    """What a training stage resolves from params.yaml with TRAIN (and ``train``) on the CPU."""
    return TrainConfig(**{**TRAIN, **train}, lam=lam, device="cpu")


EVAL_SETTINGS = EvaluateSettings(probe_splits=2, seed=0, equivalence_margin=5)


def fold_row(fold: int, seed: int, **scores) -> dict:
    base = dict.fromkeys(("wa_val", "wa_test", "wa_delta", "ua_val", "ua_test", "ua_delta"), 1.0)
    probes = {f"probe_{k}": 50.0 for k in PROBE_COLUMNS if not k.startswith(HELD_OUT)}
    chances = {f"probe_{k}_chance": 25.0 for k in PROBE_NAMES}
    sizes = {f"probe_{k}_{n}": 10 for k in PROBE_NAMES for n in ("n", "classes", "dropped")}
    controls = {f"control_{k}": 80.0 for k in PROBE_COLUMNS if not k.startswith(HELD_OUT)}
    control_chances = {f"control_{k}_chance": 25.0 for k in PROBE_NAMES}
    return {"fold": fold, "seed": seed, "session": f"S{fold // 2}", "cross_corpus": 30.0,
            "n_train": 8, "n_held_out": 2, **base, **probes, **chances, **sizes, **controls,
            **control_chances, **scores}  # fmt: skip


EPOCHS = 8


def start_train_stage(root: Path) -> subprocess.Popen:
    args = ["menan", "labels.parquet", "f.parquet", "s.parquet", "folds.json", "out", "plot.json"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "stages.train", *args],
        cwd=root, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stage_project(
    root: Path, n_jobs: int = 1, pack: int = 2, seconds: float = 1.0, folds: int = 3
) -> Path:
    """A training stage's inputs: 10 speakers, 8 utterances each, the first ``folds`` folds.

    At 4 s crops a pack's floats depend on its torch thread count (at 1 s they happen not
    to), so the placement tests use those.
    """
    root.mkdir()
    write_stage_inputs(root, per_speaker=8)
    train = {**TRAIN, "epochs": EPOCHS, "max_seconds": seconds, "folds": list(range(folds)),
             "pack": pack}  # fmt: skip
    write_params(root, {"n_jobs": n_jobs, "lambda": 0.5, "train": train})
    return root


def assert_same_stage_outputs(one: Path, other: Path, runs: int = 3) -> None:
    """Two projects' training stage outputs are equal, bit for bit (weights included)."""
    found = sorted(p.relative_to(one / "out") for p in (one / "out").glob("fold*/seed*"))
    assert len(found) == runs
    assert found == sorted(p.relative_to(other / "out") for p in (other / "out").glob("*/*"))
    for run in found:
        a, b = one / "out" / run, other / "out" / run
        for name in ("predictions.parquet", "embeddings.npz", "curve.json", "fold.json"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), (run, name)
        model_a, model_b = (torch.load(p / "model.pt", weights_only=True) for p in (a, b))
        for key, tensor in model_a["state_dict"].items():
            assert torch.equal(tensor, model_b["state_dict"][key])
    assert (one / "plot.json").read_bytes() == (other / "plot.json").read_bytes()


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from any of its threads)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


STAGE_ARGS = ["menan", "labels.parquet", "f.parquet", "s.parquet", "folds.json", "out", "plot.json"]


BIN = Path(sys.executable).parent


OUTPUTS = ("data/", "metrics/", "plots/", "reports/", "models/")  # the pipeline writes them
SOURCES = ("models/ssl/",)  # ... except the SSL model folder's README, a dependency


def copy_project(dest: Path, keep_lock: bool = False) -> None:
    """The project's files (tracked and untracked, not ignored) without the pipeline's outputs
    and, unless ``keep_lock``, without ``dvc.lock``."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = REPO / name
        output = name.startswith(OUTPUTS) and not name.startswith(SOURCES)
        if source.is_file() and not output and (keep_lock or name != "dvc.lock"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def demo_project(root: Path, changes: dict[str, Any]) -> Path:
    """A throw-away git repo at ``root`` holding the project without its outputs, with
    ``changes`` merged into params.yaml, committed: where the DVC tests run ``dvc``."""
    copy_project(root)
    params = merged(yaml.safe_load((root / "params.yaml").read_text()), changes)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "test project")
    return root


def dvc_env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(root.parent / f"{root.name}.dvc-site-cache"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }  # fmt: skip


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=dvc_env(root), check=True)


def dvc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(BIN / "dvc"), *args], cwd=root, env=dvc_env(root), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


class Interrupted(Exception):
    """A training a test stopped on purpose (:func:`stop_at`)."""


def stop_at(text: str) -> Callable[[str, int, list], None]:
    """A training progress report that stops training (raises :class:`Interrupted`) at the
    first log line containing ``text``, e.g. ``"epoch 2/3"``: a crash mid-training."""

    def report(line: str, done: int, rows: list) -> None:
        if text in line:
            raise Interrupted

    return report
