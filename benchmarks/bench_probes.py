"""Time the probes of one (fold, seed) model at IEMOCAP size, on constructed embeddings.

Usage: python benchmarks/bench_probes.py

One IEMOCAP fold has 8 training speakers with about 550 utterances each (4,400) and two
unseen speakers with about 1,100 together; v has 96 dimensions. The embeddings here carry
emotion, gender and speaker terms, so every probe has something to find. Prints the
seconds of each probe with each probe model, and their sum: what `evaluate` adds per run
on top of scoring.
"""

from __future__ import annotations

import time

import numpy as np

from pipeline import EMOTIONS
from pipeline.evaluation.probes import PROBE_MODELS, gender_probe, probe_accuracy, speaker_probe

DIM, PER_SPEAKER, CV_SPLITS = 96, 550, 5


def corpus(n_speakers: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    speakers = np.repeat([f"S{k}{'FM'[k % 2]}" for k in range(n_speakers)], PER_SPEAKER)
    genders = np.array([s[-1] for s in speakers])
    emotions = rng.choice(EMOTIONS, size=len(speakers), p=[0.2, 0.3, 0.3, 0.2])

    def term(codes: np.ndarray, scale: float) -> np.ndarray:
        values = np.unique(codes)
        return scale * rng.standard_normal((len(values), DIM))[np.searchsorted(values, codes)]

    v = term(emotions, 1.0) + term(genders, 0.5) + term(speakers, 0.3)
    return v + rng.standard_normal(v.shape), speakers, genders, emotions


def main() -> None:
    rng = np.random.default_rng(0)
    train_v, train_spk, train_gender, train_emo = corpus(8, rng)
    unseen_v, _, unseen_gender, unseen_emo = corpus(2, rng)
    total = 0.0
    for model in PROBE_MODELS:
        runs = {
            "speaker": lambda m=model: speaker_probe(
                train_v, train_spk, train_gender, train_emo, CV_SPLITS, 0, m
            ),
            "gender": lambda m=model: gender_probe(
                (train_v, train_gender, train_emo), (unseen_v, unseen_gender, unseen_emo), 0, m
            ),
            "emotion": lambda m=model: probe_accuracy(unseen_v, unseen_emo, CV_SPLITS, 0, m),
        }
        for name, run in runs.items():
            start = time.perf_counter()
            result = run()
            seconds = time.perf_counter() - start
            total += seconds
            accuracy, chance = 100 * result["accuracy"], 100 * result["chance"]
            print(
                f"{name:8s} {model:6s} n={result['n']:5d} accuracy {accuracy:5.1f} %"
                f" (chance {chance:4.1f} %)  {seconds:6.2f} s"
            )
    print(f"all probes of one (fold, seed) run: {total:.1f} s")


if __name__ == "__main__":
    main()
