"""Benchmark: training throughput per regime at batch 16 x 1400 frames (14 s).

    python benchmarks/bench_training.py [--steps 20] [--device cpu|cuda|auto]

For each regime prints ms per step and examples per second of the whole training step as
the stage runs it (batch gather + standardization + host-to-device copy + forward,
backward and update), and which share of that time is the model's own
forward/backward/update (goal on CPU: at least 90 %). Then the inference rate of
``training.predict``, which is what the evaluation stages spend scoring the cross-corpus
set with every fold model.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pipeline import EMOTIONS
from pipeline.batches import FrameStore
from pipeline.feature_store import Features
from pipeline.model import EmotionSpeakerNet
from pipeline.regimes import REGIMES, Trainer
from pipeline.training import Inputs, TrainConfig, predict, resolve_device

BATCH, SECONDS = 16, 14.0


def synthetic_store(utterances: int = 2_000, seed: int = 0) -> FrameStore:
    """IEMOCAP-like lengths (log-normal around 4.5 s), random frames."""
    rng = np.random.default_rng(seed)
    counts = np.clip(rng.lognormal(np.log(450), 0.5, utterances), 80, 3000).astype(np.int64)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    table = Features(
        utt_ids=np.array([f"u{i}" for i in range(utterances)], dtype=object),
        speeds=np.ones(utterances, np.float32),
        offsets=offsets,
        frames=rng.standard_normal((int(offsets[-1]), 43), dtype=np.float32),
    )
    return FrameStore.combine(table)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fitted_inputs(store: FrameStore, device: str) -> Inputs:
    config = TrainConfig(seed=0, epochs=1, batch_size=BATCH, lr=1e-3, lr_decay_power=1.0,
                         max_seconds=SECONDS, embedding="pooled", selection="last",
                         menan_sc_steps=1, device=device, lam=0.5)  # fmt: skip
    return Inputs.fitted(store, np.arange(len(store.utt_ids)), config)


def bench_inference(store: FrameStore, device: str, examples: int = 512) -> float:
    """Examples per second of ``predict`` (embeddings and emotion probabilities)."""
    inputs = fitted_inputs(store, device)
    net = EmotionSpeakerNet(len(EMOTIONS), 8).to(device)
    rows = np.arange(examples)
    predict(net, inputs, rows[:64])  # warm-up
    sync(device)
    started = time.perf_counter()
    predict(net, inputs, rows)
    sync(device)
    return examples / (time.perf_counter() - started)


def bench(regime: str, store: FrameStore, device: str, steps: int) -> tuple[float, float]:
    rng = np.random.default_rng(1)
    rows = np.arange(len(store.utt_ids))
    inputs = fitted_inputs(store, device)
    net = EmotionSpeakerNet(len(EMOTIONS), 8).to(device)
    trainer = Trainer(regime, net, 0.5, 1e-3)
    emotion = torch.randint(0, 4, (len(rows),), device=device)
    speaker = torch.randint(0, 8, (len(rows),), device=device)
    model_s = total_s = 0.0
    for step in range(steps + 3):
        take = rng.choice(rows, BATCH, replace=False)
        sync(device)
        t0 = time.perf_counter()
        x = inputs(take)
        index = torch.from_numpy(take).to(device)
        sync(device)
        t1 = time.perf_counter()
        trainer.step(x, emotion[index], speaker[index])
        sync(device)
        t2 = time.perf_counter()
        if step >= 3:  # warm-up excluded
            model_s += t2 - t1
            total_s += t2 - t0
    return total_s / steps, model_s / total_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    store = synthetic_store()
    print(f"device {device}, torch threads {torch.get_num_threads()}, "
          f"batch {BATCH} x {round(SECONDS * 100)} frames x 43")  # fmt: skip
    for regime in REGIMES:
        step_s, share = bench(regime, store, device, args.steps)
        print(f"  {regime:<10s} {step_s * 1e3:8.1f} ms/step  {BATCH / step_s:8.1f} examples/s  "
              f"{share * 100:5.1f} % inside forward/backward/update")  # fmt: skip
    print(f"  inference  {bench_inference(store, device):8.1f} examples/s (predict, batch 64)")


if __name__ == "__main__":
    main()
