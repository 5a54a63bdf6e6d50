"""The self-supervised front end on tiny randomly initialised WavLM and HuBERT models that each
test builds and saves (no download): loading, layers, storage, the network on top, bad
input, and the whole pipeline under DVC with `menan` on its models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from pipeline.features import ssl
from pipeline.features import store as feature_store
from pipeline.features.audio import load_segment
from pipeline.features.extract import extract_table
from pipeline.features.frame_cache import open_frames
from pipeline.features.frontend import Paper43, SelfSupervised, configured, from_record
from pipeline.features.spec import PitchRange, frame_spec
from pipeline.inference.onnx_export import export
from pipeline.model.network import EmotionSpeakerNet, layer_sum
from pipeline.model.scoring import DeviceFrames, FoldModel
from pipeline.params import SslSettings
from pipeline.runtime.errors import ConfigError, ModelError
from pipeline.training.packing import PackedNet
from tests.helpers import (
    BIN,
    REPO,
    TINY_DEMO,
    demo_project,
    dvc,
    dvc_env,
    tiny_ssl_model,
    write_params,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ssl")
    return {kind: tiny_ssl_model(root / kind, kind) for kind in ("wavlm", "hubert")}


def _tone(seconds: float = 1.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(len(t))).astype(
        np.float32
    )


@pytest.mark.parametrize("kind", ["wavlm", "hubert"])
def test_the_chosen_hidden_states_are_transformers_own(models: dict[str, Path], kind: str) -> None:
    """The folder is read as transformers reads it, and a frame holds the chosen layers of
    the model's own output side by side, at 50 frames per second."""
    from transformers import AutoModel

    model = ssl.inspect(models[kind])
    assert (model.model_type, model.depth, model.hidden_size) == (kind, 3, 16)
    assert (model.hop, model.window, model.normalize) == (320, 400, True)
    audio = _tone()
    every = ssl.hidden_states(model, audio, model.layers("all"))
    assert every.shape == (64, 48)  # 1.3 s at 20 ms, 3 layers of 16
    reference = AutoModel.from_pretrained(models[kind]).eval()
    normalised = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    with torch.no_grad():
        states = reference(torch.from_numpy(normalised)[None], output_hidden_states=True)
    np.testing.assert_allclose(every[:, 32:], states.hidden_states[2][0].numpy(), atol=1e-5)
    np.testing.assert_array_equal(ssl.hidden_states(model, audio, [2]), every[:, 32:])
    assert model.layers([2, 0, 2]) == [0, 2] and model.layers(1) == [1]
    assert ssl.hidden_states(model, audio[:100], [0]).shape == (1, 16)  # shorter than a frame


def test_long_audio_runs_in_pieces_of_30_s_as_every_stage_cuts_them(
    models: dict[str, Path],
) -> None:
    """Attention's memory grows with the square of the length: a long recording is run in
    consecutive 30 s pieces, each normalised on its own; a last piece shorter than one
    frame's window makes no frame."""
    model = ssl.inspect(models["wavlm"])
    audio = np.concatenate([_tone(31.0, seed) for seed in range(2)])  # 62 s
    states = ssl.hidden_states(model, audio, [2])
    piece = 30 * 16_000
    first, second = (ssl.hidden_states(model, audio[i * piece : (i + 1) * piece], [2])
                     for i in range(2))  # fmt: skip
    assert len(first) == 1499 and states.shape == (1499 * 2 + 99, 16)
    np.testing.assert_array_equal(states[:1499], first)
    np.testing.assert_array_equal(states[1499 : 2 * 1499], second)
    tail = ssl.hidden_states(model, audio[: piece + 200], [2])  # 200 samples past 30 s
    np.testing.assert_array_equal(tail, first)


