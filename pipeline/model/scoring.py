"""Scoring with a trained network: frames on its device, standardized crops, probabilities and v.

Every example is exactly ``max_frames`` long: the middle ``max_frames`` of a longer
utterance, or the utterance cycle-repeated to ``max_frames`` when shorter (paper, section
5). Both are one index formula, so a batch is a single gather from the frame array. On a
GPU the frame array is copied to the device once per stage (:class:`DeviceFrames`), and
batches are then gathered there: training, evaluation and inference build it once and
hand it to every model they run.

Nothing here assumes the CPU: checkpoints load to the CPU and move (:class:`FoldModel`),
and results come back to the host with ``.cpu()`` before ``.numpy()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pipeline.features.frame_store import FrameStore
from pipeline.features.spec import FrameSpec, differences, frame_spec
from pipeline.model import run_files
from pipeline.model.network import EmotionSpeakerNet
from pipeline.params import RunSettings, validate_as
from pipeline.runtime.errors import ModelError


class DeviceFrames:
    """The frames of a store as a tensor on the device, with their row offsets and lengths.

    Frames stay as the tables store them (float16 for a self-supervised front end by
    default: half the memory on a GPU); a crop is float32 from its gather on.
    """

    def __init__(self, store: FrameStore, device: str) -> None:
        frames = torch.from_numpy(store.frames)  # a memory map stays a memory map on CPU
        self.frames = frames if torch.device(device).type == "cpu" else frames.to(device)
        self.offsets = torch.from_numpy(store.offsets[:-1]).to(device)
        self.lengths = torch.from_numpy(np.diff(store.offsets)).to(device)
        self.device = device
        self.record = store.record

    def crops(self, rows: torch.Tensor, max_frames: int) -> torch.Tensor:
        """rows (...,) -> (..., max_frames, width) float32: middle crop, or cycle-repeat when
        shorter."""
        n = self.lengths[rows]
        start = torch.where(n > max_frames, (n - max_frames) // 2, 0)
        steps = torch.arange(max_frames, device=rows.device)
        index = self.offsets[rows].unsqueeze(-1) + (start.unsqueeze(-1) + steps) % n.unsqueeze(-1)
        return self.frames[index].float()  # no copy when stored as float32


def scale_and_shift(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x - mean) / std as x * scale + shift, one fused multiply-add on the device: the one
    statement of the standardization arithmetic (the engine's, evaluation's, a released
    model's and the ONNX graph's)."""
    scale = 1.0 / std
    return scale, -mean * scale


def encode(
    enc: torch.nn.Module, ec: torch.nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(emotion probabilities, embedding v) of standardized frames: encoder, emotion head,
    softmax over the classes (the packed engine does the same for R runs at once)."""
    v = enc(x)
    return torch.softmax(ec(v), dim=-1), v


class Standardizer:
    """Per-run (x - mean) / std with the statistics of each run's training speakers."""

    def __init__(self, means: list[np.ndarray], stds: list[np.ndarray], device: str) -> None:
        scale, shift = scale_and_shift(np.stack(means), np.stack(stds))
        self._scale = torch.from_numpy(scale).to(device)[:, None, None, :]
        self._shift = torch.from_numpy(shift).to(device)[:, None, None, :]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (R, B, T, width), a fresh gather, standardized in place in one pass."""
        return torch.addcmul(self._shift, x, self._scale, out=x)


class Inputs:
    """Standardized inputs of one model for rows of a frame store, on the model's device.

    The statistics are always the fold's training speakers' (read back from ``model.pt``
    when scoring another corpus), never the scored data's own.
    """

    def __init__(
        self, frames: DeviceFrames, mean: np.ndarray, std: np.ndarray, max_frames: int
    ) -> None:
        self.frames, self.max_frames = frames, max_frames
        self.standardize = Standardizer([mean], [std], frames.device)

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        """(len(rows), T, width) standardized."""
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
        p, v = encode(net.enc, net.ec, inputs(rows[start : start + batch_size]))
        probs.append(p.cpu().numpy())
        embeddings.append(v.cpu().numpy())
    net.train()
    return np.concatenate(probs), np.concatenate(embeddings)


@dataclass
class FoldModel:
    """A run's selected network and its training standardization, to score any corpus."""

    net: EmotionSpeakerNet
    mean: np.ndarray
    std: np.ndarray
    max_frames: int
    config: dict = field(default_factory=dict)  # the settings it was trained with
    frames: FrameSpec = field(default_factory=lambda: frame_spec({}))  # what it reads
    record: dict = field(default_factory=dict)  # how those were made (model.pt "features")
    source: str = "the model"  # its model.pt, for errors

    @classmethod
    def load(cls, run: Path, device: str) -> FoldModel:
        """The model of a run folder (:mod:`pipeline.model.run_files`), its network on
        ``device``."""
        return cls.from_saved(run_files.read_model(run), device, str(run_files.model_file(run)))

    @classmethod
    def from_saved(cls, saved: dict, device: str, source: str = "the model") -> FoldModel:
        """From the content of a ``model.pt``, read on the CPU: the statistics stay host
        arrays, only the network moves to ``device``."""
        config = saved["config"]
        frames = frame_spec(saved["features"])
        net = EmotionSpeakerNet(
            len(saved["emotions"]), len(saved["train_speakers"]), config["embedding"], frames,
            run_files.erase_features(saved),
            validate_as(RunSettings, config, f"{source} config").speaker_heads,
        )  # fmt: skip
        net.load_state_dict(saved["state_dict"])
        return cls(
            net=net.to(device),
            mean=saved["mean"].numpy(),
            std=saved["std"].numpy(),
            max_frames=frames.frames_in(config["max_seconds"]),
            config=config,
            frames=frames,
            record=saved["features"],
            source=source,
        )

    def predict(self, frames: DeviceFrames, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(emotion probabilities, embeddings v) of the given rows of ``frames``.

        ``frames`` lives on this model's device and is built once by the caller, for all
        the models it scores. Frames made another way than the model's (another front end,
        SSL model, layers or pitch range) are a ModelError, not scores.
        """
        differ = differences(frames.record, self.record)
        if differ:
            raise ModelError(self.source, "trained on other features than these frames "
                             f"(frames != model: {'; '.join(differ)})")  # fmt: skip
        return predict(self.net, Inputs(frames, self.mean, self.std, self.max_frames), rows)
