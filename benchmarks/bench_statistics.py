"""Benchmark: how well the report's intervals and its family of comparisons are calibrated.

    python benchmarks/bench_statistics.py [--reps 4000]

A null simulation in the protocol's shape (pipeline/evaluation/calibration.py: five sessions
of two speakers trained on the other eight, or leave-one-speaker-out on ten speakers; three
seeds, four regimes with no true difference): for several splits of a difference's variance
into a training-set part (shared by units through their common training speakers), a
test-speaker part and seed noise, it prints the coverage of a 95 % interval of a null
difference for each method, the share of simulated studies in which the report would
confirm any of its 20 comparisons, and the coverage of the in-sample speaker probe's
interval with the held-out share and with the in-sample share the report uses.
"""

from __future__ import annotations

import argparse

from pipeline.evaluation.calibration import (
    Null,
    coverage,
    family_false_positive_rate,
    probe_coverage,
)

LOSO = "leave_one_speaker_out"

SCENARIOS = {
    "demo-like (2, 3, 4)": Null(),
    "no training-set part (0, 4, 6)": Null(sd_train=0.0, sd_test=4.0, sd_seed=6.0),
    "training-set part as large as test (4, 4, 4)": Null(sd_train=4.0, sd_test=4.0),
    "training-set part dominant (6, 0, 2)": Null(sd_train=6.0, sd_test=0.0, sd_seed=2.0),
    "demo-like, 8 sessions": Null(sessions=8),
    "LOSO, 10 speakers, demo-like (2, 3, 4)": Null(protocol=LOSO),
    "LOSO, 10 speakers, training-set dominant (6, 0, 2)": Null(
        sd_train=6.0, sd_test=0.0, sd_seed=2.0, protocol=LOSO
    ),
    "LOSO, 24 speakers, demo-like (2, 3, 4)": Null(protocol=LOSO, speakers=24),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=4000)
    args = parser.parse_args()
    print(f"{args.reps} simulated studies per row; coverage of 95 % intervals of a null "
          "difference; family: 4 comparisons x 5 measures, Holm-adjusted corrected t")  # fmt: skip
    header = ("scenario (sd train, test, seed)", "plain t", "corrected t", "bootstrap",
              "family FPR", "probe, held-out", "probe, in-sample")  # fmt: skip
    print("  {:<52s} {:>8s} {:>12s} {:>10s} {:>11s} {:>16s} {:>17s}".format(*header))
    for name, null in SCENARIOS.items():
        found = coverage(null, args.reps)
        rate = family_false_positive_rate(null, args.reps // 4)
        plain, corrected, boot = found.values()
        held, in_sample = probe_coverage(null, args.reps).values()
        print(f"  {name:<52s} {plain:8.3f} {corrected:12.3f} {boot:10.3f} {rate:11.3f} "
              f"{held:16.3f} {in_sample:17.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