def test_ssl_tables_are_float16_made_the_same_by_any_number_of_workers(
    models: dict[str, Path], iemocap_root: Path, tmp_path: Path
) -> None:
    from pipeline.data.corpora import prepare_corpus

    labels = prepare_corpus("iemocap", {"format": "iemocap", "root": str(iemocap_root),
                                        "expected_counts": None})[0].head(10)  # fmt: skip
    chosen = SslSettings(model=str(models["wavlm"]), layers=[1, 2], dtype="float16")
    front = configured("ssl", PitchRange(), chosen)
    for jobs in (1, 2):
        extract_table(labels, tmp_path / f"{jobs}.parquet", [1.0, 1.2], front, jobs, {})
    one, two = (feature_store.load(tmp_path / f"{j}.parquet") for j in (1, 2))
    np.testing.assert_array_equal(one.frames, two.frames)
    assert one.frames.dtype == np.float16 and one.frames.shape[1] == 32
    field = pq.read_schema(tmp_path / "1.parquet").field("features")
    assert str(field.type) == "list<element: fixed_size_list<element: halffloat>[32]>"
    direct = ssl.hidden_states(front.model, load_segment(labels["audio_path"].iloc[3]), [1, 2])
    np.testing.assert_array_equal(one.get(labels["utt_id"].iloc[3]), direct.astype(np.float16))
    meta = one.metadata
    assert (meta["frontend"], meta["layers"]) == ("ssl", [1, 2])
    assert meta["ssl_sha256"] == front.model.sha256
    assert frame_spec(meta).frames_per_second == 50


def test_the_encoder_sums_the_layers_with_learned_weights_packed_or_not() -> None:
    """Three stored layers of 16: one weight per layer, softmax-mixed before Table 1's
    encoder (16 wide); the packed engine computes the same network."""
    spec = frame_spec({"frontend": "ssl", "layers": [0, 1, 2], "hidden_size": 16, "hop": 320,
                       "window": 400})  # fmt: skip
    torch.manual_seed(0)
    nets = [EmotionSpeakerNet(4, 8, "pooled", spec) for _ in range(2)]
    for net in nets:
        torch.nn.init.normal_(net.enc.layer_weights)
    assert nets[0].enc.conv[0].in_channels == 16
    x = torch.randn(2, 5, 60, 48)
    packed = PackedNet(nets)
    expected = torch.stack([net.enc(x[r]) for r, net in enumerate(nets)])
    torch.testing.assert_close(packed.embed(x), expected, atol=1e-5, rtol=1e-4)
    weights = nets[0].enc.layer_weights.detach()
    mix = torch.exp(weights) / torch.exp(weights).sum()
    by_hand = sum(mix[i] * x[0, ..., 16 * i : 16 * (i + 1)] for i in range(3))
    torch.testing.assert_close(layer_sum(x[0], weights, 3), by_hand)
    state = packed.state_dict_of(1)
    assert torch.equal(state["enc.layer_weights"], nets[1].enc.layer_weights.detach())
    paper = EmotionSpeakerNet(4, 8)
    assert "enc.layer_weights" not in paper.state_dict()  # the paper's network is unchanged


def test_onnx_holds_the_trained_part_of_an_ssl_model_for_any_batch(tmp_path: Path) -> None:
    """The export takes the stored layers side by side and holds their learned sum; the SSL
    model itself stays outside the graph (its record is in the graph's metadata)."""
    import onnx

    record = {"frontend": "ssl", "layers": [0, 1, 2], "hidden_size": 16, "hop": 320,
              "window": 400, "ssl_type": "wavlm"}  # fmt: skip
    spec = frame_spec(record)
    torch.manual_seed(0)
    net = EmotionSpeakerNet(4, 8, "pooled", spec)
    torch.nn.init.normal_(net.enc.layer_weights)
    model = FoldModel(net=net, mean=np.full(48, 0.5, np.float32), std=np.full(48, 2, np.float32),
                      max_frames=50, frames=spec, record=record)  # fmt: skip
    assert export(model, tmp_path / "m.onnx") <= 1e-5  # checked at batch 1, 3, 2 and 5
    graph = onnx.load(str(tmp_path / "m.onnx"))
    (shape,) = [i.type.tensor_type.shape for i in graph.graph.input]
    assert shape.dim[2].dim_value == 48
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["features"])["ssl_type"] == "wavlm"


def _frontend_stage(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stages.frontend", "out/frontend.json"], cwd=root,
        env={"PYTHONPATH": str(REPO), "PATH": ""}, capture_output=True, text=True,
    )  # fmt: skip


