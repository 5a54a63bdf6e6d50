"""The erasure regimes: LEACE's guarantee on constructed embeddings, the kernel eraser on a
quadratic trace, and the stages on a really trained EC-only regime, whose eraser never
reads a validation or test speaker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from concept_erasure import LeaceFitter

from pipeline.evaluation.probes import PROBE_MODELS
from pipeline.features import store as feature_store
from pipeline.features.frame_cache import open_frames
from pipeline.features.spec import PitchRange, settings
from pipeline.inference.emotion_model import EmotionModel
from pipeline.model import run_files
from pipeline.model.network import Eraser
from pipeline.model.scoring import DeviceFrames, FoldModel, Inputs, predict
from pipeline.params import EraseSettings
from pipeline.runtime.errors import ModelError
from pipeline.training.erasure import erase_run, fit_eraser
from tests.helpers import REPO, TRAIN, write_params, write_stage_inputs

SPEAKERS, EMOTION_CLASSES = 8, 4


def _probe(kind: str, fit: tuple[np.ndarray, np.ndarray], score: tuple[np.ndarray, np.ndarray]
           ) -> float:  # fmt: skip
    """A fresh probe of the report's kind, fitted on ``fit`` and scored on ``score`` (%)."""
    model = PROBE_MODELS[kind]().fit(*fit)
    return 100 * float(np.mean(model.predict(score[0]) == score[1]))


