"""Benchmark: demo generation speed and label merging at the real corpora's scale.

Prints its figures; docs/performance.md quotes them. Run:
    python benchmarks/bench_labels.py
Label merging reads every EmoEvaluation file and every kept WAV header, so its cost does not
depend on the audio's length: the real-scale layouts here use 0.1 s WAVs with real counts
(IEMOCAP: 10,039 evaluated turns; CMU-MOSEI: 3,228 videos, 23,453 segments).
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from pipeline.data.corpora import iemocap, mosei
from pipeline.data.demo.corpora import write_demo
from pipeline.params import load_params

RAW = ["neu", "hap", "exc", "ang", "sad", "fru", "xxx", "sur"]


def _wav_bytes(seconds: float = 0.1) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(int(16_000 * seconds)), 16_000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def iemocap_layout(root: Path, turns: int = 10_039) -> None:
    wav = _wav_bytes()
    per_dialog = 60
    for d in range(int(np.ceil(turns / per_dialog))):
        session = d % 5 + 1
        dialog = f"Ses{session:02d}{'FM'[d % 2]}_impro{d:03d}"
        wav_dir = root / f"Session{session}" / "sentences" / "wav" / dialog
        wav_dir.mkdir(parents=True)
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        for k in range(min(per_dialog, turns - d * per_dialog)):
            utt = f"{dialog}_{'FM'[k % 2]}{k:03d}"
            lines += [f"[{k:.4f} - {k + 0.5:.4f}]\t{utt}\t{RAW[k % len(RAW)]}\t[2.5, 2.5, 2.5]",
                      "C-E1:\tNeutral;\t()", "A-E1:\tval 3; act 2; dom  2;\t()", ""]  # fmt: skip
            (wav_dir / f"{utt}.wav").write_bytes(wav)
        folder = root / f"Session{session}" / "dialog" / "EmoEvaluation"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{dialog}.txt").write_text("\n".join(lines) + "\n")


def mosei_layout(root: Path, videos: int = 3_228, segments: int = 23_453) -> None:
    wav = _wav_bytes(60.0)
    wav_dir = root / "Audio" / "Full" / "WAV_16000"
    wav_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    per_video = np.array_split(np.arange(segments), videos)
    labels = {}
    for v, rows in enumerate(per_video):
        vid = f"video{v:05d}"
        (wav_dir / f"{vid}.wav").write_bytes(wav)
        features = rng.choice([0, 1 / 3, 1], size=(len(rows), 7), p=[0.7, 0.2, 0.1])
        starts = np.arange(len(rows)) * 5.0
        labels[vid] = (features, np.c_[starts, starts + 4.0])
    mosei.write_csd(root / "CMU_MOSEI_Labels.csd", labels)


def timed(label: str, fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    print(f"{label:<52s} {seconds:8.2f} s")
    return result, seconds


def main() -> None:
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for n_jobs in (1, -1):
            truth, seconds = timed(
                f"demo corpora (params.yaml sizes), n_jobs={n_jobs}",
                write_demo, tmp_path / f"demo{n_jobs}", params["demo"], n_jobs=n_jobs,
            )  # fmt: skip
            audio = truth["iemocap"]["seconds"]
            print(f"{'':<52s} {audio / seconds:8.0f} s of IEMOCAP-demo audio per second")

        iemocap_layout(tmp_path / "iemocap")
        (table, _), seconds = timed("label merging, IEMOCAP scale (10,039 turns)",
                                    iemocap.prepare, tmp_path / "iemocap")  # fmt: skip
        print(f"{'':<52s} {len(table):8d} kept, {len(table) / seconds:8.0f} utterances/s")

        mosei_layout(tmp_path / "mosei")
        (table, _), seconds = timed("label merging, CMU-MOSEI scale (23,453 segments)",
                                    mosei.prepare, tmp_path / "mosei")  # fmt: skip
        print(f"{'':<52s} {len(table):8d} kept, {len(table) / seconds:8.0f} segments/s")


if __name__ == "__main__":
    main()
