"""Using a trained model on audio: the same numbers as evaluation, ONNX equal to torch, every
kind of bad input named in one error, model folders checked, the ``menan`` command, and the
released model of a regime with its card. Real WAVs (the tiny demo corpus and generated
ones), real features, a really trained network."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from pipeline import EMOTIONS
from pipeline.evaluation.regime import summarize
from pipeline.features.audio import load_segment
from pipeline.features.channels import extract
from pipeline.features.frame_cache import open_frames
from pipeline.features.frame_store import FrameStore
from pipeline.features.spec import PitchRange, settings
from pipeline.features.store import Features
from pipeline.inference.emotion_model import MEAN, EmotionModel, windows
from pipeline.inference.onnx_export import Scorer
from pipeline.model import run_files
from pipeline.model.scoring import DeviceFrames
from pipeline.reporting.model_card import render
from pipeline.runtime.errors import CorpusError, ModelError
from pipeline.training.release import EPOCH_RULE, chosen_epochs, train_release
from tests.helpers import (
    EVAL_SETTINGS,
    REPO,
    fold_row,
    toy_config,
    toy_corpus,
    tree_digest,
    write_tone,
)

PROBS = [f"prob_{e}" for e in EMOTIONS]
MENAN = Path(sys.executable).parent / "menan"


def test_predict_gives_the_probabilities_evaluation_scored(trained: dict) -> None:
    """One pipeline, not two: the held-out test speaker's WAVs through `predict` give what
    training wrote for them and evaluation reads (predictions.parquet)."""
    test = trained["result"].predictions.query("split == 'test'")
    paths = trained["labels"].loc[test["utt_id"], "audio_path"].tolist()
    table = EmotionModel.load(trained["run"], "cpu").predict(paths, progress=False)
    assert (table.groupby("path")["window"].max() == 0).all()  # one window each, and a mean
    scored = table[table["window"] == 0].set_index("path").loc[paths]
    np.testing.assert_allclose(scored[PROBS].to_numpy(), test[PROBS].to_numpy(), atol=1e-5)
    assert scored["predicted"].tolist() == test["predicted"].tolist()
    means = table[table["window"] == MEAN].set_index("path").loc[paths]
    np.testing.assert_array_equal(means[PROBS].to_numpy(), scored[PROBS].to_numpy())


def test_predict_scores_a_long_recording_on_the_middle_crop_as_evaluation(
    trained: dict, tmp_path: Path
) -> None:
    """A recording longer than the crop: by default one window, the middle crop, with the
    probabilities evaluation's crop gives (DeviceFrames.crops through FoldModel.predict);
    windows only when asked for."""
    model = EmotionModel.load(trained["run"], "cpu")
    audio = np.concatenate([load_segment(p) for p in trained["labels"]["audio_path"].iloc[:40]])
    long = tmp_path / "long.wav"
    sf.write(long, audio, 16_000, subtype="FLOAT")
    features = extract(load_segment(str(long)), model.frontend.pitch_range)
    assert len(features) > 2 * model.model.max_frames  # far longer than the crop
    store = FrameStore.combine(Features(
        utt_ids=np.array(["long"], dtype=object), speeds=np.ones(1, np.float32),
        offsets=np.array([0, len(features)], np.int64), frames=features,
    ))  # fmt: skip
    evaluated, _ = model.model.predict(DeviceFrames(store, "cpu"), np.array([0]))
    table = model.predict(long, progress=False)
    assert list(table["window"]) == [0, MEAN]
    np.testing.assert_allclose(table[PROBS].to_numpy()[0], evaluated[0], atol=1e-5)
    start = (len(features) - model.model.max_frames) // 2 / 100
    assert table["start_s"].iloc[0] == pytest.approx(start)
    windowed = model.predict(long, window_s=model.window_s, progress=False)
    assert windowed["window"].max() >= 2  # the whole recording, when asked for


def test_onnx_equals_torch_on_real_wavs_of_several_lengths(trained: dict, tmp_path: Path) -> None:
    import onnxruntime

    model = EmotionModel.load(trained["run"], "cpu")
    target = tmp_path / "model.onnx"
    assert model.export_onnx(target) <= 1e-5
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    scorer = Scorer(model.model).eval()
    lengths = trained["labels"]["end_s"] - trained["labels"]["start_s"]
    chosen = [lengths.idxmin(), lengths.sub(lengths.median()).abs().idxmin(), lengths.idxmax()]
    paths = trained["labels"].loc[chosen, "audio_path"].tolist()
    for path in paths:  # the whole recording, at its own length: 0.5 s to 16 s
        frames = torch.from_numpy(extract(load_segment(path), model.frontend.pitch_range))[None]
        probs, v = session.run(None, {"features": frames.numpy()})
        with torch.no_grad():
            ref_probs, ref_v = scorer(frames)
        assert np.abs(probs - ref_probs.numpy()).max() <= 1e-5
        assert np.abs(v - ref_v.numpy()).max() <= 1e-5
    # and one window as `predict` cuts it: the same probabilities
    store = open_frames([trained["tmp"] / "features.parquet"], trained["tmp"] / "cache")
    rows = np.flatnonzero(np.isin(store.utt_ids, chosen))
    crops = DeviceFrames(store, "cpu").crops(torch.from_numpy(rows), model.model.max_frames)
    onnx_probs, _ = session.run(None, {"features": crops.numpy()})
    table = model.predict(trained["labels"].loc[store.utt_ids[rows], "audio_path"].tolist(),
                          progress=False)  # fmt: skip
    np.testing.assert_allclose(table.query("window == 0")[PROBS].to_numpy(), onnx_probs,
                               atol=1e-5)  # fmt: skip


def _audio(folder: Path) -> dict[str, Path]:
    """Good files of every kind the loader takes, and bad ones of every kind it refuses."""
    rng = np.random.default_rng(0)

    def voice(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
        t = np.arange(int(seconds * rate)) / rate
        tone = 0.2 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        tone += 0.01 * rng.standard_normal(len(t))
        return np.stack([tone] * channels, axis=1) if channels > 1 else tone

    folder.mkdir()
    files = {
        "short": write_tone(folder / "short_16k.wav", 0.3),
        "stereo": folder / "stereo_44k.wav",
        "long": folder / "long_22k.flac",
        "broken": folder / "broken.wav",
        "empty": folder / "empty.wav",
        "nan": folder / "nan.wav",
        "tiny": write_tone(folder / "tiny.wav", 0.02),
    }
    sf.write(files["stereo"], voice(2.0, 44_100, 2), 44_100, subtype="PCM_24")
    sf.write(files["long"], voice(60.0, 22_050), 22_050)
    files["broken"].write_bytes(b"RIFF\x00\x01\x00\x00WAVEjunk" + bytes(100))
    sf.write(files["empty"], np.zeros(0), 16_000)
    sf.write(files["nan"], np.full(16_000, np.nan), 16_000, subtype="FLOAT")
    return files


def test_bad_files_are_named_together_and_nothing_is_scored(trained: dict, tmp_path: Path) -> None:
    files = _audio(tmp_path / "audio")
    before = tree_digest(tmp_path / "audio")
    model = EmotionModel.load(trained["run"], "cpu")
    with pytest.raises(CorpusError) as caught:
        model.predict(list(map(str, files.values())), progress=False)
    message = str(caught.value)
    for kind, name in (("could not be read", "broken"), ("hold no samples", "empty"),
                       ("NaN or infinite", "nan"), ("shorter than one frame", "tiny")):  # fmt: skip
        assert kind in message and str(files[name]) in message, message
    assert "nothing was scored" in message and str(files["short"]) not in message

    table = model.predict([tmp_path / "audio"], skip_bad=True, window_s=4.0, progress=False)
    scored = table.groupby("path")
    assert set(scored.groups) == {str(files[k]) for k in ("short", "stereo", "long")}
    long = table[table["path"] == str(files["long"])]
    # 60 s = 5,997 frames: 14 windows of 4 s, one more flush with the end, then the mean
    assert list(long["window"]) == [*range(15), MEAN]
    assert long["start_s"].iloc[13:15].tolist() == pytest.approx([52.0, 55.97])
    assert long["end_s"].iloc[14] == long["end_s"].iloc[-1] == pytest.approx(60.0)
    mean = long.iloc[-1][PROBS].to_numpy(float)
    np.testing.assert_allclose(mean, long.iloc[:-1][PROBS].to_numpy(float).mean(axis=0), atol=1e-6)
    assert np.allclose(table[PROBS].sum(axis=1), 1, atol=1e-5)
    embedded = model.embed(files["stereo"], progress=False)
    assert [len(v) for v in embedded["v"]] == [96, 96]
    assert tree_digest(tmp_path / "audio") == before  # the user's audio is only read


def test_windows_cover_a_recording_and_end_flush_with_it() -> None:
    assert windows(300, 400, 400) == [(0, 300)]
    assert windows(1000, 400, None) == [(300, 700)]  # no hop: the middle crop
    assert windows(1001, 400, None) == [(300, 700)]  # (n - width) // 2, as DeviceFrames.crops
    assert windows(1000, 400, 400) == [(0, 400), (400, 800), (600, 1000)]
    assert windows(800, 400, 200) == [(0, 400), (200, 600), (400, 800)]


def test_samples_in_memory_score_like_the_same_wav(trained: dict, tmp_path: Path) -> None:
    model = EmotionModel.load(trained["run"], "cpu")
    path = trained["labels"]["audio_path"].iloc[0]
    audio, rate = sf.read(path, dtype="float32")
    from_file = model.predict(path, progress=False)
    from_samples = model.predict(audio, sample_rate=rate, progress=False)
    np.testing.assert_array_equal(from_file[PROBS].to_numpy(), from_samples[PROBS].to_numpy())


class _Planted:
    """An object whose unpickling would write a file: a model.pt must never run it."""

    def __reduce__(self):
        return (Path.write_text, (Path(os.environ["PLANTED"]), "ran"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_model_folder_is_checked_and_never_runs_code(trained: dict, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model.pt in it"):
        EmotionModel.load(tmp_path)
    saved = torch.load(trained["run"] / "model.pt", weights_only=True)
    cases = {
        "old": ({k: v for k, v in saved.items() if k != "format"}, r"no format field"),
        "newer": ({**saved, "format": 4}, r"format 4; this pipeline reads formats \(1, 2, 3\)"),
        "erased, no record": ({**saved, "format": 3}, r"incomplete: missing erasure"),
        "incomplete": ({k: v for k, v in saved.items() if k != "mean"}, r"missing mean"),
        "other_features": ({**saved, "features": {**saved["features"], "hop": 80}},
                           r"trained on other features"),
        "format_2_paper": ({**saved, "format": 2}, r"format 2 with paper43 features"),
        "ssl_incomplete": ({**saved, "format": 2, "features": {"frontend": "ssl"}},
                           r"its SSL features record lacks \['sample_rate'"),
    }  # fmt: skip
    for name, (payload, message) in cases.items():
        (tmp_path / name).mkdir()
        torch.save(payload, tmp_path / name / "model.pt")
        with pytest.raises(ModelError, match=message):
            EmotionModel.load(tmp_path / name)
    planted = tmp_path / "planted.txt"
    os.environ["PLANTED"] = str(planted)
    (tmp_path / "evil").mkdir()
    with (tmp_path / "evil" / "model.pt").open("wb") as handle:
        pickle.dump({"format": 1, "trap": _Planted()}, handle)
    with pytest.raises(ModelError, match=r"not a model file this pipeline can read"):
        EmotionModel.load(tmp_path / "evil")
    assert not planted.exists()


def _menan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([str(MENAN), *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.slow
def test_the_menan_command_predicts_embeds_and_exports(trained: dict, tmp_path: Path) -> None:
    files = _audio(tmp_path / "audio")
    good = [str(files[k]) for k in ("short", "stereo")]
    run = str(trained["run"])
    done = _menan("predict", run, *good, "-o", "p.csv", "--window", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "p.csv")
    assert list(table.columns) == ["path", "start_s", "end_s", "window", *PROBS, "predicted",
                                   "regime", "flags"]  # fmt: skip
    assert set(table["path"]) == set(good)
    done = _menan("embed", run, str(tmp_path / "audio"), "--skip-bad", "-o", "e.parquet",
                  cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "could not be read" in done.stderr  # listed, and the good files scored
    embedded = pd.read_parquet(tmp_path / "e.parquet")
    assert len(embedded["v"].iloc[0]) == 96 and len(set(embedded["path"])) == 3
    done = _menan("export", run, "--onnx", "m.onnx", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "m.onnx").stat().st_size > 10_000, done.stderr

    failed = _menan("predict", run, str(tmp_path / "audio"), "-o", "bad.csv", cwd=tmp_path)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "could not be read" in failed.stderr and "nothing was scored" in failed.stderr
    assert not (tmp_path / "bad.csv").exists()
    missing = _menan("predict", str(tmp_path), good[0], cwd=tmp_path)
    assert missing.returncode == 1 and "no model.pt in it" in missing.stderr


def test_a_released_model_trains_on_every_speaker_for_the_chosen_epochs(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    train_dir = tmp_path / "train"
    for fold, epoch in enumerate((2, 4, 1, 3, 3, 5)):  # lower median: 3
        run = run_files.run_dir(train_dir, fold, 1)
        run.mkdir(parents=True)
        (run / run_files.SUMMARY).write_text(json.dumps({"selected_epoch": epoch}))
    assert chosen_epochs(train_dir) == (3, [1, 2, 3, 3, 4, 5])
    released = train_release(store, labels, "menan", toy_config(epochs=6), train_dir)
    assert released.epochs == 3 and len(released.curve) == 3 and released.seed == 3
    assert released.speakers == sorted(labels["speaker"].unique())
    assert released.state["sc.4.weight"].shape[0] == 10  # a speaker classifier over all 10

    labels = labels.assign(audio_path="data/demo/x.wav", start_s=0.0, end_s=1.5)
    evaluation = summarize([fold_row(f, 1) for f in range(4)], EVAL_SETTINGS)
    settings_ = {"train": toy_config().model_dump(exclude={"lam", "device"}), "lambda": 0.5}
    release = {
        "epochs": released.epochs,
        "rule": EPOCH_RULE,
        "selected": released.selected,
        "curve": released.curve,
    }  # as model.pt records it
    card = render("menan", release, released.seed, settings_, labels, "iemocap", "iemocap",
                  settings(PitchRange()), evaluation, [])  # fmt: skip
    for part in ("# MEnAN: a speech emotion model", "**Epochs: 3**", "lower median",
                 "1, 2, 3 (x2), 4, 5", "**the synthetic demo corpus**", "## Intended use",
                 "| speaker |", "not a proof", "no speed-perturbed copies",
                 "43 channels per 10 ms frame"):  # fmt: skip
        assert part in card, part
