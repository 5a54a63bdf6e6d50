"""Reading params.yaml, the single source of every setting and seed, and checking all of it.

Every stage loads the file through :func:`load_params`, which checks the whole file, not
only the keys that stage reads: a typo in ``train`` fails the first stage that runs after
it, in a second, never after hours of feature extraction or training. The DVC stage
``check`` runs it first on every change of params.yaml, and also checks that the corpus
roots exist; every other stage depends on its output.

Each rule names its key and the allowed values, so an error reads
``params.yaml train.epochs: expected an integer >= 1, got 0``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline import EMOTIONS
from pipeline.corpora import corpus_reader
from pipeline.errors import ConfigError
from pipeline.features import PitchRange
from pipeline.model import EMBEDDINGS
from pipeline.workers import N_JOBS_RULE, valid_n_jobs

PARAMS_FILE = Path("params.yaml")
SELECTIONS = ("best_val_ua", "last")

Rule = tuple[Callable[[Any], bool], str]
"""A predicate on a value, and the allowed values in words."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(minimum: int) -> Rule:
    return (lambda v: _is_int(v) and v >= minimum), f"an integer >= {minimum}"


def positive() -> Rule:
    return (lambda v: _is_number(v) and v > 0), "a number > 0"


def non_negative() -> Rule:
    return (lambda v: _is_number(v) and v >= 0), "a number >= 0"


def choice(*options: str) -> Rule:
    return (lambda v: v in options), f"one of {', '.join(options)}"


def text() -> Rule:
    return (lambda v: isinstance(v, str) and v != ""), "a non-empty string"


def _seeds(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(_is_int(s) and s >= 0 for s in value)
        and len(set(value)) == len(value)
    )


def _speeds(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(_is_number(s) and s > 0 and s != 1 for s in value)
        and len(set(value)) == len(value)
    )


def _folds(value: Any) -> bool:
    return value == "all" or (
        isinstance(value, list) and bool(value) and all(_is_int(i) and i >= 0 for i in value)
    )


def _device(value: Any) -> bool:
    return value in ("auto", "cpu", "cuda") or (
        isinstance(value, str) and re.fullmatch(r"cuda:\d+", value) is not None
    )


SCHEMA: dict[str, Any] = {
    "n_jobs": (valid_n_jobs, N_JOBS_RULE),
    "train_corpus": text(),
    "cross_corpus": text(),
    "corpora": None,  # free-form names; checked entry by entry in _check_corpora
    "demo": {
        "seed": integer(0),
        "iemocap": {
            "utterances_per_speaker": integer(4),  # one per class for every speaker
            "mean_seconds": positive(),
            "long_utterances": integer(0),
            "short_utterances": integer(0),
        },
        "mosei": {
            "videos": integer(1),
            "segments_per_video": integer(1),
            "mean_seconds": positive(),
        },
    },
    "features": {"f0_min_hz": positive(), "f0_max_hz": positive()},
    "augment": {
        "speeds": (_speeds, "a non-empty list of distinct speed factors > 0, none equal to 1"),
    },
    "lambda": ((lambda v: _is_number(v) and 0 < v < 1), "a number between 0 and 1, exclusive"),
    "train": {
        "seeds": (_seeds, "a non-empty list of distinct integers >= 0"),
        "epochs": integer(1),
        "max_seconds": positive(),
        "batch_size": integer(1),
        "lr": positive(),
        "lr_decay_power": non_negative(),
        "embedding": choice(*EMBEDDINGS),
        "selection": choice(*SELECTIONS),
        "menan_sc_steps": integer(1),
        "pack": integer(1),
        "device": (_device, "auto, cpu, cuda or cuda:<index>"),
        "folds": (_folds, "all, or a non-empty list of fold indices >= 0"),
    },
    "evaluate": {"probe_splits": integer(2), "seed": integer(0)},
    "report": {"tsne_fold": integer(0), "tsne_perplexity": positive(), "seed": integer(0)},
}

