"""Training: MEnAN's alternating steps, standardization, learning, determinism, resuming."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.data.folds import make_folds
from pipeline.features.frame_store import FrameStore
from pipeline.model.run_files import FoldResult
from pipeline.model.scoring import DeviceFrames
from pipeline.runtime.errors import ConfigError, NonFiniteError
from pipeline.training import driver
from pipeline.training.driver import plan_runs, run_regime
from pipeline.training.pack import Run
from pipeline.training.run import train_pack
from tests.helpers import (
    Interrupted,
    stage_config,
    stop_at,
    toy_config,
    toy_corpus,
    write_stage_inputs,
)


def session_run(folds: list[dict], session_index: int, seed: int = 3, *which: int) -> Run:
    """The run of the ``session_index``-th session (both folds unless ``which`` picks)."""
    pair = folds[2 * session_index : 2 * session_index + 2]
    chosen = tuple(pair[i] for i in which) if which else tuple(pair)
    return Run(pair[0]["session"], seed, chosen)


def assert_same_outputs(a: FoldResult, b: FoldResult, atol: float = 0.0) -> None:
    for key, tensor in a.state.items():
        torch.testing.assert_close(tensor, b.state[key], rtol=0, atol=atol)
    if atol == 0:
        pd.testing.assert_frame_equal(a.predictions, b.predictions)
        assert a.curve == b.curve and a.results == b.results


def test_standardization_uses_training_speakers_only() -> None:
    labels, originals, copies = toy_corpus()
    held_out = np.isin(
        originals.utt_ids, labels[labels["speaker"].isin(["Ses01F", "Ses01M"])]["utt_id"]
    )
    per_row = np.repeat(held_out, np.diff(originals.offsets))
    originals.frames[per_row] += 1000.0  # validation/test speakers far away
    store = FrameStore.combine(originals, copies)
    fold = make_folds(labels)[0]
    rows = store.rows_for(
        labels[labels["speaker"].isin(fold["train"])]["utt_id"], originals_only=False
    )
    mean, std = store.standardization(rows)
    train_frames = np.concatenate(
        [store.frames[store.offsets[r] : store.offsets[r + 1]] for r in rows]
    )
    np.testing.assert_allclose(mean, train_frames.mean(axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std, train_frames.std(axis=0), rtol=1e-3)
    assert np.abs(mean).max() < 10  # untouched by the +1000 of the held-out speakers


def test_crop_and_cycle_repeat() -> None:
    _, originals, _ = toy_corpus()
    store = FrameStore.combine(originals)
    n = store.n_frames
    long_row, short_row = int(np.argmax(n)), int(np.argmin(n))
    crops = DeviceFrames(store, "cpu").crops(torch.tensor([[long_row, short_row]]), 30)[0]
    start = store.offsets[long_row] + (n[long_row] - 30) // 2
    np.testing.assert_array_equal(crops[0].numpy(), store.frames[start : start + 30])
    cycle = store.offsets[short_row] + np.arange(30) % n[short_row]
    np.testing.assert_array_equal(crops[1].numpy(), store.frames[cycle])


@pytest.mark.parametrize("regime", ["ec_only", "menan"])
def test_tiny_training_learns_a_separable_task(regime: str) -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    folds = make_folds(labels)
    runs = [session_run(folds, 1, 3, 0)]
    [[out]] = train_pack(store, labels, runs, regime, toy_config(epochs=15))
    assert out.results["test_wa"] > 0.7, out.results  # chance: 0.25
    test = out.predictions[out.predictions["split"] == "test"]
    assert set(test["speaker"]) == {folds[2]["test"]} and len(test) == 8
    assert len(out.curve) == 15 and out.embeddings["val"][1].shape == (8, 96)


def test_same_seed_same_model_and_seeds_differ() -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    folds = make_folds(labels)
    [[a]] = train_pack(store, labels, [session_run(folds, 0, 3, 0)], "dat", toy_config(epochs=2))
    [[b]] = train_pack(store, labels, [session_run(folds, 0, 3, 0)], "dat", toy_config(epochs=2))
    assert_same_outputs(a, b)  # no wall-clock values in outputs either
    [[c]] = train_pack(store, labels, [session_run(folds, 0, 4, 0)], "dat", toy_config(epochs=2))
    assert not torch.equal(a.state["enc.gru.weight_hh_l0"], c.state["enc.gru.weight_hh_l0"])


def test_one_run_serves_both_folds_of_a_session() -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    folds = make_folds(labels)
    first, second = folds[4:6]
    assert first["session"] == second["session"] and first["test"] == second["val"]
    [shared] = train_pack(store, labels, [session_run(folds, 2)], "menan", toy_config(epochs=3))
    for which, out in enumerate(shared):
        [[alone]] = train_pack(
            store, labels, [session_run(folds, 2, 3, which)], "menan", toy_config(epochs=3)
        )
        assert_same_outputs(alone, out)
    # without a selection step, one fold's test speaker is the other's validation speaker
    cfg = toy_config(epochs=2, selection="last")
    [[a, b]] = train_pack(store, labels, [session_run(folds, 2)], "dat", cfg)
    assert a.results["test_ua"] == b.results["val_ua"]
    assert a.results["val_ua"] == b.results["test_ua"]


@pytest.mark.parametrize("regime", ["ec_only", "multitask", "dat", "menan"])
def test_packed_runs_equal_separate_runs(regime: str) -> None:
    """Three runs of unequal size in one pack against each run alone.

    Tolerance 1e-5 on the weights: a packed run executes the same operations on the same
    numbers, but a batched matmul over R runs may pick a different kernel (summation order)
    than over one, and Adam divides by sqrt(v) + 1e-8, which lets a 1-ulp difference in a
    tiny gradient grow over steps. Measured on the development machine: bit-identical.
    """
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    labels = labels[~((labels["speaker"] == "Ses03F") & labels["utt_id"].str.endswith("7"))]
    store = FrameStore.combine(originals, copies)
    runs = plan_runs(make_folds(labels), [3, 4])[:3]
    sizes = {len(labels[labels["speaker"].isin(r.folds[0]["train"])]) for r in runs}
    assert len(sizes) == 2  # a shorter run waits, untouched, while the others step
    cfg = toy_config(epochs=3)
    packed = train_pack(store, labels, runs, regime, cfg)
    for run, per_fold in zip(runs, packed, strict=True):
        [alone] = train_pack(store, labels, [run], regime, cfg)
        for a, b in zip(alone, per_fold, strict=True):
            assert_same_outputs(a, b, atol=1e-5)
            assert a.results["selected_epoch"] == b.results["selected_epoch"]


def test_interrupted_pack_resumes_from_its_last_epoch(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    runs = plan_runs(make_folds(labels), [3])[:2]
    cfg = toy_config(epochs=4)
    uninterrupted = train_pack(store, labels, runs, "menan", cfg)

    state = tmp_path / "pack.state.pt"
    with pytest.raises(Interrupted):
        train_pack(store, labels, runs, "menan", cfg, state, stop_at("epoch 3/4"))
    seen: list[str] = []
    sent: list[list[dict]] = []

    def record(line: str, done: int, rows: list) -> None:
        seen.append(line)
        sent.append(rows)

    resumed = train_pack(store, labels, runs, "menan", cfg, state, record)
    assert seen[0].endswith("resuming after epoch 2")
    # the resume re-sends the curves so far (2 runs x 2 folds x 2 epochs), then each run
    # its own folds' row of every new epoch, with what the live curves need
    assert len(sent[0]) == 8 and {r["epoch"] for r in sent[0]} == {1, 2}
    assert [(len(rows), {r["epoch"] for r in rows}) for rows in sent[1:]] == [
        (2, {3}),
        (2, {3}),
        (2, {4}),
        (2, {4}),
    ]
    assert {r["seed"] for r in sent[1]} == {3} and {r["speakers"] for r in sent[1]} == {8}
    assert [line.split(": ")[0].split()[-1] for line in seen[1:]] == ["3/4", "3/4", "4/4", "4/4"]
    for a_run, b_run in zip(uninterrupted, resumed, strict=True):
        for a, b in zip(a_run, b_run, strict=True):
            assert_same_outputs(a, b)


def test_stage_driver_caches_packs_and_writes_per_fold_and_seed(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(driver, "CACHE_ROOT", tmp_path / "cache")
    labels_path, paths, folds_path = write_stage_inputs(tmp_path)
    cfg = stage_config(seeds=[1, 5])
    out, plot = tmp_path / "out", tmp_path / "plot.json"
    summaries = run_regime("menan", cfg, labels_path, paths, folds_path, out, 1, plot)
    assert [(s["fold"], s["seed"]) for s in summaries] == [(0, 1), (0, 5), (3, 1), (3, 5)]
    assert sorted(str(p.relative_to(out)) for p in out.glob("*/*")) == [
        "fold00/seed1", "fold00/seed5", "fold03/seed1", "fold03/seed5",
    ]  # fmt: skip
    for name in ("model.pt", "predictions.parquet", "embeddings.npz", "curve.json", "fold.json"):
        assert (out / "fold03" / "seed5" / name).is_file()
    curve = json.loads(plot.read_text())  # one row per epoch: the mean of the 4 (fold, seed)
    assert [(r["epoch"], r["runs"], r["speaker_chance"]) for r in curve] == [(1, 4, 12.5)]
    assert curve[0]["log_k"] == round(math.log(8), 3)
    cache = tmp_path / "cache" / "menan"
    # 4 runs (2 sessions x 2 seeds) in packs of 2; finished packs keep no training state
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 2
    assert not list(cache.glob("*.state.pt"))
    assert len(list((tmp_path / "cache").glob("frames-*[0-9a-f].npy"))) == 1  # shared memory map
    stamps = {p: p.stat().st_mtime_ns for p in cache.rglob("model.pt")}
    run_regime("menan", cfg, labels_path, paths, folds_path, out, 1, plot)  # nothing to redo
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("model.pt")} == stamps
    cfg = stage_config(lam=0.3, seeds=[1, 5])  # a new setting trains anew, beside the old
    run_regime("menan", cfg, labels_path, paths, folds_path, out, 1, plot)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 4
    monkeypatch.setattr(driver, "code_digest", lambda: "changed training code")
    run_regime("menan", cfg, labels_path, paths, folds_path, out, 1, plot)  # never stale results
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 6


def test_fold_indices_are_checked_against_the_folds_file(tmp_path: Path) -> None:
    """Types and ranges of every setting are pipeline.params' job (tests/test_params.py);
    only whether fold 12 exists needs the folds file."""
    labels_path, paths, folds_path = write_stage_inputs(tmp_path)
    cfg = stage_config(folds=[12])
    with pytest.raises(ConfigError, match=r"train.folds: no folds \[12\] \(there are 10\)"):
        run_regime("menan", cfg, labels_path, paths, folds_path, tmp_path / "out", 1,
                   tmp_path / "plot.json")  # fmt: skip


def test_non_finite_standardization_stops_before_training_and_names_the_run() -> None:
    labels, originals, copies = toy_corpus()
    run = session_run(make_folds(labels), 0)
    utt = labels[labels["speaker"] == run.folds[0]["train"][0]]["utt_id"].iloc[0]
    row = int(np.flatnonzero(originals.utt_ids == utt)[0])
    originals.frames[originals.offsets[row] + 2, 5] = np.inf
    store = FrameStore.combine(originals, copies)
    with pytest.raises(NonFiniteError, match=rf"run {run.name} \(fold 0, 1\), before epoch 1: "):
        train_pack(store, labels, [run], "menan", toy_config(epochs=1))
