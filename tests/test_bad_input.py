"""Bad corpora fail loudly and name the file; stages leave no partial output and never
write into the user's corpus."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.data.corpora import iemocap, prepare_corpus
from pipeline.runtime.errors import CorpusError
from tests.helpers import REPO, make_session, tree_digest, write_params


def test_missing_root_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=str(tmp_path / "nope")):
        iemocap.prepare(tmp_path / "nope")


def test_wrong_layout_names_the_expected_folder(tmp_path: Path) -> None:
    (tmp_path / "Session1" / "wav").mkdir(parents=True)
    with pytest.raises(CorpusError, match=r"Session1/dialog/EmoEvaluation"):
        iemocap.prepare(tmp_path)


def test_malformed_summary_line_gives_file_and_line(tmp_path: Path) -> None:
    make_session(tmp_path, "Ses01F_impro01", [("Ses01F_impro01_F000", "neu")])
    path = tmp_path / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    lines = path.read_text().splitlines()
    lines.insert(5, "[3.0 - 4.5] Ses01F_impro01_F001 neu [2.5, 2.5, 2.5]")  # spaces, not tabs
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CorpusError, match=rf"{path}:6: expected an utterance summary"):
        iemocap.prepare(tmp_path)


def test_utterance_from_another_dialog_is_refused(tmp_path: Path) -> None:
    make_session(tmp_path, "Ses01F_impro01", [("Ses01F_impro02_F000", "neu")])
    with pytest.raises(
        CorpusError, match=r"Ses01F_impro01.txt:3: utterance id 'Ses01F_impro02_F000'"
    ):
        iemocap.prepare(tmp_path)


def test_missing_wavs_are_listed_first_ten_and_counted(tmp_path: Path) -> None:
    turns = [(f"Ses01F_impro01_F{k:03d}", "ang") for k in range(14)]
    make_session(tmp_path, "Ses01F_impro01", turns)
    wav_dir = tmp_path / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    for utt, _ in turns[:12]:
        (wav_dir / f"{utt}.wav").unlink()
    with pytest.raises(CorpusError) as caught:
        iemocap.prepare(tmp_path)
    message = str(caught.value)
    assert "12 labelled utterances point at missing audio files (first 10)" in message
    assert "Ses01F_impro01_F009.wav" in message and "Ses01F_impro01_F010.wav" not in message
    assert "... and 2 more" in message


def test_unreadable_and_empty_wavs_are_reported(tmp_path: Path) -> None:
    make_session(
        tmp_path, "Ses01F_impro01", [("Ses01F_impro01_F000", "ang"), ("Ses01F_impro01_M000", "sad")]
    )
    wav_dir = tmp_path / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    (wav_dir / "Ses01F_impro01_F000.wav").write_bytes(b"RIFF\x00\x00garbage")
    (wav_dir / "Ses01F_impro01_M000.wav").write_bytes(b"")
    with pytest.raises(CorpusError) as caught:
        iemocap.prepare(tmp_path)
    message = str(caught.value)
    assert "2 audio files could not be read" in message and "Ses01F_impro01_F000.wav" in message
    assert "Ses01F_impro01_M000.wav" in message


def test_zero_length_wav_is_reported(tmp_path: Path) -> None:
    import soundfile as sf

    make_session(tmp_path, "Ses01F_impro01", [("Ses01F_impro01_F000", "ang")])
    wav = tmp_path / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav"
    sf.write(wav, [], 16_000, subtype="PCM_16")
    with pytest.raises(CorpusError, match="1 audio files hold no samples"):
        iemocap.prepare(tmp_path)


def test_unknown_config_keys_and_formats_are_refused() -> None:
    with pytest.raises(ValueError, match=r"corpora.x.format: expected one of"):
        prepare_corpus("x", {"format": "timit", "root": "."})
    with pytest.raises(ValueError, match=r"unknown keys \['wav_dir'\] for format 'iemocap'"):
        prepare_corpus("x", {"format": "iemocap", "root": ".", "wav_dir": "w"})


def _run_stage(workdir: Path, corpus: str, config: dict) -> subprocess.CompletedProcess:
    write_params(workdir, {"n_jobs": 1, "corpora": {corpus: config}})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "stages.labels", corpus, "out/labels.parquet", "out/m.json"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_failed_stage_exits_nonzero_and_leaves_no_partial_output(
    tmp_path: Path, iemocap_root: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(iemocap_root, corpus)
    victim = next((corpus / "Session3" / "sentences" / "wav").rglob("*.wav"))
    victim.write_bytes(b"not a wav")
    work = tmp_path / "work"
    work.mkdir()
    result = _run_stage(work, "iemocap", {"format": "iemocap", "root": str(corpus)})
    assert result.returncode == 1, result.stderr
    assert "could not be read" in result.stderr or "missing audio" in result.stderr
    out = work / "out"
    assert not out.exists() or list(out.rglob("*")) == []


def test_stage_never_writes_into_the_users_corpus(
    tmp_path: Path, iemocap_root: Path, mosei_root: Path
) -> None:
    before = {"iemocap": tree_digest(iemocap_root), "mosei": tree_digest(mosei_root)}
    for corpus, root, fmt in (("iemocap", iemocap_root, "iemocap"), ("mosei", mosei_root, "mosei")):
        work = tmp_path / corpus
        work.mkdir()
        result = _run_stage(work, corpus, {"format": fmt, "root": str(root)})
        assert result.returncode == 0, result.stderr
        assert (work / "out" / "labels.parquet").is_file() and (work / "out" / "m.json").is_file()
    after = {"iemocap": tree_digest(iemocap_root), "mosei": tree_digest(mosei_root)}
    assert before == after


def test_float_wavs_with_nan_or_inf_fail_the_label_stage_with_the_unreadable_ones(
    tmp_path: Path,
) -> None:
    """A float WAV holding NaN or Inf used to pass every stage but `evaluate` (UA 25 %, NaN
    weights); now the label stage lists it with the other bad files and writes nothing."""
    import numpy as np
    import soundfile as sf

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    tone = 0.1 * np.sin(np.linspace(0, 300, 16_000)).astype(np.float32)
    for name, bad_value in (("nan", np.nan), ("inf", np.inf), ("ok", None)):
        samples = tone.copy()
        if bad_value is not None:
            samples[8_000] = bad_value
        sf.write(corpus / f"{name}.wav", samples, 16_000, subtype="FLOAT")
    (corpus / "broken.wav").write_bytes(b"RIFF\x00\x00junk")
    rows = [f"{n}.wav,s{i},neu" for i, n in enumerate(("nan", "inf", "ok", "broken"))]
    (corpus / "manifest.csv").write_text("path,speaker,label\n" + "\n".join(rows) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    result = _run_stage(work, "own", {"format": "manifest", "root": str(corpus)})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "1 audio files could not be read" in result.stderr
    assert "2 audio files hold NaN or infinite samples (first 2):" in result.stderr
    assert f"{corpus / 'nan.wav'}" in result.stderr and f"{corpus / 'inf.wav'}" in result.stderr
    assert f"{corpus / 'ok.wav'}" not in result.stderr
    assert not (work / "out").exists() or list((work / "out").rglob("*")) == []


def test_a_non_finite_segment_is_refused_when_features_are_extracted(tmp_path: Path) -> None:
    """If a file changes after the label stage checked it, the features still stay finite."""
    import numpy as np
    import soundfile as sf

    from pipeline.features.audio import load_segment

    samples = np.zeros(16_000, np.float32)
    samples[12_000] = np.nan
    sf.write(tmp_path / "x.wav", samples, 16_000, subtype="FLOAT")
    assert np.isfinite(load_segment(tmp_path / "x.wav", 0.0, 0.5)).all()
    with pytest.raises(CorpusError, match=r"x.wav: NaN or infinite samples in \[0.5, 1.0\) s"):
        load_segment(tmp_path / "x.wav", 0.5, 1.0)
