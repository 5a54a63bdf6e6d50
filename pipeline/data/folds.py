"""Speaker-disjoint folds of the training corpus, by one of four protocols.

Every fold names its ``train``, ``val`` (checkpoint selection) and ``test`` speakers; its
``session`` is the group of folds that share their training speakers, so one training run
(per seed) serves all of them; ``protocol`` and ``unit`` say how the folds were cut and what
the statistics may treat as independent.

- ``sessions`` (the paper's, IEMOCAP's default): sessions of two speakers; one is the test
  speaker and the other the validation speaker, then the two are switched; everyone else
  trains. A corpus without a session column is paired in sorted speaker order (say so with
  ``sessions`` explicitly; ``auto`` never does it). Unit: the session.
- ``leave_one_speaker_out`` (corpora of a few dozen speakers): every speaker is the test
  speaker once; the validation speaker is the next speaker *of the other gender* in sorted
  order (the next speaker, where genders are unknown or one gender only), so the two unseen
  speakers of a fold span both genders (the gender probe scores both) and the training set
  loses one speaker of each (EmoDB: 4 and 4, not 3 against 5). Unit: the test speaker.
- ``speaker_kfold`` (corpora of many speakers): speakers are shuffled (``folds.seed``) and
  dealt into ``folds.k`` groups within each gender, so every group has the corpus's gender
  mix; group i is the test group and group i+1 the validation group. Unit: the group.
- ``split``: the corpus's own ``split`` column (train / validation / test), one fold;
  repeated runs differ only in their seed, so the unit is the seed, and intervals cover
  training randomness only, never the choice of test speakers.

``auto`` follows the corpus: sessions when it has sessions of two speakers, its split when
it has one, leave-one-speaker-out up to LOSO_MAX_SPEAKERS speakers, speaker k-fold beyond.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd

from pipeline.data.labels import SPLIT_NAMES
from pipeline.runtime.atomic import write_json
from pipeline.runtime.errors import ConfigError, PathError

PROTOCOLS = ("sessions", "leave_one_speaker_out", "speaker_kfold", "split")
UNITS = {"sessions": "session", "leave_one_speaker_out": "test speaker",
         "speaker_kfold": "speaker group", "split": "seed"}  # fmt: skip
"""What a protocol's results are independent over (the statistics' unit)."""
LOSO_MAX_SPEAKERS = 30
PROTOCOL_NEEDS = "the sessions protocol needs at least 2 sessions of 2 speakers"


class Fold(TypedDict):
    """One fold of ``data/folds.json``: written by the folds stage (:func:`write_folds`),
    read by training through :func:`read_folds`, and carried into every run's ``fold.json``.
    ``val`` and ``test`` are one speaker or a list (:func:`speakers_of`)."""

    fold: int
    protocol: str
    unit: str
    session: str
    train: list[str]
    val: str | list[str]
    test: str | list[str]


def write_folds(path: str | Path, folds: list[Fold]) -> None:
    """``data/folds.json``, atomically."""
    write_json(path, folds)


def read_folds(path: str | Path) -> list[Fold]:
    """``data/folds.json``; an error naming the file where a fold lacks a key."""
    folds = json.loads(Path(path).read_text())
    for fold in folds:
        missing = [key for key in Fold.__annotations__ if key not in fold]
        if missing:
            raise PathError(path, f"fold {fold.get('fold')} has no {missing}: not written by "
                            "this version's folds stage")  # fmt: skip
    return folds


def speakers_of(held_out: str | list[str]) -> list[str]:
    """A fold's ``val`` or ``test``: one speaker (sessions, leave-one-out) or a list."""
    return [held_out] if isinstance(held_out, str) else list(held_out)


def held_out(fold: Fold) -> list[str]:
    """The speakers a fold never trains on: its validation and test speakers."""
    return speakers_of(fold["val"]) + speakers_of(fold["test"])


def scored_by_unit(fold: Fold) -> list[str]:
    """The speakers the statistics' unit of ``fold`` scores: under the sessions protocol a
    session's two folds swap validation and test, so the session scores both held-out
    speakers; under every other protocol a unit (test speaker, group, seed) scores only its
    test side. The Nadeau-Bengio correction counts these over the training speakers."""
    if fold.get("protocol", "sessions") == "sessions":
        return held_out(fold)
    return speakers_of(fold["test"])


def choose_protocol(labels: pd.DataFrame, setting: str) -> str:
    """The protocol ``setting`` means for this corpus (``auto``: see the module)."""
    if setting != "auto":
        return setting
    sessions = labels["session"].dropna()
    if len(sessions) == len(labels) and (labels.groupby("session")["speaker"].nunique() == 2).all():
        return "sessions"
    if "split" in labels and labels["split"].notna().all():
        return "split"
    if labels["speaker"].nunique() <= LOSO_MAX_SPEAKERS:
        return "leave_one_speaker_out"
    return "speaker_kfold"


