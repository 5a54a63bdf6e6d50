"""What an erasure regime costs per (fold, seed) run beyond its base regime, at a chosen size.

Usage: python benchmarks/bench_erasure.py [--utterances 22000] [--dim 96] [--speakers 8]
       [--features 512] [--epochs 12]

The encoder passes of an erasure run are ordinary scoring (measured with evaluation); what
is new is fitting the eraser and training the emotion classifier on fixed vectors. This
times both on synthetic embeddings of the given size (the default: one IEMOCAP session
run's training utterances with their 4 speed copies, 8 training speakers, the pooled 96-dim
v) and prints seconds and peak memory of this process, for LEACE and for the kernel eraser.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from pipeline.model.network import head
from pipeline.params import RunSettings
from pipeline.training.erasure import HeadTraining, fit_eraser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=22_000)
    parser.add_argument("--dim", type=int, default=96)
    parser.add_argument("--speakers", type=int, default=8)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    speaker = rng.integers(0, args.speakers, args.utterances)
    v = (
        rng.normal(size=(args.utterances, args.dim))
        + rng.normal(size=(args.speakers, args.dim))[speaker]
    )
    emotion = torch.from_numpy(rng.integers(0, 4, args.utterances))
    settings = RunSettings(
        seeds=[1, 2], epochs=12, max_seconds=4, batch_size=16, lr=1e-3, lr_decay_power=1.0,
        embedding="pooled", selection="last", menan_sc_steps=1, pack="auto", folds="all",
        probe_holdout=0, lam=None, device="cpu",
    )  # fmt: skip
    print(f"{args.utterances} utterances x {args.dim} values, {args.speakers} speakers, "
          f"{args.epochs} classifier epochs, 1 thread")  # fmt: skip
    print("eraser                      fit (s)   classifier (s)   per epoch (s)")
    for name, features in (("LEACE", 0), (f"kernel LEACE ({args.features})", args.features)):
        started = time.perf_counter()
        eraser = fit_eraser(v, speaker, args.speakers, features, [1, 2, 3])
        fitted = time.perf_counter() - started
        with torch.no_grad():
            erased = eraser(torch.from_numpy(v.astype(np.float32)))
        classifier = head(erased.shape[1], 4)
        started = time.perf_counter()
        HeadTraining(settings, args.epochs).train(
            classifier, erased, emotion, np.random.default_rng(0), "benchmark"
        )
        trained = time.perf_counter() - started
        print(f"{name:26s} {fitted:8.2f}   {trained:14.1f}   {trained / args.epochs:13.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