# Options of a corpus entry, by name; which ones a format accepts is its reader's signature.
CORPUS_OPTIONS: dict[str, Rule] = {
    "expected_counts": (
        lambda v: (
            v is None
            or (
                isinstance(v, dict)
                and set(v) <= set(EMOTIONS)
                and all(_is_int(n) and n >= 0 for n in v.values())
            )
        ),
        f"null or a mapping from {', '.join(EMOTIONS)} to integers >= 0",
    ),
    "manifest": text(),
    "label_map": (
        lambda v: (
            v is None
            or (isinstance(v, dict) and all(t is None or isinstance(t, str) for t in v.values()))
        ),
        "null or a mapping from corpus labels to one of the classes (or null to drop them)",
    ),
    "labels_file": text(),
    "wav_dir": text(),
}
CORPUS_NAME = re.compile(r"[A-Za-z0-9_-]+")


def load_params(path: str | Path = PARAMS_FILE) -> dict[str, Any]:
    """Load params.yaml and check every key of it (see the module docstring)."""
    path = Path(path)
    try:
        with path.open() as handle:
            params = yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: not found (run stages from the project folder)") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    validate(params, str(path))
    return params


def validate(params: Any, where: str = "params.yaml") -> None:
    """Raise ConfigError for the first setting that cannot work, naming its key."""
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    _check_section(params, SCHEMA, where, "")
    _check_corpora(params["corpora"], where)
    for key in ("train_corpus", "cross_corpus"):
        if params[key] not in params["corpora"]:
            raise ConfigError(
                f"{where} {key}: {params[key]!r} names no entry of corpora "
                f"(there are {', '.join(sorted(params['corpora']))})"
            )
    features = params["features"]
    PitchRange(features["f0_min_hz"], features["f0_max_hz"])  # its error names both keys


def _check_section(values: Any, schema: dict[str, Any], where: str, prefix: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} {prefix.rstrip('.')}: expected a mapping, got {values!r}")
    unknown = sorted(set(values) - set(schema))
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), list(schema), n=1)
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        raise ConfigError(f"{where} {prefix}{key}: unknown key{hint} (known: {', '.join(schema)})")
    for key, rule in schema.items():
        name = f"{prefix}{key}"
        if key not in values:
            expected = "a mapping" if isinstance(rule, dict) or rule is None else rule[1]
            raise ConfigError(f"{where} {name}: missing; expected {expected}")
        if isinstance(rule, dict):
            _check_section(values[key], rule, where, f"{name}.")
        elif rule is not None:
            _check_value(values[key], rule, where, name)


def _check_value(value: Any, rule: Rule, where: str, name: str) -> None:
    ok, allowed = rule
    if not ok(value):
        raise ConfigError(f"{where} {name}: expected {allowed}, got {value!r}")


def _check_corpora(corpora: Any, where: str) -> None:
    if not isinstance(corpora, dict) or not corpora:
        raise ConfigError(f"{where} corpora: expected a mapping of corpus names to entries")
    for name, entry in corpora.items():
        prefix = f"corpora.{name}"
        if not isinstance(name, str) or not CORPUS_NAME.fullmatch(name):
            raise ConfigError(
                f"{where} {prefix}: a corpus name is part of file names; use letters, digits, "
                "_ and -"
            )
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} {prefix}: expected a mapping with format and root")
        _check_value(entry.get("root"), text(), where, f"{prefix}.root")
        _, options = corpus_reader(name, entry)
        for key, value in options.items():
            _check_value(value, CORPUS_OPTIONS[key], where, f"{prefix}.{key}")


def check_roots(params: Mapping[str, Any], written_by_demo: str | Path) -> None:
    """Every corpus root must exist, except those the demo stage writes before they are read."""
    demo = Path(written_by_demo).resolve()
    for name, entry in params["corpora"].items():
        root = Path(entry["root"])
        if not root.is_dir() and not root.resolve().is_relative_to(demo):
            state = "is not a folder" if root.exists() else "does not exist"
            raise ConfigError(f"params.yaml corpora.{name}.root: {root} {state}")