def make_folds(labels: pd.DataFrame, protocol: str = "sessions", k: int = 5,
               seed: int = 0) -> list[Fold]:  # fmt: skip
    """The folds of ``protocol`` (after :func:`choose_protocol`), numbered from 0."""
    makers = {
        "sessions": lambda: _sessions(labels),
        "leave_one_speaker_out": lambda: _leave_one_out(labels),
        "speaker_kfold": lambda: _kfold(labels, k, seed),
        "split": lambda: _split(labels),
    }
    if protocol not in makers:
        raise ConfigError(f"params.yaml folds.protocol: expected auto or one of {PROTOCOLS}, "
                          f"got {protocol!r}")  # fmt: skip
    folds = makers[protocol]()
    return [
        {"fold": i, **fold, "protocol": protocol, "unit": UNITS[protocol]}
        for i, fold in enumerate(folds)
    ]


def sessions_of(labels: pd.DataFrame) -> dict[str, list[str]]:
    """Session -> its two speakers (sorted), from the label table."""
    if labels["session"].isna().all():
        speakers = sorted(labels["speaker"].unique())
        if len(speakers) < 4:
            raise ConfigError(f"{PROTOCOL_NEEDS}; found {len(speakers)} speaker(s): {speakers}")
        if len(speakers) % 2:
            raise ConfigError(
                f"cannot pair an odd number of speakers into sessions ({PROTOCOL_NEEDS}, "
                f"paired in sorted order without a session column): {speakers}"
            )
        return {f"pair{i // 2:02d}": speakers[i : i + 2] for i in range(0, len(speakers), 2)}
    if labels["session"].isna().any():
        raise ConfigError("some utterances have a session and others none; give every row one")
    groups = labels.groupby("session")["speaker"].unique()
    bad = {s: sorted(v) for s, v in groups.items() if len(v) != 2}
    if bad:
        raise ConfigError(f"every session needs exactly two speakers; these do not: {bad}")
    return {str(s): sorted(v) for s, v in sorted(groups.items())}


def _sessions(labels: pd.DataFrame) -> list[Fold]:
    sessions = sessions_of(labels)
    if len(sessions) < 2:
        raise ConfigError(f"{PROTOCOL_NEEDS}; found {len(sessions)}: {sorted(sessions)}")
    folds = []
    for session, (first, second) in sessions.items():
        train = sorted(s for other, pair in sessions.items() if other != session for s in pair)
        for test, val in ((first, second), (second, first)):
            folds.append({"session": session, "test": test, "val": val, "train": train})
    return folds


def _genders(labels: pd.DataFrame) -> dict[str, str | None]:
    """Speaker -> gender (None where the corpus does not record it)."""
    first = labels.drop_duplicates("speaker").set_index("speaker")["gender"]
    return {str(s): (None if pd.isna(g) else str(g)) for s, g in first.items()}


def _leave_one_out(labels: pd.DataFrame) -> list[Fold]:
    genders = _genders(labels)
    speakers = sorted(genders)
    if len(speakers) < 3:
        raise ConfigError(f"leave-one-speaker-out needs at least 3 speakers; found {speakers}")
    folds = []
    for i, test in enumerate(speakers):
        order = speakers[i + 1 :] + speakers[:i]  # the speakers after it, cyclically
        other = [s for s in order if None not in (genders[s], genders[test])
                 and genders[s] != genders[test]]  # fmt: skip
        val = (other or order)[0]
        train = [s for s in speakers if s not in (test, val)]
        folds.append({"session": test, "test": test, "val": val, "train": train})
    return folds


def _kfold(labels: pd.DataFrame, k: int, seed: int) -> list[Fold]:
    genders = _genders(labels)
    if len(genders) < 2 * k or k < 3:
        raise ConfigError(f"speaker k-fold with k={k} needs k >= 3 and at least 2k speakers; "
                          f"found {len(genders)}")  # fmt: skip
    rng = np.random.default_rng(seed)
    groups: list[list[str]] = [[] for _ in range(k)]
    dealt = 0
    for gender in sorted({g or "" for g in genders.values()}):
        members = sorted(s for s, g in genders.items() if (g or "") == gender)
        for speaker in rng.permutation(members):
            groups[dealt % k].append(str(speaker))  # continue the deal: groups stay even
            dealt += 1
    folds = []
    for i in range(k):
        test, val = sorted(groups[i]), sorted(groups[(i + 1) % k])
        train = sorted(s for j, g in enumerate(groups) if j not in (i, (i + 1) % k) for s in g)
        folds.append({"session": f"group{i}", "test": test, "val": val, "train": train})
    return folds


def _split(labels: pd.DataFrame) -> list[Fold]:
    if "split" not in labels or labels["split"].isna().any():
        raise ConfigError("the split protocol needs a split column (train, validation, test) "
                          "on every utterance of the training corpus")  # fmt: skip
    speakers = {part: sorted(labels.loc[labels["split"] == part, "speaker"].unique())
                for part in SPLIT_NAMES}  # fmt: skip
    empty = [part for part, found in speakers.items() if not found]
    if empty:
        raise ConfigError(f"the split protocol needs speakers in every split; none in {empty}")
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        shared = sorted(set(speakers[a]) & set(speakers[b]))
        if shared:
            raise ConfigError(f"speakers in both the {a} and the {b} split (the protocol "
                              f"is speaker-disjoint): {shared[:10]}")  # fmt: skip
    return [{"session": "split", "test": speakers["test"], "val": speakers["validation"],
             "train": speakers["train"]}]  # fmt: skip
