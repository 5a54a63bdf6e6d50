"""The GPU check: what the CUDA path must prove, in one run of a few minutes on a GPU machine.

    python benchmarks/gpu_check.py [--out DIR]     # with the project installed, or PYTHONPATH=.

Prints every figure and writes them to DIR/gpu_check.json and DIR/gpu_check.txt. The checks:

1. ``versions``: torch, CUDA, cuDNN, the GPU.
2. ``equality``: the training engine on CUDA (the fused cuDNN GRU) against the CPU engine (the
   batched GRU), R=3 runs, batch 16 x 1,400 frames: the embedding and the gradients of
   both weight buffers, TF32 off (pass at <= 1e-5), and what TF32 on would change.
3. ``host_syncs``: 20 steps of each regime's engine under
   ``torch.cuda.set_sync_debug_mode("error")``: a hidden host synchronisation fails it.
4. ``toy_training``: a toy corpus, 3 epochs per regime on this device, once straight through
   and once stopped after epoch 2 and resumed (pass: bit-identical); one run's files written,
   loaded back and scored on this device and on the CPU; evaluation (Table 2/3 scores and
   probes) on both; every warning torch gave on the way (cuDNN weight copies,
   non-deterministic kernels).
5. ``frame_upload``: time and peak GPU memory to put an IEMOCAP-size frame array (13.0 M
   frames x 43, 2.09 GiB: the originals and the 4 speed copies) on the GPU.
6. ``throughput``: steps/s for R in {1, 3, 15, 30} runs of ec_only and MEnAN (and all four
   regimes at R=15), eager and with the step captured in a CUDA graph.
7. ``projection``: GPU-hours of the paper protocol (4 regimes x 5 sessions x 3 seeds x 300
   epochs at IEMOCAP size, one pack of 15 runs per regime), eager and captured.
8. ``ssl_extraction``: the self-supervised front end on the GPU (docs/frontends.md): a
   randomly initialised WavLM-base, all 13 hidden states, utterances of 4.5 s: the real-time
   factor on the GPU and on one CPU core, the projected hours for IEMOCAP's 7 h (and its
   speed copies, 4.1 x that), and the largest GPU-CPU difference of the hidden states
   relative to their scale (pass at <= 1e-3, TF32 off).

Without a GPU it runs what it can on the CPU (versions and the toy training, killed and
resumed, written, loaded and evaluated) and says which checks it skipped; the test suite
runs it that way. Exit status 1 when a check fails or breaks, else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pipeline import EMOTIONS
from pipeline.data.folds import make_folds
from pipeline.evaluation.regime import CrossCorpus, TrainingCorpus, evaluate_regime
from pipeline.features import store as feature_store
from pipeline.features.frame_store import FrameStore
from pipeline.features.spec import PitchRange, settings
from pipeline.features.store import Features
from pipeline.model import run_files
from pipeline.model.network import EmotionSpeakerNet
from pipeline.model.scoring import DeviceFrames, FoldModel
from pipeline.params import EraseSettings, EvaluateSettings
from pipeline.regimes import TRAINED
from pipeline.runtime import device
from pipeline.training.config import TrainConfig
from pipeline.training.driver import plan_runs
from pipeline.training.erasure import erase_run
from pipeline.training.inputs import EpochTables
from pipeline.training.pack import Pack
from pipeline.training.packing import PackedNet
from pipeline.training.run import train_pack

EQUALITY_TOLERANCE = 1e-5
PAPER = {"epochs": 300, "regimes": 4, "runs_per_regime": 15, "steps_per_epoch": 1380}
"""The paper protocol at IEMOCAP size: 5 sessions x 3 seeds per regime, 300 epochs; a session
run trains on about 22,000 examples, 1,380 steps of 16 (docs/performance.md)."""
IEMOCAP_FRAMES = 13_000_000
SPEAKERS = [f"Ses{s:02d}{g}" for s in range(1, 6) for g in "FM"]


def config(**overrides: Any) -> TrainConfig:
    base = {
        "seeds": [1], "epochs": 3, "max_seconds": 1.0, "batch_size": 16, "lr": 3e-3,
        "lr_decay_power": 1.0, "embedding": "pooled", "selection": "best_val_ua",
        "menan_sc_steps": 1, "pack": "auto", "folds": "all", "probe_holdout": 0, "lam": 0.5,
        "device": "cpu",
    }  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def corpus(per_speaker: int, mean_frames: float, seed: int = 0) -> tuple[pd.DataFrame, Features]:
    """10 speakers in 5 sessions; emotion shifts channels 0-3, the speaker channels 10-19."""
    rng = np.random.default_rng(seed)
    rows, items = [], []
    for k, speaker in enumerate(SPEAKERS):
        for i in range(per_speaker):
            label = EMOTIONS[i % 4]
            utt = f"{speaker}_u{i:04d}"
            rows.append({"utt_id": utt, "speaker": speaker, "session": speaker[:5],
                         "gender": speaker[-1], "label": label, "correct": [label]})  # fmt: skip
            n = int(np.clip(rng.lognormal(np.log(mean_frames), 0.5), 20, 3000))
            frames = rng.standard_normal((n, 43)).astype(np.float32)
            frames[:, EMOTIONS.index(label)] += 2.0
            frames[:, 10 + k] += 1.0
            items.append((utt, frames))
    counts = [len(f) for _, f in items]
    features = Features(
        utt_ids=np.array([u for u, _ in items], dtype=object),
        speeds=np.ones(len(items), np.float32),
        offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
        frames=np.concatenate([f for _, f in items]),
    )
    return pd.DataFrame(rows), features


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().cpu() - b.detach().cpu()).abs().max())


def check_versions(ctx: dict[str, Any]) -> dict[str, Any]:
    found = {
        "status": "pass",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": ctx["device"],
    }
    if ctx["cuda"]:
        props = torch.cuda.get_device_properties(0)
        found |= {"gpu": props.name, "gpu_memory_gib": props.total_memory / 2**30,
                  "capability": f"{props.major}.{props.minor}"}  # fmt: skip
    return found


def _engine_outputs(fused: bool, where: str, runs: int = 3, frames: int = 1400) -> dict:
    """v and both gradients of the packed network on one fixed batch of 16 per run."""
    torch.manual_seed(0)
    nets = [EmotionSpeakerNet(len(EMOTIONS), 8) for _ in range(runs)]
    net = PackedNet(nets, fused_gru=fused).to(where)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(runs, 16, frames, 43, generator=generator).to(where)
    emotion = torch.randint(0, 4, (runs, 16), generator=generator).to(where)
    speaker = torch.randint(0, 8, (runs, 16), generator=generator).to(where)
    v = net.embed(x)
    ce = torch.nn.functional.cross_entropy
    loss = ce(net.emotion_logits(v).flatten(0, 1), emotion.flatten()) + ce(
        net.speaker_logits(v).flatten(0, 1), speaker.flatten()
    )
    loss.backward()
    return {"v": v.detach().cpu(), "main": net.main.grad.cpu(), "sc": net.sc.grad.cpu()}


def _differences(a: dict, b: dict) -> dict[str, float]:
    return {f"max_abs_diff_{k}": _max_diff(a[k], b[k]) for k in ("v", "main", "sc")}


def check_equality(ctx: dict[str, Any]) -> dict[str, Any]:
    if not ctx["cuda"]:
        return {"status": "skipped", "why": "no CUDA device"}
    cpu = _engine_outputs(fused=False, where="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gpu = _engine_outputs(fused=True, where="cuda")
    gpu_batched = _engine_outputs(fused=False, where="cuda")
    torch.backends.fp32_precision = "tf32"
    try:
        tf32 = _engine_outputs(fused=True, where="cuda")
    finally:
        device.prepare()
    off = _differences(gpu, cpu)
    worst = max(off.values())
    return {
        "status": "pass" if worst <= EQUALITY_TOLERANCE else "fail",
        "tolerance": EQUALITY_TOLERANCE,
        "runs": 3, "frames": 1400, "batch": 16,
        "cuda_fused_vs_cpu_tf32_off": off,
        "cuda_fused_vs_cuda_batched": _differences(gpu, gpu_batched),
        "cuda_tf32_on_vs_cpu": _differences(tf32, cpu),
        "largest_values": {k: float(cpu[k].abs().max()) for k in ("v", "main", "sc")},
        "warnings": sorted({str(w.message)[:200] for w in caught}),
    }  # fmt: skip


def _pack(labels: pd.DataFrame, store: FrameStore, regime: str, runs: int, **overrides) -> Pack:
    seeds = list(range(1, 1 + -(-runs // 5)))
    planned = plan_runs(make_folds(labels), seeds)[:runs]
    return Pack(store, labels, planned, regime, config(**overrides))


def check_host_syncs(ctx: dict[str, Any]) -> dict[str, Any]:
    if not ctx["cuda"]:
        return {"status": "skipped", "why": "no CUDA device"}
    labels, features = corpus(per_speaker=16, mean_frames=300)
    store = FrameStore.combine(features)
    found = {}
    for regime in TRAINED:
        pack = _pack(labels, store, regime, runs=3, device="cuda", max_seconds=4.0)
        orders = [r.rng.permutation(len(r.train.rows)) for r in pack.runs]
        tables = EpochTables([r.train for r in pack.runs], orders, 16, "cuda")
        sums = {k: torch.zeros(len(pack.runs), device="cuda") for k in pack.keys}
        pack.step(tables, 0, sums)  # first use: cuDNN and allocator set-up
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for b in range(20):
                pack.step(tables, b % tables.steps, sums)
            found[regime] = "no host synchronisation in 20 steps"
        except RuntimeError as exc:
            found[regime] = f"synchronises: {exc}"
        finally:
            torch.cuda.set_sync_debug_mode(0)
    ok = all(v.startswith("no host") for v in found.values())
    return {"status": "pass" if ok else "fail", **found}


class _Stop(Exception):
    pass


def _same(a: run_files.FoldResult, b: run_files.FoldResult) -> bool:
    return all(torch.equal(t, b.state[k]) for k, t in a.state.items()) and a.curve == b.curve


def check_toy_training(ctx: dict[str, Any]) -> dict[str, Any]:
    where = ctx["device"]
    labels, features = corpus(per_speaker=8, mean_frames=60)
    store = FrameStore.combine(features)
    folds = make_folds(labels)
    runs = plan_runs(folds, [1])[:2]
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    found: dict[str, Any] = {}
    ok = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for regime in TRAINED:
            cfg = config(device=where)
            started = time.perf_counter()
            whole = train_pack(store, labels, runs, regime, cfg)

            def stop_after_epoch_2(line: str, done: int, rows: list) -> None:
                if "epoch 3/3" in line:
                    raise _Stop

            state = tmp / f"{regime}.state.pt"
            with contextlib.suppress(_Stop):
                train_pack(store, labels, runs, regime, cfg, state, stop_after_epoch_2)
            resumed = train_pack(store, labels, runs, regime, cfg, state, lambda *_: None)
            same = all(_same(a, b) for x, y in zip(whole, resumed, strict=True)
                       for a, b in zip(x, y, strict=True))  # fmt: skip
            run = run_files.run_dir(tmp / regime, runs[0].folds[0]["fold"], runs[0].seed)
            run_files.write(run, runs[0].folds[0], runs[0].seed, regime, cfg.model_dump(),
                            settings(PitchRange()), whole[0][0])  # fmt: skip
            rows = np.flatnonzero(np.isin(store.utt_ids, labels["utt_id"][labels["speaker"]
                                  == runs[0].folds[0]["val"]]))  # fmt: skip
            here, _ = FoldModel.load(run, where).predict(DeviceFrames(store, where), rows)
            on_cpu, _ = FoldModel.load(run, "cpu").predict(DeviceFrames(store, "cpu"), rows)
            trained = whole[0][0].predictions
            trained = trained[trained["split"] == "val"][[f"prob_{e}" for e in EMOTIONS]]
            found[regime] = {
                "resumed_bit_identical": same,
                "loaded_vs_trained_max_abs_diff": float(np.abs(here - trained.to_numpy()).max()),
                f"{where}_vs_cpu_probabilities_max_abs_diff": float(np.abs(here - on_cpu).max()),
                "test_ua": whole[0][0].results["test_ua"],
                "seconds": time.perf_counter() - started,
            }
            ok &= same
        found["evaluation"] = _evaluate_both(tmp, labels, features, where)
        found["erasure"] = _erase_both(tmp, labels, store, runs[0], where)
    found["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})
    return {"status": "pass" if ok else "fail", "device": where, **found}


def _erase_both(tmp: Path, labels: pd.DataFrame, store: FrameStore, run: Any, where: str) -> dict:
    """EC only's written run erased (kernel LEACE, the erasure regimes' code) on this device
    and on the CPU: the eraser is fitted on the CPU either way, the rest runs on the device."""
    fold = run.folds[0]
    base = run_files.run_dir(tmp / "ec_only", fold["fold"], run.seed)
    probs, seconds = {}, {}
    for name in dict.fromkeys((where, "cpu")):
        started = time.perf_counter()
        result, _ = erase_run("ec_kleace", base, fold, store, DeviceFrames(store, name), labels,
                              EraseSettings(epochs=2, kernel_features=64))  # fmt: skip
        probs[name] = result.predictions.filter(like="prob_").to_numpy()
        seconds[name] = time.perf_counter() - started
    return {f"{where}_vs_cpu_probabilities_max_abs_diff": float(np.abs(probs[where] -
            probs["cpu"]).max()), "seconds": seconds}  # fmt: skip


def _evaluate_both(tmp: Path, labels: pd.DataFrame, features: Features, where: str) -> dict:
    """MEnAN's written run scored by the evaluation stage's code on this device and the CPU."""
    labels_path = tmp / "labels.parquet"
    labels.to_parquet(labels_path)
    features_path = tmp / "features.parquet"
    with feature_store.feature_writer(features_path, {}) as writer:
        for i in range(len(features)):
            writer.add(str(features.utt_ids[i]), 1.0, features.utterance(i))
    scores = {}
    for name in dict.fromkeys((where, "cpu")):
        corpus_ = TrainingCorpus.load(labels_path, features_path, name, tmp / "cache")
        cross = CrossCorpus.load(labels_path, features_path, name, tmp / "cache")
        folds, _, _ = evaluate_regime(tmp / "menan", corpus_, cross, EvaluateSettings(
            probe_splits=2, seed=0, equivalence_margin=5))  # fmt: skip
        scores[name] = {
            k: folds[0][k]
            for k in ("ua_test", "cross_corpus", "probe_speaker_linear", "probe_emotion_linear")
        }
    return scores


def check_frame_upload(ctx: dict[str, Any]) -> dict[str, Any]:
    if not ctx["cuda"]:
        return {"status": "skipped", "why": "no CUDA device"}
    utterances = 27_510  # 5,502 utterances and their 4 speed copies
    counts = np.full(utterances, IEMOCAP_FRAMES // utterances, np.int64)
    offsets = np.r_[0, np.cumsum(counts)]
    frames = np.ones((int(offsets[-1]), 43), np.float32)
    store = FrameStore(frames, offsets, np.zeros(utterances, object), np.ones(utterances),
                       np.zeros((utterances, 43)), np.zeros((utterances, 43)))  # fmt: skip
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    on_gpu = DeviceFrames(store, "cuda")
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    gib = frames.nbytes / 2**30
    peak = torch.cuda.max_memory_allocated() / 2**30
    del on_gpu
    torch.cuda.empty_cache()
    return {"status": "pass", "frames": int(offsets[-1]), "gib": gib, "seconds": seconds,
            "gib_per_s": gib / seconds, "peak_gpu_gib": peak}  # fmt: skip


class _StaticStep:
    """One step's tables in fixed buffers, which a captured step reads (as EpochTables)."""

    def __init__(self, tables: EpochTables) -> None:
        self.source = tables
        self.rows, self.emotion, self.speaker, self.weight, self.active = (
            t[:1].clone() for t in (tables.rows, tables.emotion, tables.speaker, tables.weight,
                                    tables.active)
        )  # fmt: skip

    def load(self, b: int) -> None:
        b %= self.source.steps
        for name in ("rows", "emotion", "speaker", "weight", "active"):
            getattr(self, name).copy_(getattr(self.source, name)[b : b + 1])


