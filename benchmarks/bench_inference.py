"""Benchmark: `menan predict`'s throughput, as a real-time factor per core and on all cores.

    python benchmarks/bench_inference.py [--work /tmp/menan-bench-inference]

Writes the demo IEMOCAP at its default size (174 utterances, about 500 s of audio) and a
model with the network of Table 1 (its weights do not change the cost), then times
``EmotionModel.predict`` over the whole folder: once on one core (one feature worker, one
torch thread) and once with every core. RTF = seconds of compute per second of audio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

from pipeline import run_files
from pipeline.demo.corpora import IEMOCAP_DIR, write_demo
from pipeline.emotion_model import EmotionModel
from pipeline.features import PitchRange, settings
from pipeline.model import EmotionSpeakerNet

REPO = Path(__file__).resolve().parents[1]


def _model(folder: Path) -> Path:
    torch.manual_seed(0)
    net = EmotionSpeakerNet(4, 8)
    config = {"embedding": "pooled", "max_seconds": 4}
    payload = run_files.model_payload(
        net.state_dict(), "menan", 0, config, [f"s{i}" for i in range(8)],
        np.zeros(43, np.float32), np.ones(43, np.float32), settings(PitchRange()),
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    run_files.write_torch(folder / run_files.MODEL, payload)
    return folder


def _time(model: EmotionModel, audio: Path, n_jobs: int) -> float:
    started = time.perf_counter()
    model.predict([audio], n_jobs=n_jobs, progress=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/menan-bench-inference"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    demo = yaml.safe_load((REPO / "params.yaml").read_text())["demo"]
    write_demo(args.work / "demo", demo, n_jobs=-1)
    audio = args.work / "demo" / IEMOCAP_DIR
    files = sorted(audio.rglob("*.wav"))
    seconds = sum(sf.info(f).duration for f in files)
    model = EmotionModel.load(_model(args.work / "model"), "cpu")
    cores = len(os.sched_getaffinity(0))
    print(f"{len(files)} files, {seconds:.0f} s of audio, {cores} cores, windows of 4 s")
    torch.set_num_threads(1)
    _time(model, files[0], 1)  # warm-up: imports, the first RAPT helper
    one = _time(model, audio, 1)
    print(f"1 core:  {one:6.1f} s  RTF {one / seconds:.4f}  ({seconds / one:.0f}x real time)")
    torch.set_num_threads(cores)
    every = _time(model, audio, -1)
    print(f"{cores} cores: {every:6.1f} s  RTF {every / seconds:.4f} of wall clock "
          f"({seconds / every:.0f}x real time)")  # fmt: skip


if __name__ == "__main__":
    main()
