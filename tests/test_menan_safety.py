"""``menan`` never destroys what the user owns, checks everything before the work, says in
one line what is wrong, and flags audio the model was not trained for (issue #27).

The data-loss cases run the installed command on real files in a temporary folder and
compare every byte of the user's files before and after; the rest call the same code in
process. The model is a really trained run (``trained`` in conftest)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from pipeline.data.corpora import manifest
from pipeline.features.quality import assess
from pipeline.inference import cli as commands
from pipeline.inference.emotion_model import AudioSources, EmotionModel, float_samples
from pipeline.runtime.errors import ConfigError, CorpusError, ModelError, OutputError
from tests.helpers import REPO, tree_digest, write_tone

MENAN = Path(sys.executable).parent / "menan"
PROBS = ["prob_ang", "prob_hap", "prob_neu", "prob_sad"]


def _menan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([str(MENAN), *args], cwd=cwd, env=env, capture_output=True, text=True)


def _voice(path: Path, seconds: float = 1.5, rate: int = 16_000, channels: int = 1,
           level: float = 0.2, subtype: str = "PCM_16") -> Path:  # fmt: skip
    """A voiced, amplitude-modulated tone: speech-like enough for RAPT and the features."""
    t = np.arange(int(seconds * rate)) / rate
    tone = level * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    tone += 0.005 * np.random.default_rng(1).standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([tone] * channels, axis=1), rate, subtype=subtype)
    return path


@pytest.fixture
def user(tmp_path: Path, trained: dict) -> dict:
    """A user's folder: a copy of the model, some audio, a manifest."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.pt").write_bytes((trained["run"] / "model.pt").read_bytes())
    audio = _voice(tmp_path / "u" / "rec" / "a.wav")
    (tmp_path / "m.csv").write_text("path\nu/rec/a.wav\n")
    return {"root": tmp_path, "model": model, "audio": audio}