def _steps_per_second(pack: Pack, captured: bool, steps: int) -> float:
    orders = [r.rng.permutation(len(r.train.rows)) for r in pack.runs]
    tables = EpochTables([r.train for r in pack.runs], orders, 16, "cuda")
    sums = {k: torch.zeros(len(pack.runs), device="cuda") for k in pack.keys}
    static = _StaticStep(tables)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for b in range(3):  # warm-up, as CUDA graph capture asks for
            static.load(b)
            pack.step(static, 0, sums)
    torch.cuda.current_stream().wait_stream(side)
    if captured:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            pack.step(static, 0, sums)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for b in range(steps):
        static.load(b)
        if captured:
            graph.replay()
        else:
            pack.step(static, 0, sums)
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - started)


def check_throughput(ctx: dict[str, Any]) -> dict[str, Any]:
    if not ctx["cuda"]:
        return {"status": "skipped", "why": "no CUDA device"}
    labels, features = corpus(per_speaker=200, mean_frames=450)
    store = FrameStore.combine(features)
    plan = [(r, n) for r in ("ec_only", "menan") for n in (1, 3, 15, 30)]
    plan += [(r, 15) for r in ("multitask", "dat")]
    rows, errors = [], {}
    for regime, runs in plan:
        for captured in (False, True):
            mode = "graph" if captured else "eager"
            try:
                pack = _pack(labels, store, regime, runs, device="cuda", max_seconds=14.0)
                rate = _steps_per_second(pack, captured, steps=30)
                rows.append({"regime": regime, "runs": runs, "mode": mode,
                             "steps_per_s": rate, "ms_per_step": 1e3 / rate,
                             "examples_per_s": rate * runs * 16})  # fmt: skip
            except Exception as exc:  # a capture that fails is a finding, not the end
                errors[f"{regime} R={runs} {mode}"] = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                torch.cuda.empty_cache()
    ctx["throughput"] = rows
    return {"status": "pass" if not errors else "fail", "rows": rows, "errors": errors}


