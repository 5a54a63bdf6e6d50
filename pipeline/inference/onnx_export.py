"""A model's encoder and emotion head as ONNX, so that it runs without this project.

The graph takes raw features, ``features`` (batch, frames, width): for the paper's front end
the 43 channels in the order of :data:`pipeline.features.spec.CHANNELS`; for a
self-supervised one the recorded hidden states side by side (the graph then holds the
learned weighted sum of the layers). It standardizes them with the model's own
training statistics, exactly as :class:`pipeline.model.scoring.Standardizer` does; it returns
``probabilities`` (batch, emotions) and ``embedding`` (batch, dim), the v of the paper. Batch
and frames are dynamic. What it does not contain is the feature front end (RAPT pitch and
the rest, or the self-supervised model itself, which stays a separate step: its own ONNX
export is transformers' business) and the cropping: give it one window of frames per row.
The graph's metadata ``features`` records which front end (JSON of the model's record).

torch's new exporter (``dynamo=True``) fails on ``nn.GRU`` in torch 2.13 ("The size of
tensor a (32) must match the size of tensor b (96)"), so the TorchScript exporter is used;
torch marks it deprecated. Every export is checked with ``onnx.checker`` and run with
onnxruntime against torch on several batch sizes and lengths before it is kept.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.model.scoring import FoldModel, encode, scale_and_shift
from pipeline.runtime.atomic import atomic_path
from pipeline.runtime.errors import ModelError

OPSET = 17
TOLERANCE = 1e-5
"""Largest difference between onnxruntime and torch an export may show (probabilities and v)."""
CHECKED_SHAPES = ((1, 50), (3, 400), (2, 1400), (5, 2100))
"""(batch, frames) the exported graph is run on before it is kept."""


class Scorer(nn.Module):
    """Standardization, encoder, emotion head: what the ONNX graph computes."""

    def __init__(self, model: FoldModel) -> None:
        super().__init__()
        self.enc, self.ec = model.net.enc, model.net.ec
        scale, shift = scale_and_shift(model.mean, model.std)
        self.register_buffer("scale", torch.from_numpy(scale))
        self.register_buffer("shift", torch.from_numpy(shift))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return encode(self.enc, self.ec, torch.addcmul(self.shift, features, self.scale))


def export(model: FoldModel, target: Path, about: dict[str, str] | None = None) -> float:
    """Write ``target`` (atomically) and return the largest onnxruntime-torch difference.

    The graph's metadata carries ``about`` (the model folder, its regime) and the mark of
    :mod:`pipeline.inference.user_output`, so a later export may replace this file and no other.
    """
    import onnx

    from pipeline.inference.user_output import MARK

    scorer = Scorer(model).cpu().eval()
    example = _raw_features(scorer, 2, model.max_frames, seed=0)
    with atomic_path(target) as tmp:
        with warnings.catch_warnings():  # the exporter's deprecation and tracing notes
            warnings.simplefilter("ignore")
            torch.onnx.export(
                scorer, (example,), str(tmp), input_names=["features"],
                output_names=["probabilities", "embedding"], opset_version=OPSET,
                dynamic_axes={"features": {0: "batch", 1: "frames"},
                              "probabilities": {0: "batch"}, "embedding": {0: "batch"}},
                dynamo=False,
            )  # fmt: skip
        graph = onnx.load(str(tmp))
        record = json.dumps(model.record, sort_keys=True)
        for key, value in {MARK: "export", **(about or {}), "features": record}.items():
            graph.metadata_props.add(key=key, value=str(value))
        onnx.save(graph, str(tmp))
        onnx.checker.check_model(str(tmp))
        worst = check(scorer, tmp)
        if worst > TOLERANCE:
            raise ModelError(target, f"the exported graph differs from torch by {worst:.2e}")
    return worst


def check(scorer: Scorer, path: Path) -> float:
    """The largest difference of the graph at ``path`` from torch over CHECKED_SHAPES."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for seed, (batch, frames) in enumerate(CHECKED_SHAPES, start=1):
        x = _raw_features(scorer, batch, frames, seed)
        probs, v = session.run(None, {"features": x.numpy()})
        with torch.no_grad():
            ref_probs, ref_v = scorer(x)
        worst = max(worst, float(np.abs(probs - ref_probs.numpy()).max()),
                    float(np.abs(v - ref_v.numpy()).max()))  # fmt: skip
    return worst


def _raw_features(scorer: Scorer, batch: int, frames: int, seed: int) -> torch.Tensor:
    """Random features at the scale of the model's training data: standard normal once
    standardized."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch, frames, scorer.scale.shape[-1], generator=generator)
    return (noise - scorer.shift) / scorer.scale