def test_bad_model_folders_are_refused_by_name_and_nothing_is_written(
    models: dict[str, Path], tmp_path: Path
) -> None:
    def broken(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(models["wavlm"], folder)
        return folder

    no_config = broken("no_config")
    (no_config / "config.json").unlink()
    low_rate = broken("low_rate")
    pre = json.loads((low_rate / "preprocessor_config.json").read_text())
    (low_rate / "preprocessor_config.json").write_text(json.dumps({**pre, "sampling_rate": 8000}))
    no_weights = broken("no_weights")
    (no_weights / "model.safetensors").unlink()
    other = broken("other")
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    cases = {
        str(no_config): f"{no_config / 'config.json'} is missing",
        str(low_rate): "says sampling_rate 8000",
        str(no_weights): "holds no weights",
        str(other): "model_type 'bert'",
        str(tmp_path / "absent"): "is not a model folder; fetch one with `hf download",
        "microsoft/wavlm-base-plus": "is not a model folder",  # a folder name: no download
    }
    for folder, expected in cases.items():
        write_params(tmp_path, {"features": {"frontend": "ssl", "f0_min_hz": 60,
                                             "f0_max_hz": 500, "ssl": {"model": folder,
                                             "layers": "all", "dtype": "float16"}}})  # fmt: skip
        done = _frontend_stage(tmp_path)
        assert done.returncode == 1, done.stderr
        assert "params.yaml features.ssl.model" in done.stderr and expected in done.stderr
        assert not (tmp_path / "out").exists()
    write_params(tmp_path, {"features": {"frontend": "ssl", "f0_min_hz": 60, "f0_max_hz": 500,
                                         "ssl": {"model": str(models["hubert"]), "layers": [1, 3],
                                                 "dtype": "float16"}}})  # fmt: skip
    done = _frontend_stage(tmp_path)
    assert done.returncode == 1
    assert "params.yaml features.ssl.layers: layer 3 is past the depth" in done.stderr
    assert "hidden states 0 to 2" in done.stderr and not (tmp_path / "out").exists()


def test_features_of_other_weights_or_another_front_end_are_refused(
    models: dict[str, Path], tmp_path: Path
) -> None:
    wavlm = ssl.inspect(models["wavlm"])
    record = SelfSupervised(wavlm, (0, 2), "float16").metadata
    assert from_record(record).spec.width == 32
    with pytest.raises(ConfigError, match=r"--ssl-model: .*hubert holds other weights"):
        from_record(record, ssl_model=str(models["hubert"]))
    moved = {**record, "ssl_model": str(tmp_path / "gone")}
    with pytest.raises(ConfigError, match=r"the recorded ssl_model: .*gone is not a model folder"):
        from_record(moved)
    retrained = tiny_ssl_model(tmp_path / "again", "wavlm", seed=1)  # same shape, other weights
    with pytest.raises(ConfigError, match="holds other weights"):
        from_record(record, ssl_model=str(retrained))
    paper = Paper43(PitchRange()).metadata
    with pytest.raises(ConfigError, match=r"--ssl-model: .* the paper's 43 channels"):
        from_record(paper, ssl_model=str(models["wavlm"]))


# -- the whole pipeline under DVC -------------------------------------------------------

SSL_TRAIN = {"epochs": 1, "max_seconds": 1, "folds": [0, 1, 2, 3], "seeds": [1234, 7]}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    changes = {"n_jobs": 2, "demo": TINY_DEMO, "features": {"frontend": "ssl"},
               "augment": {"speeds": []},  # no speed copies, through every stage
               "train": SSL_TRAIN, "erase": {"epochs": 1}}  # fmt: skip
    root = demo_project(tmp_path_factory.mktemp("ssl_project"), changes)
    tiny_ssl_model(root / "models" / "ssl", "wavlm")  # git-ignored, as a fetched model is
    return root


def _menan(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "menan"), *args], cwd=root, env=dvc_env(root),
                          capture_output=True, text=True)  # fmt: skip