def check_projection(ctx: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.get("throughput")
    if not rows:
        return {"status": "skipped", "why": "no throughput figures (no CUDA device)"}
    found = {}
    for mode in ("eager", "graph"):
        rates = {r["regime"]: r["steps_per_s"] for r in rows
                 if r["runs"] == PAPER["runs_per_regime"] and r["mode"] == mode}  # fmt: skip
        if len(rates) < len(TRAINED):
            continue
        steps = PAPER["epochs"] * PAPER["steps_per_epoch"]
        found[f"{mode}_gpu_hours"] = sum(steps / rates[r] for r in TRAINED) / 3600
    return {
        "status": "pass",
        **found,
        "assumes": PAPER,
        "excludes": "validation after each epoch and the final scoring (seconds per run)",
    }


def check_ssl_extraction(ctx: dict[str, Any]) -> dict[str, Any]:
    if not ctx["cuda"]:
        return {"status": "skipped", "why": "no CUDA device"}
    import transformers

    from pipeline.features import ssl

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        transformers.WavLMModel(transformers.WavLMConfig()).save_pretrained(tmp)
        transformers.Wav2Vec2FeatureExtractor(sampling_rate=16_000).save_pretrained(tmp)
        model = ssl.inspect(tmp)
        layers = model.layers("all")
        audio = 0.1 * np.random.default_rng(0).standard_normal((14, 72_000)).astype(np.float32)
        rtf = {}
        for where in ("cuda", "cpu"):
            clips = audio if where == "cuda" else audio[:2]
            ssl.hidden_states(model, clips[0], layers, where)  # load, warm up
            torch.cuda.synchronize()
            started = time.perf_counter()
            states = [ssl.hidden_states(model, clip, layers, where) for clip in clips]
            torch.cuda.synchronize()
            rtf[where] = (time.perf_counter() - started) / (len(clips) * 4.5)
            if where == "cuda":
                on_gpu = states[0]
        on_cpu = states[0]
    difference = float(np.abs(on_gpu - on_cpu).max() / np.abs(on_cpu).max())
    return {"status": "pass" if difference <= 1e-3 else "fail", "rtf_gpu": rtf["cuda"],
            "rtf_cpu_one_core": rtf["cpu"], "iemocap_hours_gpu": 7 * rtf["cuda"],
            "iemocap_speed_copies_hours_gpu": 7 * 4.1 * rtf["cuda"],
            "relative_difference": difference}  # fmt: skip


CHECKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "versions": check_versions,
    "equality": check_equality,
    "host_syncs": check_host_syncs,
    "toy_training": check_toy_training,
    "frame_upload": check_frame_upload,
    "throughput": check_throughput,
    "projection": check_projection,
    "ssl_extraction": check_ssl_extraction,
}


