"""The training curves of the plot files: one row per epoch, mean and spread over runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pipeline.training.curves import LiveCurves, aggregate


def _row(seed: int, fold: int, epoch: int, val_ua: float, **logged: float) -> dict:
    return {"seed": seed, "fold": fold, "epoch": epoch, "val_ua": val_ua, "speakers": 8,
            "ce_emo": 1.0, **logged}  # fmt: skip


def test_each_epoch_is_the_mean_and_sd_over_runs_in_percent() -> None:
    rows = [
        _row(1, 0, 1, 0.5, sc_acc=0.25, entropy=2.0),
        _row(1, 1, 1, 0.7, sc_acc=0.75, entropy=1.0),
        _row(1, 0, 2, 0.6, sc_acc=0.5, entropy=1.5),
    ]
    first, second = aggregate(rows)
    assert first["epoch"] == 1 and first["runs"] == 2
    assert first["val_ua"] == pytest.approx(60.0) and first["val_ua_sd"] == pytest.approx(14.142)
    assert first["speaker_acc"] == pytest.approx(50.0)
    assert first["speaker_chance"] == 12.5 and first["log_k"] == round(math.log(8), 3)
    assert first["entropy"] == 1.5 and first["emotion_loss"] == 1.0
    assert (second["runs"], second["val_ua"], second["val_ua_sd"]) == (1, 60.0, 0.0)


def test_a_regime_without_a_speaker_classifier_has_no_speaker_columns() -> None:
    (row,) = aggregate([_row(1, 0, 1, 0.5)])
    assert set(row) == {"epoch", "runs", "val_ua", "val_ua_sd", "emotion_loss",
                        "emotion_loss_sd"}  # fmt: skip


def test_live_curves_keep_each_row_once_and_rewrite_the_file(tmp_path: Path) -> None:
    target = tmp_path / "plot.json"
    live = LiveCurves(target)
    assert json.loads(target.read_text()) == []  # visible from the start of the stage
    live.add([_row(1, 0, 1, 0.5)])
    live.add([_row(1, 0, 1, 0.5), _row(1, 0, 2, 0.9)])  # a resume re-sends epoch 1
    assert [(r["epoch"], r["runs"]) for r in json.loads(target.read_text())] == [(1, 1), (2, 1)]
