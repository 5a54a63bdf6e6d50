"""Benchmark: training throughput per regime, the previous engine and the packed one side by side.

    python benchmarks/bench_training.py [--steps 5] [--rounds 5] [--threads 1]
                                        [--packs 1,3,5,10] [--device cpu|cuda|auto]

Batch 16 x 1,400 frames (14 s), IEMOCAP-like lengths. Each step is what the stage runs:
batch gather + standardization, forward, backward, update and the logged values.

- ``previous``: the engine before packing, one run per process: ``EmotionSpeakerNet``
  (PyTorch's GRU), ``torch.optim.Adam`` + ``PolynomialLR``, a ``.item()`` per logged value
  (a copy of its step is kept below as the reference).
- ``packed R``: R independent runs as one network (``pipeline.training``), each with its
  own batch; examples/s counts the examples of all R runs.

Per core (``--threads 1``, the default) so that the figures do not depend on how many
cores a machine has. The engines take turns within each round and the median round counts,
so that a slow phase of the machine (seen: +-10 % between runs) hits all of them alike.
Then the inference rate of ``predict``, what evaluation runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn.functional import cross_entropy

from pipeline import EMOTIONS
from pipeline.features.frame_store import FrameStore
from pipeline.features.store import Features
from pipeline.model.network import EmotionSpeakerNet, entropy, reverse_gradient
from pipeline.model.scoring import DeviceFrames, Inputs, Standardizer, predict
from pipeline.regimes import TRAINED
from pipeline.runtime import device
from pipeline.training.packing import PackedNet
from pipeline.training.steps import Batch, PackedTrainer

BATCH, FRAMES, SPEAKERS = 16, 1400, 8
TABLE_STEPS = 64
"""Steps of batch indices drawn and uploaded once, before timing, as the stage's epoch tables."""


def synthetic_store(utterances: int = 2_000, seed: int = 0) -> FrameStore:
    """IEMOCAP-like lengths (log-normal around 4.5 s), random frames."""
    rng = np.random.default_rng(seed)
    counts = np.clip(rng.lognormal(np.log(450), 0.5, utterances), 80, 3000).astype(np.int64)
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    table = Features(
        utt_ids=np.array([f"u{i}" for i in range(utterances)], dtype=object),
        speeds=np.ones(utterances, np.float32),
        offsets=offsets,
        frames=rng.standard_normal((int(offsets[-1]), 43), dtype=np.float32),
    )
    return FrameStore.combine(table)


def sync(where: str) -> None:
    if where.startswith("cuda"):
        torch.cuda.synchronize()


