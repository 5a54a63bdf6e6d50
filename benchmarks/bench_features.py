"""Benchmark: real-time factor of each part of the front end, compression choice, load rate.

    python benchmarks/bench_features.py [--quick]

RTF = compute seconds per second of audio on one core (BLAS limited to one thread,
n_jobs=1); the goal is RTF <= 0.0033 (300x faster than real time) for the whole front end.
Input: the demo IEMOCAP corpus written with params.yaml's demo settings.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from pipeline.data.corpora import prepare_corpus
from pipeline.data.demo.corpora import IEMOCAP_DIR, write_demo
from pipeline.features import store as feature_store
from pipeline.features.audio import SAMPLE_RATE, load_segment, speed_perturb
from pipeline.features.channels import (
    align_pitch,
    fill_unvoiced,
    frames_of,
    log_energy,
    log_mel,
    nccf,
    rapt_isolated,
)
from pipeline.features.extract import extract_table
from pipeline.features.frontend import Paper43
from pipeline.features.spec import CHANNELS, PitchRange
from pipeline.params import load_params

SPEEDS = (0.8, 0.9, 1.1, 1.2)
IEMOCAP_UTTERANCES = 5_531
IEMOCAP_FRAMES = 2_520_000  # ~7 h of kept IEMOCAP audio at 100 frames/s


def clock(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def row(name: str, seconds: float, audio_seconds: float) -> None:
    print(f"  {name:<34s} {seconds:8.3f} s   RTF {seconds / audio_seconds:.5f}")


def part_timings(signals: list[np.ndarray], decode_s: float, tmp: Path) -> None:
    audio_s = sum(len(s) for s in signals) / SAMPLE_RATE
    print(f"parts, one core, {len(signals)} utterances, {audio_s:.0f} s of audio")
    row("decode WAV", decode_s, audio_s)
    resampled: list[np.ndarray] = []
    seconds = clock(lambda: resampled.extend(speed_perturb(s, f) for s in signals for f in SPEEDS))
    row("speed resampling (soxr HQ, 4 copies)", seconds / len(SPEEDS), audio_s)
    frames = [frames_of(s) for s in signals]
    row("log-Mel (40)", clock(lambda: [log_mel(f) for f in frames]), audio_s)
    row("log energy", clock(lambda: [log_energy(f) for f in frames]), audio_s)
    tracks: list[np.ndarray] = []
    seconds = clock(lambda: tracks.extend(rapt_isolated([s], PitchRange())[0] for s in signals))
    row("f0 (RAPT, one fork per utterance)", seconds, audio_s)
    f0 = [fill_unvoiced(align_pitch(t, len(f))) for t, f in zip(tracks, frames, strict=True)]
    row(
        "NCCF at the f0 period",
        clock(lambda: [nccf(s, p) for s, p in zip(signals, f0, strict=True)]),
        audio_s,
    )
    feats = [np.zeros((len(f), len(CHANNELS)), np.float32) for f in frames]

    def write() -> None:
        with feature_store.feature_writer(tmp / "w.parquet", {}) as writer:
            for i, f in enumerate(feats):
                writer.add(str(i), 1.0, f)

    row("Parquet write (zstd-1)", clock(write), audio_s)


def stage_timings(labels, tmp: Path) -> None:
    audio_s = float((labels["end_s"] - labels["start_s"]).sum())
    print("whole stages, n_jobs=1 (process start-up excluded)")
    seconds = clock(
        lambda: extract_table(labels, tmp / "f.parquet", [1.0], Paper43(PitchRange()), 1, {})
    )
    row("features (original audio)", seconds, audio_s)
    speed_audio = audio_s * sum(1 / f for f in SPEEDS)
    seconds = clock(
        lambda: extract_table(labels, tmp / "s.parquet", list(SPEEDS), Paper43(PitchRange()), 1, {})
    )
    row("augment (4 speed copies)", seconds, speed_audio)


def compression_choice(tmp: Path, source: Path) -> None:
    table = pq.read_table(source)
    print(f"compression of the demo speed features ({table.num_rows} rows)")
    for codec, level in (("none", None), ("snappy", None), ("lz4", None), ("zstd", 1), ("zstd", 3)):
        target = tmp / f"c_{codec}{level}.parquet"
        write = clock(
            lambda t=target, c=codec, v=level: pq.write_table(
                table, t, compression=c, compression_level=v
            )
        )
        read = min(clock(lambda t=target: feature_store.load(t)) for _ in range(3))
        name = f"{codec}{'' if level is None else '-' + str(level)}"
        size = target.stat().st_size / 2**20
        print(f"  {name:<8s} {size:7.1f} MiB   write {write:6.3f} s   load {read:6.3f} s")


def load_rate(tmp: Path, utterances: int, total_frames: int, name: str) -> None:
    rng = np.random.default_rng(0)
    lengths = rng.multinomial(total_frames - utterances, np.ones(utterances) / utterances) + 1
    target = tmp / f"{name}.parquet"
    with feature_store.feature_writer(target, {}) as writer:
        for i, n in enumerate(lengths):
            writer.add(f"u{i}", 1.0, rng.standard_normal((n, len(CHANNELS)), dtype=np.float32))
    seconds = min(clock(lambda: feature_store.load(target)) for _ in range(3))
    size = target.stat().st_size / 2**30
    print(f"  {name:<34s} {total_frames:>11,d} frames  {size:5.2f} GiB  load {seconds:6.2f} s  "
          f"{total_frames / seconds / 1e6:6.1f} M frames/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the IEMOCAP-size load test")
    args = parser.parse_args()
    params = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    with tempfile.TemporaryDirectory() as tmp_name, threadpool_limits(1):
        tmp = Path(tmp_name)
        write_demo(tmp / "demo", params["demo"], n_jobs=-1)
        labels, _ = prepare_corpus(
            "iemocap", {"format": "iemocap", "root": str(tmp / "demo" / IEMOCAP_DIR)}
        )
        paths = list(labels["audio_path"])
        signals: list[np.ndarray] = []
        decode = clock(lambda: signals.extend(load_segment(p) for p in paths))
        part_timings(signals, decode, tmp)
        stage_timings(labels, tmp)
        compression_choice(tmp, tmp / "s.parquet")
        print("feature table load rate (synthetic, zstd-1)")
        load_rate(tmp, len(labels), sum(len(frames_of(s)) for s in signals), "demo IEMOCAP")
        if not args.quick:
            load_rate(tmp, IEMOCAP_UTTERANCES, IEMOCAP_FRAMES, "IEMOCAP size (5,531 utt, ~7 h)")


if __name__ == "__main__":
    main()
