"""Measurement: what telephone-band audio does to a released model's answers.

    python benchmarks/bench_low_rate.py [--models models] [--audio data/demo/IEMOCAP_full_release]
                                        [--rates 8000 11025] [--work /tmp/menan-bench-low-rate]

For every released model (``models/<regime>``, from ``dvc repro``) and every WAV under
``--audio``: each file is resampled to each rate in ``--rates`` (soxr HQ, as a telephone
line or an 8 kHz archive would hold it) and scored with ``allow_low_rate``; the answer is
compared with the one for the original. Prints, per regime and rate, how many answers
change and the mean probability of the predicted class on the originals and the copies.
``docs/inference.md`` quotes the figures; they decide why ``menan`` refuses audio below
16 kHz unless ``--allow-low-rate`` is given.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import soundfile as sf

from pipeline.features.audio import resample
from pipeline.inference.emotion_model import EmotionModel
from pipeline.regimes import REGIMES

PROBS = ["prob_ang", "prob_hap", "prob_neu", "prob_sad"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--audio", type=Path, default=Path("data/demo/IEMOCAP_full_release"))
    parser.add_argument("--rates", type=int, nargs="+", default=[8000, 11025])
    parser.add_argument("--work", type=Path, default=Path("/tmp/menan-bench-low-rate"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # one flag warning per copy would drown the table
    files = sorted(args.audio.rglob("*.wav"))
    shutil.rmtree(args.work, ignore_errors=True)
    copies: dict[int, list[Path]] = {}
    for rate in args.rates:
        copies[rate] = []
        for k, path in enumerate(files):
            audio, native = sf.read(path, dtype="float32")
            target = args.work / str(rate) / f"{k:04d}_{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(target, resample(audio, native, rate), rate, subtype="PCM_16")
            copies[rate].append(target)
    print(f"{len(files)} files from {args.audio}; answers of the resampled copies against the "
          "originals'")  # fmt: skip
    print("regime     rate    changed   p(pred) original   p(pred) copy")
    for regime in REGIMES:
        model = EmotionModel.load(args.models / regime, "cpu")
        original = _means(model.predict(files, progress=False, n_jobs=-1))
        for rate, paths in copies.items():
            copy = _means(model.predict(paths, allow_low_rate=True, progress=False, n_jobs=-1))
            changed = int((original["predicted"].to_numpy() != copy["predicted"].to_numpy()).sum())
            print(f"{regime:10s} {rate:5d}  {changed:4d}/{len(files):<4d}  "
                  f"{original[PROBS].max(axis=1).mean():14.3f}   "
                  f"{copy[PROBS].max(axis=1).mean():12.3f}")  # fmt: skip


def _means(table):
    """Each recording's mean row, in input order."""
    return table[table["window"] == -1].reset_index(drop=True)


if __name__ == "__main__":
    main()
