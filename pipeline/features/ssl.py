"""A self-supervised speech model (WavLM, HuBERT, wav2vec 2.0) as a front end: its folder
checked, its weights hashed, its hidden states computed.

The model is a folder in the Hugging Face format: ``config.json``, the weights
(``model.safetensors`` or ``pytorch_model.bin``, sharded or not) and
``preprocessor_config.json`` (the sample rate it was trained on and whether it expects
each utterance normalised to zero mean and unit variance). Everything that can be checked
is checked from those files before any weights are loaded (:func:`inspect`): a missing
folder or file, another model type, a sample rate other than 16 kHz, a layer past the
model's depth, each a :class:`~pipeline.runtime.errors.ConfigError` naming the setting or the
file. The pipeline never downloads a model; :func:`resolve` fetches from the Hugging Face
hub only a name written ``hf://<owner>/<model>``, and only where the machine is online.

Hidden states are computed one utterance at a time (a padded batch changes what models
with group-normalised convolutions compute for the shorter utterances), audio longer than
:data:`PIECE_S` in consecutive pieces of that length, each normalised and run on its own
(attention grows with the square of the length: a ten-minute recording in one piece would
need tens of gigabytes; every stage and ``menan`` cut the same pieces), in float32, on one
CPU thread whatever the process (so the features do not depend on ``n_jobs``: a worker and
the stage's own process compute the same floats), or on the GPU the ``device`` setting
names. ``hidden_states[0]`` is the transformer's input (the convolutional features,
projected), ``hidden_states[i]`` the output of its i-th layer, as ``transformers`` numbers
them; a frame holds the chosen layers side by side.

torch and transformers are imported only when a model runs: the rest of
:mod:`pipeline.features` imports no torch.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.features.spec import SAMPLE_RATE
from pipeline.runtime.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import torch

SUPPORTED = ("wavlm", "hubert", "wav2vec2")
"""``model_type`` values of ``config.json`` this front end runs (AutoModel's classes)."""
CONFIG = "config.json"
PREPROCESSOR = "preprocessor_config.json"
FETCH = ("fetch one with `hf download microsoft/wavlm-base-plus --local-dir <folder>` (or "
         "facebook/hubert-base-ls960, facebook/wav2vec2-base) and set params.yaml "
         "features.ssl.model to that folder")  # fmt: skip
HUB = "hf://"
"""The prefix of a hub model's name (``hf://microsoft/wavlm-base-plus``): fetched, never a
folder; any other name is a folder."""
PIECE_S = 30
"""Longest audio the model sees at once, in seconds (longer audio: consecutive pieces)."""
NORMALIZE_EPS = 1e-7  # as transformers' Wav2Vec2FeatureExtractor normalises
SETTING = "params.yaml features.ssl.model"


@dataclass(frozen=True)
class SslModel:
    """A model folder as its files describe it, checked, before any weights are loaded."""

    path: str
    model_type: str
    sha256: str  # of config.json, preprocessor_config.json and the weight files
    depth: int  # hidden states the model returns: its layers + 1 (the transformer's input)
    hidden_size: int
    hop: int  # samples per frame: the product of the convolutions' strides
    window: int  # samples one frame sees: the convolutions' receptive field
    normalize: bool  # zero mean, unit variance per utterance before the model

    def layers(self, choice: Any, where: str = "params.yaml features.ssl.layers") -> list[int]:
        """The hidden states ``choice`` names (``all``, one index or a list), checked against
        this model's depth; sorted, each once."""
        if choice == "all":
            return list(range(self.depth))
        chosen = [choice] if isinstance(choice, int) else list(choice)
        past = [i for i in chosen if not 0 <= i < self.depth]
        if past:
            raise ConfigError(
                f"{where}: layer {past[0]} is past the depth of {self.path} ({self.model_type}, "
                f"hidden states 0 to {self.depth - 1}: 0 is the transformer's input, "
                f"{self.depth - 1} its last layer)"
            )
        return sorted(set(chosen))


def resolve(name: str, where: str = SETTING) -> Path:
    """The local folder of a model: ``name`` itself (``~`` expanded), or for
    ``hf://<owner>/<model>`` the hub's copy (downloaded once into its cache; needs a network)."""
    if not name.startswith(HUB):
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise ConfigError(f"{where}: {folder} is not a model folder; {FETCH}")
        return folder
    try:
        from huggingface_hub import snapshot_download

        patterns = [CONFIG, PREPROCESSOR, "*.safetensors", "*.json", "*.bin"]
        return Path(snapshot_download(name.removeprefix(HUB), allow_patterns=patterns))
    except Exception as exc:  # offline, unknown id, no permission: all say the same here
        raise ConfigError(
            f"{where}: {name}: the hub has no such model this machine can fetch "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {FETCH}"
        ) from None


def weight_files(folder: Path) -> list[Path]:
    """The files that hold the weights (and a sharded model's index), by name."""
    found = [p for p in folder.iterdir() if p.is_file() and (
        p.suffix == ".safetensors" or re.fullmatch(r"pytorch_model.*\.bin", p.name)
        or p.name.endswith(".index.json"))]  # fmt: skip
    return sorted(found, key=lambda p: p.name)


def _json(path: Path, where: str) -> dict[str, Any]:
    if not path.is_file():
        hint = (
            "it records the model's sample rate and input normalisation; save the feature "
            "extractor beside the model (Wav2Vec2FeatureExtractor(...).save_pretrained)"
            if path.name == PREPROCESSOR
            else "not a model in the Hugging Face format"
        )
        raise ConfigError(f"{where}: {path} is missing ({hint}); {FETCH}")  # fmt: skip
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: {path} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {path} does not hold a JSON object")
    return value


def receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Samples one output frame of a stack of strided convolutions sees."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides, strict=True):
        field += (kernel - 1) * jump
        jump *= stride
    return field


def inspect(name: str | Path, where: str = SETTING) -> SslModel:
    """The model folder ``name`` checked from its files alone (no weights loaded)."""
    folder = resolve(str(name), where)
    config = _json(folder / CONFIG, where)
    model_type = config.get("model_type")
    if model_type not in SUPPORTED:
        raise ConfigError(f"{where}: {folder / CONFIG} has model_type {model_type!r}; this front "
                          f"end runs {', '.join(SUPPORTED)}")  # fmt: skip
    preprocessor = _json(folder / PREPROCESSOR, where)
    rate = preprocessor.get("sampling_rate")
    if rate != SAMPLE_RATE:
        raise ConfigError(
            f"{where}: {folder / PREPROCESSOR} says sampling_rate {rate!r}; the pipeline's audio "
            f"is {SAMPLE_RATE} Hz and the model would see it at the wrong rate"
        )
    weights = weight_files(folder)
    if not any(p.suffix in (".safetensors", ".bin") for p in weights):
        raise ConfigError(f"{where}: {folder} holds no weights (model.safetensors or "
                          f"pytorch_model.bin); {FETCH}")  # fmt: skip
    try:
        kernels, strides = list(config["conv_kernel"]), list(config["conv_stride"])
        depth, hidden = int(config["num_hidden_layers"]) + 1, int(config["hidden_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {folder / CONFIG} lacks {exc}") from None
    digest = hashlib.sha256()
    for path in [folder / CONFIG, folder / PREPROCESSOR, *weights]:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return SslModel(
        path=str(name), model_type=model_type, sha256=digest.hexdigest(), depth=depth,
        hidden_size=hidden, hop=math.prod(strides), window=receptive_field(kernels, strides),
        normalize=bool(preprocessor.get("do_normalize", False)),
    )  # fmt: skip


_LOADED: dict[tuple[str, str, str], Any] = {}
"""Models loaded in this process, by (folder, sha256, device): a worker loads each once."""


def load(model: SslModel, device: str = "cpu") -> torch.nn.Module:
    """The network of a checked folder in float32, in eval mode, on ``device``."""
    key = (model.path, model.sha256, device)
    if key not in _LOADED:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # its progress bars and notes, once per worker
        hf_logging.disable_progress_bar()
        folder = resolve(model.path)
        network = AutoModel.from_pretrained(folder, dtype=torch.float32)
        _LOADED[key] = network.eval().to(device)
    return _LOADED[key]


@contextmanager
def _one_thread(device: str) -> Iterator[None]:
    """One intra-op thread on the CPU, so the floats do not depend on the process."""
    import torch

    if not device.startswith("cpu"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def hidden_states(
    model: SslModel, audio: np.ndarray, layers: Sequence[int], device: str = "cpu"
) -> np.ndarray:
    """(frames, len(layers) * hidden_size) float32: the chosen hidden states of 16 kHz audio,
    side by side, in pieces of at most :data:`PIECE_S` seconds. Audio shorter than one
    frame's window is cycle-repeated to it (as a crop repeats a short utterance); a last
    piece that short makes no frame."""
    import torch

    network = load(model, device)
    x = np.asarray(audio, dtype=np.float32)
    if len(x) < model.window:
        x = np.resize(x, model.window)
    piece = PIECE_S * SAMPLE_RATE
    parts = []
    with _one_thread(device), torch.inference_mode():
        for start in range(0, len(x) - model.window + 1, piece):
            part = x[start : start + piece]
            if model.normalize:
                part = (part - part.mean()) / np.sqrt(part.var() + NORMALIZE_EPS)
            out = network(torch.from_numpy(part)[None].to(device), output_hidden_states=True)
            states = torch.cat([out.hidden_states[i][0] for i in layers], dim=-1)
            parts.append(states.float().cpu().numpy())
    return np.concatenate(parts)