def _text(results: dict[str, Any]) -> str:
    lines = []
    for name, found in results.items():
        lines.append(f"== {name}: {found.get('status')} ({found.get('seconds_taken', 0):.1f} s)")
        for key, value in found.items():
            if key in ("status", "seconds_taken"):
                continue
            if key == "rows":
                lines += [f"   {r['regime']:<10s} R={r['runs']:<3d} {r['mode']:<6s} "
                          f"{r['ms_per_step']:8.2f} ms/step {r['steps_per_s']:8.1f} steps/s "
                          f"{r['examples_per_s']:9.0f} examples/s" for r in value]  # fmt: skip
            else:
                lines.append(f"   {key}: {json.dumps(value, default=str)}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the results")
    args = parser.parse_args()
    device.prepare()
    cuda = torch.cuda.is_available()
    ctx: dict[str, Any] = {"cuda": cuda, "device": "cuda" if cuda else "cpu"}
    if not cuda:
        print("no CUDA device: running the CPU parts only; CUDA checks are skipped", flush=True)
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            found = check(ctx)
        except Exception as exc:
            found = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()[-2000:]}  # fmt: skip
        found["seconds_taken"] = time.perf_counter() - started
        results[name] = found
        print(_text({name: found}), end="", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / "gpu_check.txt").write_text(_text(results))
    bad = [n for n, f in results.items() if f["status"] in ("fail", "error")]
    print(f"written: {args.out / 'gpu_check.json'}, {args.out / 'gpu_check.txt'}; "
          f"{'failed: ' + ', '.join(bad) if bad else 'no check failed'}")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
