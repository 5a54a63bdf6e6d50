"""Per fold and seed output files, and single-model inference (what evaluation runs).

A (fold, seed) directory holds ``model.pt`` (the selected weights as an ordinary
``EmotionSpeakerNet`` state dict plus the training standardization), ``predictions.parquet``
(validation and test speakers), ``embeddings.npz`` (v of the same utterances),
``curve.json`` and ``fold.json``, which doubles as the completion record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from pipeline import EMOTIONS
from pipeline.batches import FrameStore, Split
from pipeline.model import EmotionSpeakerNet
from pipeline.training import checkpoint
from pipeline.training.config import FRAMES_PER_SECOND, TrainConfig
from pipeline.training.inputs import DeviceFrames, Standardizer


class Inputs:
    """Standardized inputs of one model for rows of a frame store, on the model's device.

    The statistics are always the fold's training speakers' (read back from ``model.pt``
    when scoring another corpus), never the scored data's own.
    """

    def __init__(
        self, frames: DeviceFrames, mean: np.ndarray, std: np.ndarray, max_frames: int
    ) -> None:
        self.frames, self.max_frames = frames, max_frames
        self.mean, self.std = mean, std
        self.standardize = Standardizer([mean], [std], frames.device)

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        """(len(rows), T, 43) standardized."""
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64)).to(self.frames.device)
        return self.standardize(self.frames.crops(index[None], self.max_frames))[0]


@torch.no_grad()
def predict(
    net: EmotionSpeakerNet, inputs: Inputs, rows: np.ndarray, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(emotion probabilities, embeddings v) of the given rows of the frame store."""
    net.eval()
    probs, embeddings = [], []
    for start in range(0, len(rows), batch_size):
        v = net.enc(inputs(rows[start : start + batch_size]))
        probs.append(torch.softmax(net.ec(v), dim=1).cpu().numpy())
        embeddings.append(v.cpu().numpy())
    net.train()
    return np.concatenate(probs), np.concatenate(embeddings)


def prediction_table(split_name: str, split: Split, probs: np.ndarray) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "split": split_name,
            "utt_id": split.utt_ids.astype(str),
            "speaker": split.speakers.astype(str),
            "label": [EMOTIONS[i] for i in split.emotion],
            "predicted": [EMOTIONS[i] for i in probs.argmax(axis=1)],
        }
    )
    for k, name in enumerate(EMOTIONS):
        table[f"prob_{name}"] = probs[:, k].astype(np.float32)
    return table


def write_outputs(
    target: Path,
    fold: dict[str, Any],
    seed: int,
    regime: str,
    config: TrainConfig,
    out: dict[str, Any],
) -> None:
    """Write one (fold, seed) directory; ``fold.json`` last, as the completion record."""
    target.mkdir(parents=True)
    checkpoint.write_torch(
        target / "model.pt",
        {
            "state_dict": out["state"],
            "regime": regime,
            "seed": seed,
            "config": asdict(config),
            "train_speakers": fold["train"],
            "mean": torch.from_numpy(out["mean"]),
            "std": torch.from_numpy(out["std"]),
            "emotions": list(EMOTIONS),
        },
    )
    pq.write_table(
        pa.Table.from_pandas(out["predictions"], preserve_index=False),
        target / "predictions.parquet",
    )
    np.savez(
        target / "embeddings.npz",
        **{f"{s}_utt_id": ids.astype(str) for s, (ids, _) in out["embeddings"].items()},
        **{f"{s}_v": v for s, (_, v) in out["embeddings"].items()},
    )
    curve = json.dumps(out["curve"], indent=1, allow_nan=False)
    (target / "curve.json").write_text(curve + "\n")
    summary = {**fold, "seed": seed, "regime": regime, **out["results"]}
    record = json.dumps(summary, indent=2, sort_keys=True, allow_nan=False)
    (target / "fold.json").write_text(record + "\n")


@dataclass
class FoldModel:
    """A fold's selected network and its training standardization, to score any corpus."""

    net: EmotionSpeakerNet
    mean: np.ndarray
    std: np.ndarray
    max_frames: int
    device: str

    @classmethod
    def load(cls, path: Path, device: str) -> FoldModel:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
        config = checkpoint["config"]
        net = EmotionSpeakerNet(
            len(checkpoint["emotions"]), len(checkpoint["train_speakers"]), config["embedding"]
        )
        net.load_state_dict(checkpoint["state_dict"])
        return cls(
            net=net.to(device),
            mean=checkpoint["mean"].numpy(),
            std=checkpoint["std"].numpy(),
            max_frames=round(config["max_seconds"] * FRAMES_PER_SECOND),
            device=device,
        )

    def inputs(self, store: FrameStore) -> Inputs:
        """Inputs from ``store`` standardized as in this model's training."""
        return Inputs(DeviceFrames(store, self.device), self.mean, self.std, self.max_frames)

    def predict(self, store: FrameStore, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(emotion probabilities, embeddings v) of the given rows of ``store``."""
        return predict(self.net, self.inputs(store), rows)
