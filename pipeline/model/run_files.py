"""The files of one trained (fold, seed) run: their layout, writing and reading, in one place.

A regime's training output holds one folder per run, ``fold<NN>/seed<S>/``, with

- ``model.pt``: the selected weights as an ordinary ``EmotionSpeakerNet`` state dict, the
  training standardization (mean, std), the settings, the training speakers, the emotions
  and the features the network expects (:func:`pipeline.features.spec.model_record`: the
  front end, and for a self-supervised one its model's type, hash and layers); format
  :data:`MODEL_FORMAT`; a released model, ``models/<regime>/model.pt``, is the same format;
- ``predictions.parquet``: the validation and test speakers' utterances (split, utt_id,
  speaker, label, predicted, prob_<emotion>);
- ``embeddings.npz``: v of the same utterances (``val_utt_id``, ``val_v``, ``test_*``);
- ``curve.json``: per epoch, the logged losses, validation WA/UA and the learning rate;
- ``fold.json``: the fold, the seed, the selected epoch, val/test WA and UA. Written last,
  it doubles as the completion record.

Training writes these (:func:`write`), evaluation and the report read them back. Only
``model.pt`` needs torch, which is imported when it is read or written, so the report,
which reads the rest, runs without torch. ``model.pt`` is read with ``weights_only``: it
holds tensors and plain values, and loading it never runs code from it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import EMOTIONS
from pipeline.features.spec import PAPER43, frontend_of, model_record
from pipeline.runtime.errors import CorpusError, ModelError

if TYPE_CHECKING:
    import torch

    from pipeline.data.folds import Fold
    from pipeline.features.frame_store import Split

MODEL = "model.pt"
PREDICTIONS = "predictions.parquet"
EMBEDDINGS_FILE = "embeddings.npz"
CURVE = "curve.json"
SUMMARY = "fold.json"
SCORED_SPLITS = ("val", "test")
MODEL_FORMAT = 1
"""Version of ``model.pt``'s content; a reader refuses any other. A model's stored settings
are checked against today's :class:`~pipeline.params.RunSettings` when it is loaded, so a
change to the ``train`` settings' schema comes with a new format number."""
SSL_FORMAT = 2
"""Format 1 on a self-supervised front end: its ``features`` record names the SSL model and
its weights gain ``enc.layer_weights``, which a reader of format 1 alone cannot use (the
paper's models stay format 1, byte for byte)."""
ERASED_FORMAT = 3
"""Either of the above with a concept eraser ending the encoder (an erasure regime's,
``enc.erase.*``): its ``erasure`` record says how to build it (:func:`erase_features`)."""
FORMATS = (MODEL_FORMAT, SSL_FORMAT, ERASED_FORMAT)
MODEL_KEYS = ("format", "state_dict", "regime", "seed", "config", "train_speakers", "mean",
              "std", "emotions", "features")  # fmt: skip


def model_format(features: dict[str, Any], erasure: dict[str, Any] | None) -> int:
    """The format a ``model.pt`` of these features (and eraser, if any) is written in."""
    if erasure is not None:
        return ERASED_FORMAT
    return MODEL_FORMAT if frontend_of(features) == PAPER43 else SSL_FORMAT


def erase_features(saved: dict[str, Any]) -> int | None:
    """The eraser a ``model.pt``'s network ends with: None (none), 0 (LEACE on v) or the
    number of random Fourier features it erases in."""
    erasure = saved.get("erasure")
    return None if erasure is None else int(erasure["features"])


def run_dir(root: str | Path, fold: int, seed: int) -> Path:
    """The folder of the run of ``fold`` and ``seed`` under a regime's training output."""
    return Path(root) / f"fold{fold:02d}" / f"seed{seed}"


def finished_runs(root: str | Path) -> list[Path]:
    """The finished runs of one regime's training output, by fold then seed."""
    dirs = [p.parent for p in Path(root).glob(f"fold[0-9][0-9]/seed*/{SUMMARY}")]
    if not dirs:
        raise CorpusError(str(root), f"no finished folds (foldNN/seedS/{SUMMARY}) in it")
    return sorted(dirs, key=lambda d: (d.parent.name, int(d.name.removeprefix("seed"))))


@dataclass
class FoldResult:
    """What training keeps of one fold of a run: the selected model and what it predicted."""

    state: dict[str, torch.Tensor]
    mean: np.ndarray
    std: np.ndarray
    predictions: pd.DataFrame
    embeddings: dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (utt_ids, v)
    curve: list[dict[str, Any]]
    results: dict[str, Any]
    erasure: dict[str, Any] | None = None  # an erasure regime's record (ERASED_FORMAT)