def _apply(eraser: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return eraser(torch.from_numpy(x.astype(np.float32))).numpy()


def _linear_world(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Speakers shift 12 channels, emotions 12 others, plus noise: both linearly there."""
    speaker_means = np.random.default_rng(1).normal(size=(SPEAKERS, 12))
    emotion_means = np.random.default_rng(2).normal(size=(EMOTION_CLASSES, 12))
    speaker = np.repeat(np.arange(SPEAKERS), n)
    emotion = rng.integers(0, EMOTION_CLASSES, len(speaker))
    v = np.concatenate([speaker_means[speaker], emotion_means[emotion]], axis=1)
    return v + rng.normal(size=v.shape), speaker, emotion


def test_leace_leaves_held_out_speakers_at_chance_and_emotion_as_it_was() -> None:
    rng = np.random.default_rng(0)
    (v, speaker, emotion), (v_new, speaker_new, emotion_new) = (
        _linear_world(400, rng),
        _linear_world(1000, rng),  # new utterances, same speakers
    )
    eraser = fit_eraser(v, speaker, SPEAKERS, 0, [1, 2])
    erased, erased_new = _apply(eraser, v), _apply(eraser, v_new)
    chance = 100 / SPEAKERS
    assert _probe("linear", (v, speaker), (v_new, speaker_new)) > 80  # there before
    assert abs(_probe("linear", (erased, speaker), (erased_new, speaker_new)) - chance) <= 1
    before = _probe("linear", (v, emotion), (v_new, emotion_new))
    after = _probe("linear", (erased, emotion), (erased_new, emotion_new))
    assert before > 90 and abs(after - before) <= 1


def test_the_folded_linear_layer_is_the_librarys_eraser() -> None:
    v, speaker, _ = _linear_world(100, np.random.default_rng(3))
    ours = fit_eraser(v, speaker, SPEAKERS, 0, [1, 2])
    x = torch.from_numpy(v)
    theirs = LeaceFitter.fit(x, torch.nn.functional.one_hot(torch.from_numpy(speaker)).double())
    expected = theirs.eraser(x).numpy()
    np.testing.assert_allclose(_apply(ours, v), expected, atol=1e-4)
    assert not np.allclose(expected, v, atol=1e-2)  # it did change v


def _quadratic_world(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Four speakers with the same means and different spreads on 4 channels: no linear
    probe can tell them apart, a quadratic one can; emotions shift 4 other channels."""
    scales = np.array([0.5, 1.0, 1.6, 2.4])
    speaker = np.repeat(np.arange(4), n)
    emotion = rng.integers(0, EMOTION_CLASSES, len(speaker))
    v = rng.normal(size=(len(speaker), 16))
    v[:, :4] *= scales[speaker][:, None]
    v[:, 4:8] += 2 * np.eye(EMOTION_CLASSES)[emotion]
    return v, speaker, emotion


def test_the_kernel_eraser_removes_the_quadratic_trace_leace_leaves() -> None:
    rng = np.random.default_rng(4)
    v, speaker, _ = _quadratic_world(300, rng)
    v_new, speaker_new, _ = _quadratic_world(300, rng)
    chance = 25.0
    leace = fit_eraser(v, speaker, 4, 0, [1, 2])
    kernel = fit_eraser(v, speaker, 4, 512, [1, 2])

    def in_the_kernels_features(x: np.ndarray) -> np.ndarray:
        """The nonlinear probe: a linear one on the kernel eraser's random Fourier features
        (kernel logistic regression with its RBF kernel)."""
        with torch.no_grad():
            return kernel.lift(torch.from_numpy(x.astype(np.float32))).numpy()

    on_v = _apply(leace, v), _apply(leace, v_new)
    assert abs(_probe("linear", (on_v[0], speaker), (on_v[1], speaker_new)) - chance) <= 2
    lifted = in_the_kernels_features(on_v[0]), in_the_kernels_features(on_v[1])
    assert _probe("linear", (lifted[0], speaker), (lifted[1], speaker_new)) > chance + 10
    erased = _apply(kernel, v), _apply(kernel, v_new)
    assert abs(_probe("linear", (erased[0], speaker), (erased[1], speaker_new)) - chance) <= 3
    # the limit docs/protocol.md states: a probe with another kernel still finds it
    assert _probe("kernel", (erased[0], speaker), (erased[1], speaker_new)) > chance + 10


def _train_ec_only(root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DVC_NO_ANALYTICS": "1"}
    args = ["ec_only", "labels.parquet", "f.parquet", "s.parquet", "folds.json", "base",
            "base.json"]  # fmt: skip
    subprocess.run([sys.executable, "-m", "stages.train", *args], cwd=root, env=env, check=True,
                   capture_output=True)  # fmt: skip


@pytest.fixture(scope="module")
def base_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Toy features, folds 0 and 3, EC only trained 3 epochs on them."""
    root = tmp_path_factory.mktemp("erase")
    write_stage_inputs(root, per_speaker=8)
    write_params(root, {"n_jobs": 1, "train": {**TRAIN, "epochs": 3, "max_seconds": 1.0},
                        "erase": {"epochs": 4, "kernel_features": 64}})  # fmt: skip
    _train_ec_only(root)
    return root


def _erase(root: Path, regime: str, features: str = "f.parquet") -> dict:
    """One erasure run (fold 0, seed 1) in process: its result and the eraser's state."""
    store = open_frames([root / features, root / "s.parquet"], root / f"cache-{features}")
    folds = {f["fold"]: f for f in json.loads((root / "folds.json").read_text())}
    labels = pd.read_parquet(root / "labels.parquet")
    base = run_files.run_dir(root / "base", 0, 1)
    result, config = erase_run(regime, base, folds[0], store, DeviceFrames(store, "cpu"),
                               labels, EraseSettings(epochs=4, kernel_features=64))  # fmt: skip
    assert config == run_files.read_model(base)["config"]
    return {"result": result, "store": store, "base": base}


def test_the_eraser_never_reads_a_validation_or_test_speaker(base_project: Path) -> None:
    fold = json.loads((base_project / "folds.json").read_text())[0]
    unseen = {fold["val"], fold["test"]}
    labels = pd.read_parquet(base_project / "labels.parquet")
    source = feature_store.load(base_project / "f.parquet")
    poisoned = base_project / "poisoned.parquet"
    with feature_store.feature_writer(poisoned, settings(PitchRange())) as writer:
        for i, utt in enumerate(source.utt_ids):
            frames = source.utterance(i)
            if labels.set_index("utt_id").loc[utt, "speaker"] in unseen:
                frames = np.random.default_rng(i).normal(0, 50, frames.shape).astype(np.float32)
            writer.add(str(utt), float(source.speeds[i]), frames)
    clean, dirty = _erase(base_project, "ec_leace"), _erase(base_project, "ec_leace", poisoned.name)
    a, b = clean["result"], dirty["result"]
    for key, tensor in a.state.items():
        if key.startswith("enc."):  # the encoder and the eraser fitted on it
            assert torch.equal(tensor, b.state[key]), key
    assert [r["loss"] for r in a.curve] == [r["loss"] for r in b.curve]  # same EC training
    probs = [r.predictions.filter(like="prob_").to_numpy() for r in (a, b)]
    assert not np.allclose(*probs, atol=1e-3)  # the poisoned speakers were scored


def test_an_erased_run_is_the_base_encoder_then_its_eraser(
    base_project: Path, tmp_path: Path
) -> None:
    found = _erase(base_project, "ec_kleace")
    result, store = found["result"], found["store"]
    base = FoldModel.load(found["base"], "cpu")
    assert result.erasure == {"base": "ec_only", "method": "kernel", "features": 64,
                              "fitted_on": result.erasure["fitted_on"],
                              "classifier_epochs": 4}  # fmt: skip
    assert result.erasure["fitted_on"]["speakers"] == 8
    base_state = base.net.state_dict()
    for key, tensor in result.state.items():
        if key.startswith("enc.") and not key.startswith("enc.erase."):
            assert torch.equal(tensor, base_state[key]), key
    ids, v = result.embeddings["test"]
    rows = store.rows_for(pd.Series(ids), originals_only=True)
    _, base_v = predict(base.net, Inputs(DeviceFrames(store, "cpu"), base.mean, base.std,
                                         base.max_frames), rows)  # fmt: skip
    assert v.shape == (len(ids), 64)
    state = {k.removeprefix("enc.erase."): t for k, t in result.state.items()
             if k.startswith("enc.erase.")}  # fmt: skip
    eraser = Eraser(base_v.shape[1], 64)
    eraser.load_state_dict(state)
    np.testing.assert_allclose(v, _apply(eraser, base_v), atol=1e-5)
    # the whole erased network, eraser included, as an ONNX graph (cos and all)
    run = tmp_path / "run"
    run_files.write(run, json.loads((base_project / "folds.json").read_text())[0], 1,
                    "ec_kleace", run_files.read_model(found["base"])["config"],
                    feature_store.read_metadata(base_project / "f.parquet"), result)  # fmt: skip
    assert EmotionModel.load(run, "cpu").export_onnx(tmp_path / "erased.onnx") < 1e-4
    graph = onnx.load(tmp_path / "erased.onnx")
    assert "Cos" in {node.op_type for node in graph.graph.node}


def test_an_erasure_regime_refuses_another_regimes_runs(base_project: Path,
                                                       tmp_path: Path) -> None:  # fmt: skip
    saved = run_files.read_model(base_project / "base/fold00/seed1")
    wrong = tmp_path / "fold00/seed1"
    wrong.mkdir(parents=True)
    run_files.write_torch(wrong / "model.pt", {**saved, "regime": "menan"})
    folds = json.loads((base_project / "folds.json").read_text())
    store = open_frames([base_project / "f.parquet", base_project / "s.parquet"], tmp_path)
    with pytest.raises(ModelError, match=r"seed1/model.pt: a menan model; ec_leace erases ec_only"):
        erase_run("ec_leace", wrong, folds[0], store, DeviceFrames(store, "cpu"),
                  pd.read_parquet(base_project / "labels.parquet"),
                  EraseSettings(epochs=1, kernel_features=8))  # fmt: skip


def test_the_erase_stages_write_runs_and_a_release_menan_loads(base_project: Path) -> None:
    root = base_project
    env = {**os.environ, "PYTHONPATH": str(REPO), "DVC_NO_ANALYTICS": "1"}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True
    )
    done = run("stages.erase", "ec_leace", "labels.parquet", "f.parquet", "s.parquet",
               "folds.json", "base", "erased", "erased.json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    runs = run_files.finished_runs(root / "erased")
    assert [r.relative_to(root / "erased").as_posix() for r in runs] == [
        "fold00/seed1",
        "fold03/seed1",
    ]
    saved = run_files.read_model(runs[0])
    assert saved["format"] == run_files.ERASED_FORMAT and saved["regime"] == "ec_leace"
    assert saved["config"] == run_files.read_model(root / "base/fold00/seed1")["config"]
    summary = run_files.read_summary(runs[0])
    assert 1 <= summary["selected_epoch"] <= 4 and "base_selected_epoch" in summary
    assert len(json.loads((root / "erased.json").read_text())) == 4  # epochs of the curve
    # a release from a base release: the base regime's run stands in for one here
    (root / "base_release").mkdir()
    base_saved = run_files.read_model(root / "base/fold00/seed1")
    run_files.write_torch(root / "base_release/model.pt", {
        **base_saved, "release": {"epochs": 3, "rule": "test", "selected": [3], "curve": []}
    })  # fmt: skip
    done = run("stages.erase_release", "ec_leace", "labels.parquet", "f.parquet",
               "s.parquet", "base_release", "erased", "release")  # fmt: skip
    assert done.returncode == 0, done.stderr
    released = run_files.read_model(root / "release")
    assert released["erasure"]["method"] == "leace"
    assert released["release"]["epochs"] in {
        run_files.read_summary(r)["selected_epoch"] for r in runs
    }
    model = EmotionModel.load(root / "release", "cpu")
    assert model.regime == "ec_leace" and model.model.net.enc.erase is not None
