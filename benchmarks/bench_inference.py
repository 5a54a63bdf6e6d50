"""Benchmark: `menan predict`'s throughput, as a real-time factor per core and on all cores,
and its memory on one long recording.

    python benchmarks/bench_inference.py [--work /tmp/menan-bench-inference]
                                         [--long-minutes 1 10 30]

Writes the demo IEMOCAP at its default size (174 utterances, about 500 s of audio) and a
model with the network of Table 1 (its weights do not change the cost), then times
``EmotionModel.predict`` over the whole folder: once on one core (one feature worker, one
torch thread) and once with every core. RTF = seconds of compute per second of audio.

Then, for each of ``--long-minutes``, one recording of that length (a voiced tone with
noise) is scored in a fresh process, and the peak resident memory of that process and of
its RAPT helper is printed: what one long recording costs (``docs/inference.md``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import yaml

from pipeline.data.demo.corpora import IEMOCAP_DIR, write_demo
from pipeline.features.spec import PitchRange, settings
from pipeline.inference.emotion_model import EmotionModel
from pipeline.model import run_files
from pipeline.model.network import EmotionSpeakerNet
from pipeline.params import load_params
from pipeline.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def _model(folder: Path) -> Path:
    torch.manual_seed(0)
    net = EmotionSpeakerNet(4, 8)
    params = load_params(REPO / "params.yaml")
    config = TrainConfig.for_regime(params, "menan").model_copy(update={"max_seconds": 4})
    config = {**config.model_dump(), "device": "cpu"}
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


LONG = """
import sys
from pipeline.features import channels as features
from pipeline.inference.emotion_model import EmotionModel
model, path = sys.argv[1:]
EmotionModel.load(model, "cpu").predict(path, n_jobs=1, progress=False)
def peak(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
print(peak("self"), peak(features._client.process.pid))
"""
"""Scores one file in a fresh process; prints its peak RSS and its RAPT helper's, in MB."""


def _long(model: Path, work: Path, minutes: float) -> None:
    rate = 16_000
    rng = np.random.default_rng(0)
    path = work / f"long_{minutes:g}min.wav"
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as out:
        for _ in range(round(minutes * 6)):  # 10 s blocks: the writer's memory stays flat
            t = np.arange(10 * rate) / rate
            out.write(0.2 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
                      + 0.01 * rng.standard_normal(len(t)))  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", LONG, str(model), str(path)], cwd=REPO,
                          capture_output=True, text=True, check=True)  # fmt: skip
    own, helper = map(int, done.stdout.split())
    print(f"{minutes:5g} min: peak {own:5d} MB (scoring process), {helper:5d} MB (RAPT helper), "
          f"{time.perf_counter() - started:5.0f} s")  # fmt: skip
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/menan-bench-inference"))
    parser.add_argument("--long-minutes", type=float, nargs="*", default=[1, 10, 30])
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    demo = yaml.safe_load((REPO / "params.yaml").read_text())["demo"]
    write_demo(args.work / "demo", demo, n_jobs=-1)
    audio = args.work / "demo" / IEMOCAP_DIR
    files = sorted(audio.rglob("*.wav"))
    seconds = sum(sf.info(f).duration for f in files)
    model = EmotionModel.load(_model(args.work / "model"), "cpu")
    cores = len(os.sched_getaffinity(0))
    print(f"{len(files)} files, {seconds:.0f} s of audio, {cores} cores; a file longer than "
          "the 4 s crop scored on its middle crop, as evaluation")  # fmt: skip
    torch.set_num_threads(1)
    _time(model, files[0], 1)  # warm-up: imports, the first RAPT helper
    one = _time(model, audio, 1)
    print(f"1 core:  {one:6.1f} s  RTF {one / seconds:.4f}  ({seconds / one:.0f}x real time)")
    torch.set_num_threads(cores)
    every = _time(model, audio, -1)
    print(f"{cores} cores: {every:6.1f} s  RTF {every / seconds:.4f} of wall clock "
          f"({seconds / every:.0f}x real time)")  # fmt: skip
    for minutes in args.long_minutes:
        _long(args.work / "model", args.work, minutes)


if __name__ == "__main__":
    main()