def prediction_table(split_name: str, split: Split, probs: np.ndarray) -> pd.DataFrame:
    """The rows of ``predictions.parquet`` for one split."""
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


def model_payload(
    state: dict[str, torch.Tensor], regime: str, seed: int, settings: dict[str, Any],
    speakers: list[str], mean: np.ndarray, std: np.ndarray, features: dict[str, Any],
    erasure: dict[str, Any] | None = None, **extra: Any,
) -> dict[str, Any]:  # fmt: skip
    """The content of a ``model.pt``: everything needed to score audio with the network."""
    import torch

    return {
        "format": model_format(features, erasure),
        "state_dict": state,
        "regime": regime,
        "seed": seed,
        "config": settings,
        "train_speakers": list(speakers),
        "mean": torch.from_numpy(mean),
        "std": torch.from_numpy(std),
        "emotions": list(EMOTIONS),
        "features": model_record(features),
        **({"erasure": erasure} if erasure is not None else {}),
        **extra,
    }


def write(
    target: Path,
    fold: Fold,
    seed: int,
    regime: str,
    settings: dict[str, Any],
    features: dict[str, Any],
    result: FoldResult,
) -> None:
    """Write one run's folder; ``fold.json`` last, as the completion record.

    ``features``: the feature table's metadata (``pipeline.features.store.read_metadata``).
    """
    target.mkdir(parents=True)
    payload = model_payload(
        result.state, regime, seed, settings, fold["train"], result.mean, result.std, features,
        result.erasure,
    )  # fmt: skip
    write_torch(target / MODEL, payload)
    pq.write_table(
        pa.Table.from_pandas(result.predictions, preserve_index=False), target / PREDICTIONS
    )
    np.savez(
        target / EMBEDDINGS_FILE,
        **{f"{s}_utt_id": ids.astype(str) for s, (ids, _) in result.embeddings.items()},
        **{f"{s}_v": v for s, (_, v) in result.embeddings.items()},
    )
    curve = json.dumps(result.curve, indent=1, allow_nan=False)
    (target / CURVE).write_text(curve + "\n")
    summary = {**fold, "seed": seed, "regime": regime, **result.results}
    record = json.dumps(summary, indent=2, sort_keys=True, allow_nan=False)
    (target / SUMMARY).write_text(record + "\n")


def write_torch(path: Path, payload: Any) -> None:
    """``torch.save`` through Python's own file writing.

    torch's C++ writer reports a full disk as ``unexpected pos`` with no path or cause;
    serialising to memory first (a model or a pack's state is a few MB) makes a failed
    write an ordinary ``OSError`` with its errno, which :func:`pipeline.runtime.atomic.atomic_path`
    turns into a message naming the path.
    """
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.write_bytes(buffer.getbuffer())


def read_summary(run: Path) -> dict[str, Any]:
    return json.loads((run / SUMMARY).read_text())


def read_curve(run: Path) -> list[dict[str, Any]]:
    return json.loads((run / CURVE).read_text())


def read_predictions(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / PREDICTIONS)


def model_file(path: str | Path) -> Path:
    """The ``model.pt`` a model argument means: the file itself, or the one in the folder."""
    path = Path(path)
    return path if path.name == MODEL else path / MODEL


def read_model(folder: Path) -> dict[str, Any]:
    """``model.pt`` of a run or a released model, every tensor on the CPU whatever device
    trained it; a clear error for a missing file, another format or a file that is not one.
    """
    import pickle

    import torch

    path = model_file(folder)
    if not path.is_file():
        raise ModelError(path.parent, f"no {MODEL} in it: not a run or a released model folder")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(path, f"not a model file this pipeline can read ({first})") from None
    found = saved.get("format") if isinstance(saved, dict) else None
    if found not in FORMATS:
        what = (
            "no format field (written by an older version)" if found is None else f"format {found}"
        )
        raise ModelError(
            path, f"{what}; this pipeline reads formats {FORMATS}: retrain with this version"
        )
    missing = [key for key in MODEL_KEYS if key not in saved]
    if found == ERASED_FORMAT and "erasure" not in saved:
        missing.append("erasure")
    if missing:
        raise ModelError(path, f"incomplete: missing {', '.join(missing)}")
    return saved


def unseen_embeddings(run: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(v, speaker, emotion) of a run's validation and test utterances: never trained on."""
    with np.load(run / EMBEDDINGS_FILE) as npz:
        utt_ids = np.concatenate([npz[f"{s}_utt_id"] for s in SCORED_SPLITS])
        v = np.concatenate([npz[f"{s}_v"] for s in SCORED_SPLITS])
    meta = read_predictions(run).set_index("utt_id").loc[utt_ids]
    return v, meta["speaker"].to_numpy(), meta["label"].to_numpy()
