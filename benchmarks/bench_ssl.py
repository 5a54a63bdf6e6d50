"""Benchmark: the self-supervised front end's cost, per core and on disk.

    python benchmarks/bench_ssl.py [--work /tmp/menan-bench-ssl] [--seconds 60]

Builds two randomly initialised models in the Hugging Face format (weights do not change
the arithmetic): WavLM-base's shape (12 layers of 768, 95 M parameters) and the tests' tiny
WavLM (2 layers of 16). For each it prints

- the real-time factor on one core (RTF = compute seconds per second of audio) of
  :func:`pipeline.features.ssl.hidden_states`, the function the features stages run, on
  utterances of 2.5 s (the demo's mean), 4.5 s (about IEMOCAP's mean) and 15 s;
- the disk a feature table takes per hour of audio, all layers and one layer, as float16
  and float32 (Parquet, zstd level 1 as the pipeline writes it), from ``--seconds`` of
  demo-like speech, and the frame cache (the raw memory map training reads) per hour.

The paper's 43 channels on the same audio are printed beside, for scale.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.data.demo.voice import random_speaker, synthesize  # noqa: E402
from pipeline.features import ssl  # noqa: E402
from pipeline.features.frontend import Paper43, SelfSupervised  # noqa: E402
from pipeline.features.spec import SAMPLE_RATE, PitchRange  # noqa: E402
from pipeline.features.store import feature_writer  # noqa: E402
from tests.helpers import tiny_ssl_model  # noqa: E402

LENGTHS_S = (2.5, 4.5, 15.0)


def base_model(folder: Path) -> Path:
    """WavLM-base's architecture with random weights, saved as the hub's copy is."""
    import transformers

    torch.manual_seed(0)
    transformers.WavLMModel(transformers.WavLMConfig()).save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=SAMPLE_RATE, do_normalize=False
                                          ).save_pretrained(folder)  # fmt: skip
    return folder


def speech(seconds: float, seed: int) -> list[np.ndarray]:
    """Demo-like utterances (the demo's voice model) adding up to ``seconds``."""
    rng = np.random.default_rng(seed)
    out, total = [], 0.0
    while total < seconds:
        length = float(rng.uniform(1.5, 4.5))
        speaker = random_speaker(rng, f"s{len(out)}", "F" if rng.random() < 0.5 else "M")
        out.append(synthesize(rng, speaker, "neu", length))
        total += length
    return out


def rtf(model: ssl.SslModel) -> dict[float, float]:
    layers = model.layers("all")
    found = {}
    for seconds in LENGTHS_S:
        audio = np.random.default_rng(1).standard_normal(int(seconds * SAMPLE_RATE))
        ssl.hidden_states(model, 0.1 * audio, layers)  # warm-up: load, allocate
        started = time.perf_counter()
        repeats = max(1, int(20 / seconds))
        for _ in range(repeats):
            ssl.hidden_states(model, 0.1 * audio, layers)
        found[seconds] = (time.perf_counter() - started) / repeats / seconds
    return found


def disk(front, clips: list[np.ndarray], target: Path) -> tuple[float, float]:
    """(Parquet MB, frame-cache MB) per hour of audio for ``front`` on ``clips``."""
    audio_h = sum(len(c) for c in clips) / SAMPLE_RATE / 3600
    values = 0
    with feature_writer(target, {**front.metadata, "speeds": [1.0]}) as writer:
        for i, features in enumerate(front.compute(clips)):
            writer.add(f"u{i}", 1.0, features)
            values += features.size
    itemsize = np.dtype(front.metadata.get("dtype", "float32")).itemsize
    return target.stat().st_size / 1e6 / audio_h, values * itemsize / 1e6 / audio_h


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/menan-bench-ssl"))
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    torch.set_num_threads(1)
    clips = speech(args.seconds, seed=0)
    print(f"{len(clips)} clips, {sum(len(c) for c in clips) / SAMPLE_RATE:.0f} s of audio; "
          f"torch {torch.__version__}, one thread")  # fmt: skip
    started = time.perf_counter()
    paper = Paper43(PitchRange())
    mb, cache = disk(paper, clips, args.work / "paper43.parquet")
    seconds = sum(len(c) for c in clips) / SAMPLE_RATE
    print(f"paper43: RTF {(time.perf_counter() - started) / seconds:.3f} per core (incl. "
          f"writing); disk {mb:.0f} MB/h Parquet, {cache:.0f} MB/h frame cache")  # fmt: skip
    for name, folder in (("wavlm-base (random)", base_model(args.work / "base")),
                         ("tiny wavlm (tests)", tiny_ssl_model(args.work / "tiny")),):  # fmt: skip
        model = ssl.inspect(folder)
        print(f"{name}: {model.depth} hidden states of {model.hidden_size}, "
              f"{model.hop / SAMPLE_RATE * 1000:g} ms frames")  # fmt: skip
        for seconds, factor in rtf(model).items():
            print(f"  RTF per core, {seconds:g} s utterances: {factor:.3f}")
        for layers, label in ((tuple(model.layers("all")), "all layers"),
                              ((model.depth - 1,), "last layer")):  # fmt: skip
            for dtype in ("float16", "float32"):
                front = SelfSupervised(model, layers, dtype)
                mb, cache = disk(front, clips, args.work / f"{name[:4]}-{dtype}.parquet")
                print(f"  {label:10s} {dtype}: {mb:8.0f} MB/h Parquet, {cache:8.0f} MB/h "
                      "frame cache")  # fmt: skip


if __name__ == "__main__":
    main()
