"""10-fold leave-one-speaker-out folds, as the paper: one session held out per fold pair.

For each session (two speakers), one speaker is the test speaker and the other the
validation speaker, then the two are switched; the speakers of all other sessions train.
Both folds of a pair therefore train on the same speakers and differ only in which
held-out speaker selects the checkpoint (SpeechBrain's IEMOCAP recipe does the same).
A corpus without sessions (a manifest without a ``session`` column) pairs its speakers
in sorted order.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.errors import ConfigError

PROTOCOL_NEEDS = "the 10-fold protocol needs at least 2 sessions of 2 speakers"


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


def make_folds(labels: pd.DataFrame) -> list[dict[str, Any]]:
    """Two folds per session: (test, val) = (a, b), then (b, a); everyone else trains."""
    sessions = sessions_of(labels)
    if len(sessions) < 2:
        raise ConfigError(f"{PROTOCOL_NEEDS}; found {len(sessions)}: {sorted(sessions)}")
    folds = []
    for session, (first, second) in sessions.items():
        train = sorted(s for other, pair in sessions.items() if other != session for s in pair)
        for test, val in ((first, second), (second, first)):
            folds.append(
                {"fold": len(folds), "session": session, "test": test, "val": val, "train": train}
            )
    return folds