def _refused(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("export", "model", "--onnx", "u"), ("u: is a folder",)),  # row 1
        (("export", "model", "--onnx", "model/model.pt"), ("expected a .onnx file name",)),  # 2
        (("predict", "model", "u/rec/a.wav", "-o", "u"), ("is a folder",)),  # row 3
        (("predict", "model", "m.csv", "-o", "m.csv"), ("is an input of this run",)),  # row 4
    ],
)
def test_the_command_never_deletes_or_overwrites_the_users_files(
    user: dict, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    """The issue's data-loss rows, with the installed command: exit 1, one line, and every
    byte of the user's folder as it was."""
    before = tree_digest(user["root"])
    done = _menan(*args, cwd=user["root"])
    _refused(done, *words)
    assert tree_digest(user["root"]) == before  # byte for byte, and nothing added


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("export", "{model}", "--onnx", "u/"), "is a folder"),
        (("export", "{model}", "--onnx", "{model}"), "is a folder"),
        (("export", "{model}", "--onnx", "{model}/x.onnx"), "inside the model folder"),
        (("export", "{model}", "--onnx", "u/rec/a.wav"), "expected a .onnx"),
        (("predict", "{model}", "m.csv", "-o", "./u/../m.csv"), "is an input of this run"),
        (("predict", "{model}", "u/rec/a.wav", "-o", "u/rec/a.wav"), "expected a .csv"),
        (("predict", "{model}", "u", "-o", "{model}/p.csv"), "inside the model folder"),
        (("embed", "{model}", "u", "-o", "e.csv"), "expected a .parquet"),
    ],
)
def test_every_other_users_path_is_refused_too(
    user: dict, args: tuple[str, ...], words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(user["root"])
    before = tree_digest(user["root"])
    with pytest.raises(OutputError, match=words):
        commands.main([a.format(model=user["model"]) for a in args])
    assert tree_digest(user["root"]) == before


def test_an_earlier_output_is_replaced_and_a_file_of_the_users_is_not(
    user: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    root = user["root"]
    monkeypatch.chdir(root)
    (root / "labels.csv").write_text("path,speaker,label\nu/rec/a.wav,s,sad\n")
    (root / "notes.parquet").write_bytes(b"PAR1 not ours")
    with pytest.raises(OutputError, match=r"labels\.csv: exists and is not a menan predict"):
        commands.main(["predict", "model", "u", "-o", "labels.csv"])
    with pytest.raises(OutputError, match="not a menan embed output"):
        commands.main(["embed", "model", "u", "-o", "notes.parquet"])
    assert (root / "labels.csv").read_text().startswith("path,speaker,label")
    for verb, out in (("predict", "p.csv"), ("predict", "p.parquet"), ("embed", "e.parquet")):
        for _ in range(2):  # the second run replaces the first's output: the usual -o habit
            commands.main([verb, "model", "u", "-o", out, "--n-jobs", "1"])
    table = pd.read_csv(root / "p.csv", keep_default_na=False)
    assert set(table["regime"]) == {"ec_only"} and set(table["flags"]) == {""}
    assert "regime ec_only" in caplog.text  # logged too
    with pytest.raises(OutputError, match="not a menan embed output"):
        commands.main(["embed", "model", "u", "-o", "p.parquet"])  # a predict output
    for _ in range(2):
        commands.main(["export", "model", "--onnx", "m.onnx"])
    with pytest.raises(OutputError, match=r"expected a \.csv or \.parquet"):
        commands.main(["predict", "model", "u", "-o", "m.onnx"])


@pytest.mark.parametrize(
    ("argv", "error", "words"),
    [
        (["predict", "{model}", "nowhere.csv"], CorpusError, "nowhere.csv: no such file"),
        (["predict", "{model}", "{audio}", "--window", "0.001"], ConfigError, "window 0.001 s"),
        (["predict", "{model}", "{audio}", "--window", "inf"], ConfigError, "window inf s"),
        (["predict", "{model}", "{audio}", "--window", "nan"], ConfigError, "window nan s"),
        (["predict", "{model}", "{audio}", "--window", "60"], ConfigError, "the crop this model"),
        (["predict", "{model}", "{audio}", "--hop", "0"], ConfigError, "hop 0.0 s"),
        (["predict", "{model}", "{audio}", "--device", "gpu0"], ConfigError, "expected auto, cpu"),
        (["predict", "{model}", "{audio}", "-o", "/proc/p.csv"], OutputError, "not writable"),
        (["predict", "{model}", "{audio}", "-o", "{audio}/p.csv"], OutputError, "is a file"),
        (["export", "{model}", "--onnx", "/proc/m.onnx"], OutputError, "not writable"),
    ],
)
def test_bad_options_and_outputs_are_one_line_before_any_work(
    user: dict, argv: list[str], error: type, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("audio was scored before the check")

    monkeypatch.setattr(EmotionModel, "score", no_work)
    monkeypatch.setattr("pipeline.inference.onnx_export.export", no_work)
    filled = [a.format(model=user["model"], audio=user["audio"]) for a in argv]
    with pytest.raises(error, match=words.replace("(", r"\(")):
        commands.main(filled)


@pytest.mark.skipif(torch.cuda.is_available(), reason="asserts the refusal on a CPU machine")
def test_a_gpu_that_is_not_there_is_refused_by_name(user: dict, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="device: 'cuda', but torch sees no GPU"):
        EmotionModel.load(user["model"], "cuda")
    from stages import check as check_params
    from tests.helpers import write_params

    write_params(tmp_path, {"device": "cuda"})
    os.chdir(tmp_path)
    try:
        with pytest.raises(ConfigError, match=r"params.yaml device: 'cuda', but torch sees no"):
            check_params.main(["data/demo", str(tmp_path / "checked")])
    finally:
        os.chdir(REPO)
    assert not (tmp_path / "checked").exists()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("path,start_s,end_s\na.wav,-1,0.5\n", r"m.csv:2: need 0 <= start_s < end_s"),
        ("path,start_s,end_s\na.wav,nan,0.5\n", r"m.csv:2: column 'start_s': expected finite"),
        ("path,start_s,end_s\na.wav,0,inf\n", r"m.csv:2: column 'end_s': expected finite"),
        ("path,start_s,end_s\na.wav,0,9\n", r"m.csv:2: end_s 9.0 lies 7.50 s past the end"),
        ("path,start_s,end_s\na.wav,3,4\n", r"m.csv:2: start_s 3.0 lies past the end"),
        ("path,speaker\n,s\n", r"m.csv:2: empty value in \['path'\]"),
        ("path,start_s\na.wav,0\n", r"m.csv:2: start_s and end_s must both be given"),
        ("speaker\ns\n", r"m.csv:1: missing columns \['path'\]"),
    ],
)
def test_manifest_rows_are_checked_by_the_pipelines_reader_before_any_work(
    user: dict, text: str, words: str
) -> None:
    root = user["root"]
    _voice(root / "a.wav", 1.5)
    (root / "m.csv").write_text(text)
    model = EmotionModel.load(user["model"], "cpu")
    with pytest.raises(CorpusError, match=words):
        model.predict(root / "m.csv", progress=False)
    if "missing columns" not in words:  # a bad row is skipped with --skip-bad, and listed
        both = model.predict([root / "m.csv", user["audio"]], skip_bad=True, progress=False)
        assert set(both["path"]) == {str(user["audio"])}


def test_a_manifest_that_is_not_utf8_is_named_with_its_line(tmp_path: Path) -> None:
    write_tone(tmp_path / "x.wav", 1.0)
    (tmp_path / "manifest.csv").write_bytes(
        "path,speaker,label\nx.wav,Jos\xe9,sad\n".encode("latin-1")
    )
    with pytest.raises(CorpusError, match=r"manifest.csv:2: not UTF-8 text \(byte 0xe9\)"):
        manifest.prepare(tmp_path)  # the labels stage
    with pytest.raises(CorpusError, match=r"manifest.csv:2: not UTF-8"):
        manifest.read_rows(tmp_path / "manifest.csv", ("path",))  # menan


def test_a_speaker_with_two_genders_is_refused(tmp_path: Path) -> None:
    write_tone(tmp_path / "x.wav", 1.0)
    write_tone(tmp_path / "y.wav", 1.0)
    (tmp_path / "manifest.csv").write_text(
        "path,speaker,label,gender\nx.wav,s1,sad,F\ny.wav,s1,ang,M\n"
    )
    with pytest.raises(CorpusError, match=r"manifest.csv:3: speaker 's1' has gender 'M' here "
                       r"and 'F' on line 2"):  # fmt: skip
        manifest.prepare(tmp_path)


def _corrupt_flac(path: Path) -> Path:
    """A FLAC whose header is sound and whose frames are not: it fails midway in decoding."""
    _voice(path.with_suffix(".tmp.flac"), 2.0, subtype="PCM_16")
    data = bytearray(path.with_suffix(".tmp.flac").read_bytes())
    path.with_suffix(".tmp.flac").unlink()
    for k in range(2000, len(data), 7):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def test_a_file_that_fails_to_decode_midway_is_skipped_with_skip_bad(user: dict) -> None:
    bad = _corrupt_flac(user["root"] / "u" / "broken.flac")
    assert sf.info(bad).frames > 0  # the header check passes it
    model = EmotionModel.load(user["model"], "cpu")
    with pytest.raises(CorpusError, match=r"broken.flac: could not decode audio"):
        model.predict(user["root"] / "u", progress=False)
    table = model.predict(user["root"] / "u", skip_bad=True, progress=False)
    assert set(table["path"]) == {str(user["audio"])}


def test_mp3_files_in_a_folder_are_scored_and_other_files_counted(
    user: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    folder = user["root"] / "mixed"
    _voice(folder / "a.mp3", 1.5, subtype="MPEG_LAYER_III")
    _voice(folder / "B.WAV", 1.5)
    (folder / "notes.txt").write_text("not audio")
    table = EmotionModel.load(user["model"], "cpu").predict(folder, progress=False)
    assert {Path(p).name for p in table["path"]} == {"a.mp3", "B.WAV"}
    assert "1 files that are not audio left out (1 .txt)" in caplog.text


def test_a_model_is_checked_when_loaded(user: dict, tmp_path: Path) -> None:
    saved = torch.load(user["model"] / "model.pt", weights_only=True)
    nan_weight = {k: v.clone() for k, v in saved["state_dict"].items()}
    first = next(k for k, v in nan_weight.items() if v.is_floating_point())
    nan_weight[first][0] = float("nan")
    cases = {
        "zero": ({**saved, "config": {**saved["config"], "max_seconds": 0}},
                 r"config max_seconds: expected a number > 0 and <= 120, got 0"),
        "negative": ({**saved, "config": {**saved["config"], "max_seconds": -4}}, r"got -4"),
        "text": ({**saved, "config": {**saved["config"], "max_seconds": "4"}}, r"got '4'"),
        "huge": ({**saved, "config": {**saved["config"], "max_seconds": 1e6}}, r"got 1000000"),
        "nan_mean": ({**saved, "mean": saved["mean"] * float("nan")}, r"mean is not finite"),
        "zero_std": ({**saved, "std": saved["std"] * 0}, r"std is not positive"),
        "nan_weight": ({**saved, "state_dict": nan_weight}, rf"weights {first} hold NaN"),
        "regime": ({**saved, "regime": "mystery"}, r"regime 'mystery' is none of"),
    }  # fmt: skip
    for name, (payload, words) in cases.items():
        (tmp_path / name).mkdir()
        torch.save(payload, tmp_path / name / "model.pt")
        with pytest.raises(ModelError, match=words):
            EmotionModel.load(tmp_path / name, "cpu")


def test_another_regimes_model_in_a_regime_folder_is_said(
    user: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "menan").mkdir()
    (tmp_path / "menan" / "model.pt").write_bytes((user["model"] / "model.pt").read_bytes())
    EmotionModel.load(tmp_path / "menan", "cpu")
    assert "holds a ec_only model, not menan" in caplog.text


def test_audio_it_was_not_trained_for_is_flagged_or_refused(
    user: dict, caplog: pytest.LogCaptureFixture
) -> None:
    folder = user["root"] / "odd"
    folder.mkdir()
    sf.write(folder / "silence.wav", np.zeros((16_000, 1), np.float32), 16_000)
    _voice(folder / "clip.wav", 0.05)
    t = np.arange(32_000) / 16_000
    tone = 0.3 * np.sin(2 * np.pi * 140 * t)
    sf.write(folder / "cancel.wav", np.stack([tone, -tone], axis=1), 16_000)
    sf.write(folder / "loud.wav", np.clip(4 * tone, -1, 1), 16_000)
    whole = _voice(user["root"] / "whole.wav", 2.0)
    data = whole.read_bytes()
    (folder / "cut.wav").write_bytes(data[: len(data) // 2])
    _voice(folder / "phone.wav", 1.5, rate=8_000)
    model = EmotionModel.load(user["model"], "cpu")
    with pytest.raises(
        CorpusError, match=r"(?s)sample rate below the 16000 Hz.*phone.wav \(8000 Hz\)"
    ):
        model.predict(folder, progress=False)
    table = model.predict(folder, allow_low_rate=True, progress=False)
    means = table[table["window"] == -1]
    assert dict(zip(means["path"].map(lambda p: Path(p).stem), means["flags"], strict=True)) == {
        "cancel": "silent;cancelled", "clip": "short", "cut": "truncated", "loud": "clipped",
        "phone": "low_rate", "silence": "silent",
    }  # fmt: skip
    said = (
        "phone.wav: sample rate 8000 Hz is below",
        "cancel when averaged",
        "truncated: its header promises 1.00 s more",
        "clipped (",
        "silent (",
    )
    for words in said:
        assert words in caplog.text, words


def test_samples_in_memory_are_scaled_and_laid_out_as_soundfile_reads_them(user: dict) -> None:
    model = EmotionModel.load(user["model"], "cpu")
    pcm, rate = sf.read(user["audio"], dtype="int16")
    as_float, _ = sf.read(user["audio"], dtype="float32")
    reference = model.predict(as_float, sample_rate=rate, progress=False)[PROBS].to_numpy()
    for samples in (pcm, pcm.astype(np.int32) << 16, np.stack([as_float, as_float]),
                    np.stack([pcm, pcm], axis=1)):  # fmt: skip
        got = model.predict(samples, sample_rate=rate, progress=False)[PROBS].to_numpy()
        np.testing.assert_allclose(got, reference, atol=1e-6)
    with pytest.raises(ValueError, match="dtype int64"):
        float_samples(pcm.astype(np.int64))
    with pytest.raises(ValueError, match=r"shape \(40, 40\)"):
        float_samples(np.zeros((40, 40), np.float32))


def test_the_flags_follow_their_stated_thresholds() -> None:
    rng = np.random.default_rng(0)
    speech = 0.1 * rng.standard_normal((16_000, 1)).astype(np.float32)
    assert assess(speech, 16_000, 1.0).flags == ()
    assert assess(speech * 0.005, 16_000, 1.0).flags == ("silent",)  # about -66 dBFS
    assert assess(speech * 0.02, 16_000, 1.0).flags == ()  # about -54 dBFS: quiet, not silent
    assert assess(speech, 22_050, 0.24).flags == ("short",)
    assert assess(speech, 16_000, 0.26).flags == ()
    assert assess(speech, 16_000, 4000.0).flags == ("long",)


def test_python_m_pipeline_commands_is_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "pipeline.inference.cli", "--help"], cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and "predict" in done.stdout


def test_the_python_api_checks_its_export_path_and_a_bare_model_file(
    user: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = EmotionModel.load(user["model"], "cpu")
    before = user["audio"].read_bytes()
    with pytest.raises(OutputError, match=r"expected a \.onnx"):
        model.export_onnx(user["audio"])
    assert user["audio"].read_bytes() == before
    # a bare model.pt: outputs beside it are fine, the file itself is never an output
    monkeypatch.chdir(user["model"])
    commands.main(["predict", "model.pt", str(user["audio"]), "-o", "p.csv", "--n-jobs", "1"])
    assert (user["model"] / "p.csv").is_file()
    regime = user["root"] / "menan"
    regime.mkdir()
    (regime / "model.pt").write_bytes((user["model"] / "model.pt").read_bytes())
    EmotionModel.load(regime / "model.pt", "cpu")
    assert "holds a ec_only model, not menan" in caplog.text


def test_copy_debris_in_a_folder_is_left_out_and_bad_rows_are_listed_once(
    user: dict, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    folder = user["audio"].parent
    (folder / "._a.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / ".DS_Store").write_bytes(b"Bud1")
    model = EmotionModel.load(user["model"], "cpu")
    table = model.predict(folder, progress=False)
    assert set(table["path"]) == {str(user["audio"])}
    assert "2 files that are not audio left out (2 copy debris)" in caplog.text
    (user["root"] / "m.csv").write_text("path,start_s,end_s\nu/rec/a.wav,0,1\nu/rec/a.wav,-1,1\n")
    sources = AudioSources.gather([user["root"] / "m.csv"])
    for _ in range(2):  # one AudioSources, scored twice: its bad row is listed once each time
        caplog.clear()
        model.embed(sources, skip_bad=True, progress=False)
        assert caplog.text.count("need 0 <= start_s < end_s") == 1


def test_long_recordings_are_computed_in_blocks_with_the_same_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-frame channels a block at a time and RAPT's input a block at a time give the
    numbers of one pass (fixtures are shorter than one block, so shrink the blocks)."""
    from pipeline.features import channels as features

    t = np.arange(3 * 16_000) / 16_000
    voice = 0.2 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    audio = (voice + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    whole = features.extract(audio)
    monkeypatch.setattr(features, "BLOCK_FRAMES", 37)
    monkeypatch.setattr(features, "_SEND_BLOCK", 1000)
    assert len(features.blocks(len(whole))) == 9  # 297 frames
    np.testing.assert_array_equal(features.extract(audio), whole)


def test_flags_for_clipping_and_cancelling_channels_follow_their_thresholds() -> None:
    t = np.arange(16_000) / 16_000
    tone = (0.3 * np.sin(2 * np.pi * 140 * t)).astype(np.float32)
    clipped = np.clip(tone * 10, -1, 1)[:, None]
    assert "clipped" in assess(clipped, 16_000, 1.0).flags
    mostly = tone[:, None].copy()
    mostly[:10] = 1.0  # 0.06 % at full scale: under the 0.1 % threshold
    assert "clipped" not in assess(mostly, 16_000, 1.0).flags
    assert assess(np.stack([tone, -tone], 1), 16_000, 1.0).flags == ("silent", "cancelled")
    assert assess(np.stack([tone, -0.5 * tone], 1), 16_000, 1.0).flags == ()  # -6 dB: not cancelled
    assert assess(np.stack([tone, -0.85 * tone], 1), 16_000, 1.0).flags == ("cancelled",)


def test_a_streamed_wav_is_not_called_truncated_and_a_cut_wavex_is(tmp_path: Path) -> None:
    import struct

    from pipeline.features.audio import truncated_seconds

    noise = (0.1 * np.random.default_rng(0).standard_normal((16_000, 2))).astype(np.float32)
    sf.write(tmp_path / "s.wav", noise, 16_000, subtype="PCM_16")
    data = bytearray((tmp_path / "s.wav").read_bytes())
    at = data.find(b"data")
    data[at + 4 : at + 8] = struct.pack("<I", 0x7FFFFFFF)  # what streaming writers leave
    (tmp_path / "s.wav").write_bytes(bytes(data))
    assert truncated_seconds(tmp_path / "s.wav") == 0
    sf.write(tmp_path / "x.wav", noise, 16_000, subtype="PCM_16", format="WAVEX")
    whole = (tmp_path / "x.wav").read_bytes()
    (tmp_path / "x.wav").write_bytes(whole[: len(whole) // 2])
    assert truncated_seconds(tmp_path / "x.wav") == pytest.approx(0.5, abs=0.01)
