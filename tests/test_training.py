"""Training: MEnAN's alternating steps, standardization, learning, determinism, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline import EMOTIONS, feature_store, training
from pipeline.batches import FrameStore
from pipeline.feature_store import Features
from pipeline.folds import make_folds
from pipeline.model import EmotionSpeakerNet
from pipeline.regimes import Trainer
from pipeline.training import TrainConfig, run_regime, train_fold, train_session

SPEAKERS = [f"Ses{s:02d}{g}" for s in range(1, 6) for g in "FM"]


def toy_corpus(per_speaker: int = 8, seed: int = 0) -> tuple[pd.DataFrame, Features, Features]:
    """Features where the emotion shifts channels 0-3 and the speaker shifts channels 10-19."""
    rng = np.random.default_rng(seed)
    rows, originals, copies = [], [], []
    for k, speaker in enumerate(SPEAKERS):
        for i in range(per_speaker):
            label = EMOTIONS[i % 4]
            utt = f"{speaker}_u{i:02d}"
            rows.append({"utt_id": utt, "speaker": speaker, "session": speaker[:5], "label": label})
            frames = rng.standard_normal((int(rng.integers(20, 90)), 43)).astype(np.float32)
            frames[:, EMOTIONS.index(label)] += 2.5
            frames[:, 10 + k] += 1.5
            originals.append((utt, 1.0, frames))
            copies.append((utt, 1.1, frames[::2] + 0.1))
    return pd.DataFrame(rows), _features(originals), _features(copies)


def _features(items: list[tuple[str, float, np.ndarray]]) -> Features:
    counts = [len(f) for _, _, f in items]
    return Features(
        utt_ids=np.array([u for u, _, _ in items], dtype=object),
        speeds=np.array([s for _, s, _ in items], dtype=np.float32),
        offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
        frames=np.concatenate([f for _, _, f in items]),
    )


def config(**overrides) -> TrainConfig:
    base = {
        "seed": 3, "epochs": 4, "batch_size": 16, "lr": 3e-3, "lr_decay_power": 1.0,
        "max_seconds": 0.5, "embedding": "pooled", "selection": "best_val_ua",
        "menan_sc_steps": 1, "device": "cpu", "lam": 0.5,
    }  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def test_menan_step_a_moves_only_sc_and_step_b_never_moves_sc() -> None:
    torch.manual_seed(0)
    net = EmotionSpeakerNet(4, 8)
    trainer = Trainer("menan", net, 0.5, 1e-2)
    x, emo, spk = torch.randn(8, 100, 43), torch.randint(0, 4, (8,)), torch.randint(0, 8, (8,))

    def snapshot(module):
        return [p.detach().clone() for p in module.parameters()]

    def changed(before, module) -> bool:
        return any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))

    enc, ec, sc = snapshot(net.enc), snapshot(net.ec), snapshot(net.sc)
    trainer.menan_speaker_step(net.enc(x), spk)
    assert changed(sc, net.sc) and not changed(enc, net.enc) and not changed(ec, net.ec)
    enc, ec, sc = snapshot(net.enc), snapshot(net.ec), snapshot(net.sc)
    trainer.menan_encoder_step(net.enc(x), emo, spk)
    assert changed(enc, net.enc) and changed(ec, net.ec) and not changed(sc, net.sc)
    assert all(p.requires_grad for p in net.sc.parameters())  # unfrozen again


def test_ec_only_never_trains_the_speaker_classifier() -> None:
    net = EmotionSpeakerNet(4, 8)
    before = [p.detach().clone() for p in net.sc.parameters()]
    Trainer("ec_only", net, 0.5, 1e-2).step(
        torch.randn(4, 80, 43), torch.tensor([0, 1, 2, 3]), torch.zeros(4, dtype=torch.long)
    )
    assert all(torch.equal(a, b) for a, b in zip(before, net.sc.parameters(), strict=True))


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


def test_crop_and_cycle_repeat_indices() -> None:
    _, originals, _ = toy_corpus()
    store = FrameStore.combine(originals)
    n = store.n_frames
    long_row, short_row = int(np.argmax(n)), int(np.argmin(n))
    index = store.frame_index(np.array([long_row, short_row]), 30)
    start = store.offsets[long_row] + (n[long_row] - 30) // 2
    np.testing.assert_array_equal(index[0], np.arange(start, start + 30))
    cycle = store.offsets[short_row] + np.arange(30) % n[short_row]
    np.testing.assert_array_equal(index[1], cycle)


@pytest.mark.parametrize("regime", ["ec_only", "menan"])
def test_tiny_training_learns_a_separable_task(regime: str) -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    fold = make_folds(labels)[2]
    out = train_fold(store, labels, fold, regime, config(epochs=15))
    assert out["results"]["test_wa"] > 0.7, out["results"]  # chance: 0.25
    test = out["predictions"][out["predictions"]["split"] == "test"]
    assert set(test["speaker"]) == {fold["test"]} and len(test) == 8
    assert len(out["curve"]) == 15 and out["embeddings"]["val"][1].shape == (8, 96)


def test_same_seed_same_model() -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    fold = make_folds(labels)[0]
    a = train_fold(store, labels, fold, "dat", config(epochs=2))
    b = train_fold(store, labels, fold, "dat", config(epochs=2))
    for key, tensor in a["state"].items():
        torch.testing.assert_close(tensor, b["state"][key], rtol=0, atol=0)
    assert a["curve"] == b["curve"]  # no wall-clock values in outputs
    pd.testing.assert_frame_equal(a["predictions"], b["predictions"])


def test_one_run_serves_both_folds_of_a_session() -> None:
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    store = FrameStore.combine(originals, copies)
    folds = make_folds(labels)
    first, second = folds[4:6]
    assert first["session"] == second["session"] and first["test"] == second["val"]
    shared = train_session(store, labels, [first, second], "menan", config(epochs=3))
    for fold, out in zip((first, second), shared, strict=True):
        alone = train_fold(store, labels, fold, "menan", config(epochs=3))
        for key, tensor in alone["state"].items():
            torch.testing.assert_close(tensor, out["state"][key], rtol=0, atol=0)
        pd.testing.assert_frame_equal(alone["predictions"], out["predictions"])
        assert alone["curve"] == out["curve"] and alone["results"] == out["results"]
    # without a selection step, one fold's test speaker is the other's validation speaker
    a, b = train_session(store, labels, [first, second], "dat", config(epochs=2, selection="last"))
    assert a["results"]["test_ua"] == b["results"]["val_ua"]
    assert a["results"]["val_ua"] == b["results"]["test_ua"]
    with pytest.raises(ValueError, match="do not share one session"):
        train_session(store, labels, [folds[0], folds[2]], "menan", config(epochs=1))


def _write_inputs(tmp: Path) -> tuple[Path, list[Path], Path]:
    labels, originals, copies = toy_corpus(per_speaker=4)
    labels["correct"] = labels["label"].map(lambda x: [x])
    labels_path = tmp / "labels.parquet"
    labels.to_parquet(labels_path)
    paths = []
    for name, table in (("f", originals), ("s", copies)):
        path = tmp / f"{name}.parquet"
        with feature_store.feature_writer(path, {}) as writer:
            for i in range(len(table)):
                writer.add(str(table.utt_ids[i]), float(table.speeds[i]), table.utterance(i))
        paths.append(path)
    folds_path = tmp / "folds.json"
    folds_path.write_text(json.dumps(make_folds(labels)))
    return labels_path, paths, folds_path


def test_resume_reuses_finished_folds_and_respects_fold_choice(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(training, "CACHE_ROOT", tmp_path / "cache")
    labels_path, paths, folds_path = _write_inputs(tmp_path)
    train = {
        "seed": 1, "epochs": 1, "batch_size": 16, "lr": 1e-3, "lr_decay_power": 1.0,
        "max_seconds": 0.3, "embedding": "pooled", "selection": "best_val_ua",
        "menan_sc_steps": 1, "device": "cpu", "folds": [0, 3],
    }  # fmt: skip
    params = {"lambda": 0.5, "train": train}
    out = tmp_path / "out"
    summaries = run_regime("menan", params, labels_path, paths, folds_path, out, 1)
    assert [s["fold"] for s in summaries] == [0, 3]
    assert sorted(p.name for p in out.iterdir()) == ["fold00", "fold03"]
    for name in ("model.pt", "predictions.parquet", "embeddings.npz", "curve.json", "fold.json"):
        assert (out / "fold03" / name).is_file()
    cached = sorted((tmp_path / "cache" / "menan").iterdir())
    stamps = {p: (p / "model.pt").stat().st_mtime_ns for p in cached}
    run_regime("menan", params, labels_path, paths, folds_path, out, 1)  # nothing to redo
    assert {p: (p / "model.pt").stat().st_mtime_ns for p in cached} == stamps
    params["lambda"] = 0.3  # a new setting trains anew, next to the old results
    run_regime("menan", params, labels_path, paths, folds_path, out, 1)
    assert len(list((tmp_path / "cache" / "menan").iterdir())) == 4
    monkeypatch.setattr(training, "code_digest", lambda: "changed training code")
    run_regime("menan", params, labels_path, paths, folds_path, out, 1)  # never stale results
    assert len(list((tmp_path / "cache" / "menan").iterdir())) == 6
    params["train"]["folds"] = [12]
    with pytest.raises(Exception, match="no folds"):
        run_regime("menan", params, labels_path, paths, folds_path, out, 1)