@pytest.mark.slow
def test_dvc_repro_on_an_ssl_front_end_and_menan_answers_as_evaluation(project: Path) -> None:
    dvc(project, "repro")
    record = json.loads((project / "data" / "frontend.json").read_text())
    assert record["frontend"] == "ssl" and record["layers"] == [0, 1, 2]
    for table in ("iemocap", "iemocap_speed", "mosei"):
        meta = feature_store.read_metadata(project / "data" / "features" / f"{table}.parquet")
        assert meta["ssl_sha256"] == record["ssl_sha256"] and meta["dtype"] == "float16"
    assert len(feature_store.load(project / "data" / "features" / "iemocap_speed.parquet")) == 0
    released = torch.load(project / "models" / "menan" / "model.pt", weights_only=True)
    assert released["features"]["ssl_type"] == "wavlm"
    assert released["state_dict"]["enc.conv.0.weight"].shape[1] == 16
    card = (project / "models" / "menan" / "model_card.md").read_text()
    assert "`wavlm` model" in card and record["ssl_sha256"][:12] in card
    assert "summed over the layers with learned weights" in card
    assert "no speed-perturbed copies" in card
    report = (project / "reports" / "report.md").read_text()
    assert "each hidden unit of the SSL model, averaged over the stored layers" in report
    # a run's model through `menan predict`: evaluation's probabilities for its test speaker
    run = project / "data" / "train" / "menan" / "fold00" / "seed1234"
    scored = pd.read_parquet(run / "predictions.parquet").query("split == 'test'").head(3)
    labels = pd.read_parquet(project / "data" / "labels" / "iemocap.parquet").set_index("utt_id")
    wavs = [str(project / labels.loc[u, "audio_path"]) for u in scored["utt_id"]]
    done = _menan(project, "predict", str(run), *wavs, "-o", "p.csv", "--n-jobs", "2")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(project / "p.csv").query("window == -1").set_index("path").loc[wavs]
    probs = [c for c in scored.columns if c.startswith("prob_")]
    np.testing.assert_allclose(table[probs].to_numpy(), scored[probs].to_numpy(), atol=1e-5)
    for verb in (("predict", "models/menan", wavs[0], "-o", "r.csv"),
                 ("export", "models/menan", "--onnx", "menan.onnx"),
                 ("predict", "models/ec_kleace", wavs[0], "-o", "k.csv")):  # fmt: skip
        done = _menan(project, *verb)
        assert done.returncode == 0, done.stderr
    # the released model with another SSL model's weights: refused, nothing written
    other = tiny_ssl_model(project.parent / "other_ssl", "hubert")
    done = _menan(project, "predict", "models/menan", wavs[0], "-o", "x.csv",
                  "--ssl-model", str(other))  # fmt: skip
    assert done.returncode == 1 and "--ssl-model" in done.stderr and "other weights" in done.stderr
    assert not (project / "x.csv").exists()
    # without its SSL model: the export still works (the graph does not hold it); scoring
    # audio names the recorded folder and the option
    (project / "models" / "ssl").rename(project / "models" / "ssl_moved")
    try:
        done = _menan(project, "export", "models/menan", "--onnx", "menan.onnx")
        assert done.returncode == 0, done.stderr
        done = _menan(project, "predict", "models/menan", wavs[0], "-o", "x.csv")
        assert done.returncode == 1 and "the recorded ssl_model: models/ssl is not" in done.stderr
        assert not (project / "x.csv").exists()
        done = _menan(project, "predict", "models/menan", wavs[0], "-o", "x.csv",
                      "--ssl-model", "models/ssl_moved")  # fmt: skip
        assert done.returncode == 0, done.stderr
    finally:
        (project / "models" / "ssl_moved").rename(project / "models" / "ssl")


@pytest.mark.slow
def test_back_to_the_paper_front_end_refuses_ssl_models_for_its_features(
    project: Path, tmp_path: Path
) -> None:
    """A released SSL model given paper43 frames (a table made by the other front end): a
    ModelError, not scores."""
    model = FoldModel.load(project / "models" / "menan", "cpu")
    labels = pd.read_parquet(project / "data" / "labels" / "mosei.parquet").head(4)
    extract_table(labels.assign(audio_path=[str(project / p) for p in labels["audio_path"]]),
                  tmp_path / "p43.parquet", [1.0], Paper43(PitchRange()), 1, {})  # fmt: skip
    store = open_frames([tmp_path / "p43.parquet"], tmp_path / "cache")
    with pytest.raises(ModelError, match="frontend: paper43 != ssl"):
        model.predict(DeviceFrames(store, "cpu"), np.arange(len(store.utt_ids)))