class PreviousEngine:
    """The per-run step of the engine before packing (one network, torch Adam, .item())."""

    def __init__(self, regime: str, where: str, lam: float = 0.5) -> None:
        self.regime, self.lam = regime, lam
        self.net = net = EmotionSpeakerNet(len(EMOTIONS), SPEAKERS).to(where)
        main = [*net.enc.parameters(), *net.ec.parameters()]
        groups = {"ec_only": [main], "menan": [main, list(net.sc.parameters())]}
        self.opts = [torch.optim.Adam(g, lr=1e-3) for g in groups.get(regime, [net.parameters()])]
        self.schedulers = [torch.optim.lr_scheduler.PolynomialLR(o, 10**6) for o in self.opts]

    def _update(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def step(self, x: torch.Tensor, emotion: torch.Tensor, speaker: torch.Tensor) -> dict:
        net, lam = self.net, self.lam
        v = net.enc(x)
        if self.regime == "ec_only":
            loss = cross_entropy(net.ec(v), emotion)
            self._update(self.opts[0], loss)
            logs = {"loss": loss.item()}
        elif self.regime in ("multitask", "dat"):
            spk = net.sc(reverse_gradient(v) if self.regime == "dat" else v)
            ce_spk = cross_entropy(spk, speaker)
            loss = lam * cross_entropy(net.ec(v), emotion) + (1 - lam) * ce_spk
            self._update(self.opts[0], loss)
            logs = {"loss": loss.item(), "ce_spk": ce_spk.item(),
                    "sc_acc": (spk.argmax(1) == speaker).float().mean().item()}  # fmt: skip
        else:
            ce_spk = cross_entropy(net.sc(v.detach()), speaker)
            self._update(self.opts[1], ce_spk)
            for p in net.sc.parameters():
                p.requires_grad_(False)
            spk = net.sc(v)
            loss = lam * cross_entropy(net.ec(v), emotion) - (1 - lam) * entropy(spk).mean()
            self._update(self.opts[0], loss)
            for p in net.sc.parameters():
                p.requires_grad_(True)
            logs = {"loss": loss.item(), "ce_spk": ce_spk.item(),
                    "sc_acc": (spk.argmax(1) == speaker).float().mean().item()}  # fmt: skip
        for scheduler in self.schedulers:
            scheduler.step()
        return logs


def previous_batch(store: FrameStore, rows: np.ndarray, mean: torch.Tensor, scale: torch.Tensor,
                   where: str) -> torch.Tensor:  # fmt: skip
    """The previous engine's batch: a numpy gather, a host-to-where copy, standardization."""
    n = store.n_frames[rows]
    start = np.where(n > FRAMES, (n - FRAMES) // 2, 0)
    index = store.offsets[rows][:, None] + (start[:, None] + np.arange(FRAMES)) % n[:, None]
    return (torch.from_numpy(store.frames[index]).to(where) - mean) * scale


def previous_step(regime: str, store: FrameStore, where: str) -> Callable[[], None]:
    """One step of the previous engine (its batch gather included)."""
    rng = np.random.default_rng(1)
    mean, std = store.standardization(np.arange(len(store.utt_ids)))
    mean_t, scale_t = torch.from_numpy(mean).to(where), torch.from_numpy(1 / std).to(where)
    engine = PreviousEngine(regime, where)

    def step() -> None:
        rows = rng.choice(len(store.utt_ids), BATCH, replace=False)
        x = previous_batch(store, rows, mean_t, scale_t, where)
        engine.step(x, torch.randint(0, 4, (BATCH,), device=where),
                    torch.randint(0, SPEAKERS, (BATCH,), device=where))  # fmt: skip

    return step


def packed_step(regime: str, store: FrameStore, where: str, runs: int) -> Callable[[], None]:
    """One step of ``runs`` packed runs (batch gather included), as the stage runs it: batch
    indices and targets come from tables on the device, drawn before timing, so no step
    waits for a host-to-device copy."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    frames = DeviceFrames(store, where)
    mean, std = store.standardization(np.arange(len(store.utt_ids)))
    norm = Standardizer([mean] * runs, [std] * runs, where)
    nets = [EmotionSpeakerNet(len(EMOTIONS), SPEAKERS) for _ in range(runs)]
    net = PackedNet(nets, fused_gru=device.is_cuda(where)).to(where)
    trainer = PackedTrainer(regime, net, 0.5)
    lr = torch.full((runs, 1), 1e-3, device=where)
    weight = torch.ones(runs, BATCH, device=where)
    active = torch.ones(runs, 1, dtype=torch.bool, device=where)
    shape = (TABLE_STEPS, runs, BATCH)
    rows, emotion, speaker = (
        torch.from_numpy(rng.integers(0, n, shape)).to(where)
        for n in (len(store.utt_ids), len(EMOTIONS), SPEAKERS)
    )
    counter = iter(range(10**12))

    def step() -> None:
        b = next(counter) % TABLE_STEPS
        batch = Batch(norm(frames.crops(rows[b], FRAMES)), emotion[b], speaker[b], weight, active)
        trainer.step(batch, lr)

    return step


def seconds_per_step(steps: dict[str, Callable[[], None]], where: str, n: int,
                     rounds: int) -> dict[str, float]:  # fmt: skip
    """Median over ``rounds`` of each engine's mean step time, the engines interleaved in
    every round so that a slow phase of the machine hits them all alike."""
    for step in steps.values():
        for _ in range(2):  # warm-up
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            sync(where)
            started = time.perf_counter()
            for _ in range(n):
                step()
            sync(where)
            times[name].append((time.perf_counter() - started) / n)
    return {name: float(np.median(t)) for name, t in times.items()}


def bench_inference(store: FrameStore, where: str, examples: int = 512) -> float:
    """Examples per second of ``predict`` (embeddings and emotion probabilities)."""
    mean, std = store.standardization(np.arange(len(store.utt_ids)))
    inputs = Inputs(DeviceFrames(store, where), mean, std, FRAMES)
    net = EmotionSpeakerNet(len(EMOTIONS), SPEAKERS).to(where)
    rows = np.arange(examples)
    predict(net, inputs, rows[:64])  # warm-up
    sync(where)
    started = time.perf_counter()
    predict(net, inputs, rows)
    sync(where)
    return examples / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5, help="steps per engine and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--packs", default="1,3,5,10")
    parser.add_argument("--regimes", default=",".join(TRAINED))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device.prepare()
    where = device.resolve(args.device)
    torch.set_num_threads(args.threads)
    store = synthetic_store()
    packs = [int(p) for p in args.packs.split(",")]
    print(
        f"device {where}, torch threads {torch.get_num_threads()}, batch {BATCH} x {FRAMES} "
        f"frames x 43; median of {args.rounds} interleaved rounds of {args.steps} steps; "
        "examples/s counts every run of a pack"
    )
    header = ("regime", "engine", "ms/step", "examples/s", "vs previous")
    print("  {:<10s} {:<10s} {:>9s} {:>11s} {:>12s}".format(*header))
    for regime in args.regimes.split(","):
        steps = {"previous": previous_step(regime, store, where)}
        steps |= {f"packed {r}": packed_step(regime, store, where, r) for r in packs}
        timed = seconds_per_step(steps, where, args.steps, args.rounds)
        base = BATCH / timed["previous"]
        for name, step_s in timed.items():
            runs = 1 if name == "previous" else int(name.split()[1])
            rate = runs * BATCH / step_s
            print(f"  {regime:<10s} {name:<10s} {1e3 * step_s:9.1f} {rate:11.1f} "
                  f"{rate / base:11.2f}x", flush=True)  # fmt: skip
    print(f"  inference  {bench_inference(store, where):8.1f} examples/s (predict, batch 64)")


if __name__ == "__main__":
    main()
