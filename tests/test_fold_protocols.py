"""The fold protocols beyond IEMOCAP's sessions: leave-one-speaker-out, speaker k-fold, a
corpus's own split, and which one ``auto`` picks."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.data.corpora.emodb import GENDERS
from pipeline.data.folds import choose_protocol, make_folds, scored_by_unit, speakers_of
from pipeline.runtime.errors import ConfigError


def _corpus(speakers: int, female_every: int = 2, **columns) -> pd.DataFrame:
    rows = [
        {"speaker": f"s{i:03d}", "session": None, "gender": "F" if i % female_every == 0 else "M",
         **{k: v(i) for k, v in columns.items()}}
        for i in range(speakers) for _ in range(2)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _disjoint(fold: dict) -> None:
    test, val, train = (
        set(speakers_of(fold["test"])),
        set(speakers_of(fold["val"])),
        set(fold["train"]),
    )
    assert not (test & val or test & train or val & train)


def test_leave_one_speaker_out_validates_on_the_next_speaker_of_the_other_gender() -> None:
    labels = _corpus(24)
    folds = make_folds(labels, "leave_one_speaker_out")
    assert len(folds) == 24 and sorted(f["test"] for f in folds) == sorted(
        labels["speaker"].unique()
    )
    gender = labels.drop_duplicates("speaker").set_index("speaker")["gender"]
    for fold in folds:
        _disjoint(fold)
        assert len(fold["train"]) == 22 and gender[fold["val"]] != gender[fold["test"]]
        assert fold["session"] == fold["test"] and fold["unit"] == "test speaker"
        # the training set loses one speaker of each gender
        assert gender[fold["train"]].value_counts().to_dict() == {"F": 11, "M": 11}
    assert (folds[0]["test"], folds[0]["val"]) == ("s000", "s001")  # next of the other gender
    assert (folds[-1]["test"], folds[-1]["val"]) == ("s023", "s000")  # cyclic
    one_gender = _corpus(5, female_every=1)
    assert make_folds(one_gender, "leave_one_speaker_out")[0]["val"] == "s001"  # the next one


def test_leave_one_speaker_out_on_emodb_leaves_both_genders_unseen_in_every_fold() -> None:
    """EmoDB's ten speakers with their documented genders: every fold's validation and test
    speakers differ in gender (so the gender probe scores both), and every training set has
    four of each."""
    labels = pd.DataFrame(
        [{"speaker": s, "session": None, "gender": g} for s, g in GENDERS.items() for _ in "ab"]
    )
    folds = make_folds(labels, "leave_one_speaker_out")
    assert len(folds) == 10
    for fold in folds:
        assert GENDERS[fold["val"]] != GENDERS[fold["test"]], fold
        assert sorted(GENDERS[s] for s in fold["train"]) == ["F"] * 4 + ["M"] * 4, fold


def test_speaker_kfold_deals_gender_balanced_groups_from_the_seed() -> None:
    labels = _corpus(91, female_every=3)
    folds = make_folds(labels, "speaker_kfold", k=5, seed=0)
    assert len(folds) == 5
    tests = [set(f["test"]) for f in folds]
    assert set().union(*tests) == set(labels["speaker"]) and sum(map(len, tests)) == 91
    females = [sum(int(s[1:]) % 3 == 0 for s in group) for group in tests]
    assert max(females) - min(females) <= 1 and max(map(len, tests)) - min(map(len, tests)) <= 1
    for i, fold in enumerate(folds):
        _disjoint(fold)
        assert fold["val"] == folds[(i + 1) % 5]["test"] and fold["unit"] == "speaker group"
        unseen = [*fold["val"], *fold["test"]]  # both genders, so the gender probe runs
        assert {int(s[1:]) % 3 == 0 for s in unseen} == {True, False}
    assert make_folds(labels, "speaker_kfold", k=5, seed=0) == folds
    assert make_folds(labels, "speaker_kfold", k=5, seed=1) != folds


def test_the_split_protocol_is_one_fold_of_the_corpus_split() -> None:
    parts = {0: "train", 1: "train", 2: "train", 3: "validation", 4: "test"}
    labels = _corpus(10, split=lambda i: parts[i % 5])
    (fold,) = make_folds(labels, "split")
    assert fold["test"] == ["s004", "s009"] and fold["val"] == ["s003", "s008"]
    assert len(fold["train"]) == 6 and fold["unit"] == "seed"
    mixed = labels.copy()
    mixed.loc[0, "split"] = "test"  # s000 now in train and test
    with pytest.raises(ConfigError, match=r"speakers in both the train and the test split.*s000"):
        make_folds(mixed, "split")


def test_auto_follows_the_corpus() -> None:
    sessions = pd.DataFrame({"speaker": ["a", "b", "c", "d"], "session": ["1", "1", "2", "2"]})
    assert choose_protocol(sessions, "auto") == "sessions"
    assert choose_protocol(_corpus(10, split=lambda i: "train"), "auto") == "split"
    assert choose_protocol(_corpus(24), "auto") == "leave_one_speaker_out"
    assert choose_protocol(_corpus(91), "auto") == "speaker_kfold"
    assert choose_protocol(_corpus(91), "leave_one_speaker_out") == "leave_one_speaker_out"
    with pytest.raises(ConfigError, match="k=5 needs k >= 3 and at least 2k speakers"):
        make_folds(_corpus(8), "speaker_kfold", k=5)


def test_a_unit_counts_only_the_speakers_it_scores_for_the_interval_correction() -> None:
    """Nadeau-Bengio's n_2: a session scores both held-out speakers (its two folds swap
    them), a test speaker or group only itself; with ten speakers leave-one-speaker-out
    corrects by 1/8, not 2/8 (an interval 1.25x too wide otherwise)."""
    sessions = pd.DataFrame(
        [{"speaker": f"S{s}{g}", "session": f"S{s}", "gender": g} for s in range(5) for g in "FM"]
    )
    assert {len(scored_by_unit(f)) for f in make_folds(sessions, "sessions")} == {2}
    loso = make_folds(sessions.assign(session=None), "leave_one_speaker_out")
    assert {len(scored_by_unit(f)) for f in loso} == {1}
    assert {len(f["train"]) for f in loso} == {8}
    kfold = make_folds(_corpus(30), "speaker_kfold", k=5, seed=0)
    assert [len(scored_by_unit(f)) for f in kfold] == [len(f["test"]) for f in kfold]
