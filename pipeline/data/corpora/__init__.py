"""One module per corpus layout, each with ``prepare(root, ...) -> (table, info)``.

``table`` follows :mod:`pipeline.data.labels`; ``info`` holds the counts a user wants to
see about what was kept and dropped (the label stage writes them to
``reports/results/labels/<corpus>.json``).
Which reader a corpus uses is its ``format`` in params.yaml, so a user's own corpus is
one more entry under ``corpora:``, never a code change.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from pipeline import EMOTIONS
from pipeline.data.corpora import crema_d, emodb, iemocap, manifest, mosei, msp_podcast, ravdess
from pipeline.runtime.errors import ConfigError

READERS: dict[str, Callable[..., tuple[pd.DataFrame, dict[str, Any]]]] = {
    "iemocap": iemocap.prepare,
    "mosei": mosei.prepare,
    "manifest": manifest.prepare,
    "emodb": emodb.prepare,
    "ravdess": ravdess.prepare,
    "crema_d": crema_d.prepare,
    "msp_podcast": msp_podcast.prepare,
}


# Options of a corpus entry, by name; which ones a format accepts is its reader's signature.
CORPUS_OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "expected_counts": (
        lambda v: (
            v is None
            or v == "auto"
            or (
                isinstance(v, dict)
                and set(v) <= set(EMOTIONS)
                and all(
                    isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in v.values()
                )
            )
        ),
        f"null, auto (a reader's own default check) or a mapping from {', '.join(EMOTIONS)} "
        "to integers >= 0",
    ),
    "manifest": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "label_map": (
        lambda v: (
            v is None
            or (isinstance(v, dict) and all(t is None or isinstance(t, str) for t in v.values()))
        ),
        "null or a mapping from corpus labels to one of the classes (or null to drop them)",
    ),
    "labels_file": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "wav_dir": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "test_set": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
}


def corpus_reader(
    name: str, config: Mapping[str, Any]
) -> tuple[Callable[..., tuple[pd.DataFrame, dict[str, Any]]], dict[str, Any]]:
    """The reader that ``config['format']`` names, and the entry's options for it.

    Refuses an unknown format, a missing root and options the reader does not take.
    """
    where = f"params.yaml corpora.{name}"
    fmt = config.get("format")
    if fmt not in READERS:
        raise ConfigError(f"{where}.format: expected one of {sorted(READERS)}, got {fmt!r}")
    if "root" not in config:
        raise ConfigError(f"{where}.root: missing (the corpus folder)")
    reader = READERS[fmt]
    options = {k: v for k, v in config.items() if k not in ("format", "root")}
    allowed = set(inspect.signature(reader).parameters) - {"root"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown keys {unknown} for format {fmt!r}; allowed {sorted(allowed)}"
        )
    return reader, options


def prepare_corpus(name: str, config: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run the reader named by ``config['format']`` with the rest of the entry as options."""
    reader, options = corpus_reader(name, config)
    table, info = reader(config["root"], **options)
    table["corpus"] = name
    return table, {"format": config["format"], **info}


def check_entries(corpora: Mapping[str, Mapping[str, Any]]) -> None:
    """Every entry of params.yaml's ``corpora``: a known format, only the options its reader
    takes, each of the right type; a ConfigError naming the key (the check stage runs it
    before any other stage)."""
    for name, entry in corpora.items():
        reader, options = corpus_reader(name, entry)
        defaults = {k: p.default for k, p in inspect.signature(reader).parameters.items()}
        for key, value in options.items():
            ok, allowed = CORPUS_OPTIONS[key]
            if value == "auto" and defaults.get(key) != "auto":
                raise ConfigError(f"params.yaml corpora.{name}.{key}: format "
                                  f"{entry['format']!r} has no auto check; give null or a "
                                  "mapping")  # fmt: skip
            if not ok(value):
                raise ConfigError(f"params.yaml corpora.{name}.{key}: expected {allowed}, "
                                  f"got {value!r}")  # fmt: skip
