"""Probes on constructed embeddings: each must find what is there and only that.

Eight training speakers, four per gender, each with its own emotion mix (as real actors
have). Three embeddings: one that carries emotion and nothing else, one that carries
gender and nothing else, and one that encodes the speaker independently of both. The
controlled speaker probe must sit at chance on the first two and find the third; the
uncontrolled probe it replaces is shown to be fooled by the first two. The gender probe is
speaker-disjoint, the held-out speaker probe scores utterances its fit never saw, and
both probe models have a unique answer.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import EMOTIONS
from pipeline.evaluation.probes import (
    PROBE_MODELS,
    emotion_balanced,
    gender_probe,
    probe_accuracy,
    speaker_heldout_probe,
    speaker_probe,
)

SPEAKERS = [f"S{k}{g}" for g in "FM" for k in range(4)]
CHANCE = 0.25  # four speakers per gender
DIM = 16


def _corpus(per_speaker: int = 120, seed: int = 0) -> dict[str, np.ndarray]:
    """Speakers, genders and emotions, every speaker with a different emotion mix."""
    rng = np.random.default_rng(seed)
    speakers, emotions = [], []
    for k, speaker in enumerate(SPEAKERS):
        mix = np.roll([0.55, 0.25, 0.12, 0.08], k)  # speaker k mostly speaks emotion k % 4
        speakers += [speaker] * per_speaker
        emotions += list(rng.choice(EMOTIONS, size=per_speaker, p=mix))
    speakers, emotions = np.array(speakers), np.array(emotions)
    return {"speakers": speakers, "genders": np.array([s[-1] for s in speakers]),
            "emotions": emotions, "rng": rng}  # fmt: skip


def _embed(codes: np.ndarray, rng: np.random.Generator, scale: float = 3.0) -> np.ndarray:
    """An embedding carrying one label (a random direction per value) plus unit noise."""
    values = np.unique(codes)
    directions = rng.standard_normal((len(values), DIM))
    index = np.searchsorted(values, codes)
    return scale * directions[index] + rng.standard_normal((len(codes), DIM))


@pytest.fixture(scope="module")
def corpus() -> dict[str, np.ndarray]:
    return _corpus()


def _controlled(v: np.ndarray, c: dict, model: str) -> float:
    result = speaker_probe(v, c["speakers"], c["genders"], c["emotions"], 5, 0, model)
    assert result["chance"] == pytest.approx(CHANCE)
    return result["accuracy"]


@pytest.mark.parametrize("model", list(PROBE_MODELS))
def test_speaker_only_through_emotion_sits_at_chance(corpus: dict, model: str) -> None:
    v = _embed(corpus["emotions"], corpus["rng"])
    naive = probe_accuracy(v, corpus["speakers"], 5, 0, "linear")
    assert naive["accuracy"] > naive["chance"] + 0.1  # the confound the old probe fell for
    assert abs(_controlled(v, corpus, model) - CHANCE) < 0.08


@pytest.mark.parametrize("model", list(PROBE_MODELS))
def test_speaker_only_through_gender_sits_at_chance(corpus: dict, model: str) -> None:
    v = _embed(corpus["genders"], corpus["rng"])
    naive = probe_accuracy(v, corpus["speakers"], 5, 0, "linear")
    assert naive["accuracy"] > 0.2 > naive["chance"] + 0.05  # 1 in 4 instead of 1 in 8
    assert abs(_controlled(v, corpus, model) - CHANCE) < 0.08


@pytest.mark.parametrize("model", list(PROBE_MODELS))
def test_speaker_encoded_independently_is_found(corpus: dict, model: str) -> None:
    v = _embed(corpus["speakers"], corpus["rng"], scale=1.5)
    assert _controlled(v, corpus, model) > 0.8


def test_gender_probe_is_speaker_disjoint_and_balanced_against_emotion() -> None:
    """Fitted on six training speakers, scored on two others: a within-speaker-set probe
    could succeed by recognising the two speakers; this one must generalise."""
    c = _corpus(per_speaker=200)
    # the two genders speak different emotion mixes: F mostly ang/hap, M mostly neu/sad
    c["emotions"] = np.where(
        c["genders"] == "F",
        c["rng"].choice(["ang", "hap", "neu", "sad"], len(c["genders"]), p=[0.4, 0.4, 0.1, 0.1]),
        c["rng"].choice(["ang", "hap", "neu", "sad"], len(c["genders"]), p=[0.1, 0.1, 0.4, 0.4]),
    )
    unseen = np.isin(c["speakers"], ["S3F", "S3M"])

    def sides(v: np.ndarray) -> tuple[tuple, tuple]:
        return ((v[~unseen], c["genders"][~unseen], c["emotions"][~unseen]),
                (v[unseen], c["genders"][unseen], c["emotions"][unseen]))  # fmt: skip

    v = _embed(c["emotions"], c["rng"])
    assert probe_accuracy(v, c["genders"], 5, 0, "linear")["accuracy"] > 0.7  # unbalanced
    balanced = gender_probe(*sides(v), 0, "linear")
    assert balanced["chance"] == pytest.approx(0.5) and abs(balanced["accuracy"] - 0.5) < 0.1
    assert balanced["n"] < unseen.sum() and balanced["dropped"] == unseen.sum() - balanced["n"]
    found = gender_probe(*sides(_embed(c["genders"], c["rng"])), 0, "kernel")
    assert found["accuracy"] > 0.95 and found["classes"] == 2
    # an embedding of speaker identity alone says nothing about a new speaker's gender
    identity = gender_probe(*sides(_embed(c["speakers"], c["rng"])), 0, "linear")
    assert abs(identity["accuracy"] - 0.5) < 0.2
    unknown = np.full(unseen.sum(), "unknown")
    (fit, (x, _, e)) = sides(v)
    assert gender_probe(fit, (x, unknown, e), 0, "linear")["accuracy"] is None


@pytest.mark.parametrize("model", list(PROBE_MODELS))
def test_the_held_out_speaker_probe_scores_utterances_its_fit_never_saw(
    corpus: dict, model: str
) -> None:
    held = np.arange(len(corpus["speakers"])) % 5 == 0  # a fifth of every speaker's
    labels = (corpus["speakers"], corpus["genders"], corpus["emotions"])

    def split(v: np.ndarray) -> tuple[tuple, tuple]:
        return ((v[~held], *(x[~held] for x in labels)), (v[held], *(x[held] for x in labels)))

    found = speaker_heldout_probe(*split(_embed(corpus["speakers"], corpus["rng"], 1.5)), 0, model)
    assert found["accuracy"] > 0.8 and found["chance"] == pytest.approx(CHANCE, abs=0.05)
    assert found["classes"] == 8 and found["n"] <= held.sum()
    only_emotion = speaker_heldout_probe(*split(_embed(corpus["emotions"], corpus["rng"])), 0,
                                         model)  # fmt: skip
    assert abs(only_emotion["accuracy"] - only_emotion["chance"]) < 0.12


def test_emotion_balanced_gives_every_group_the_same_emotion_counts(corpus: dict) -> None:
    rows = emotion_balanced(corpus["speakers"], corpus["emotions"], seed=3)
    assert len(set(rows)) == len(rows)
    counts = {s: sorted(corpus["emotions"][rows][corpus["speakers"][rows] == s]) for s in SPEAKERS}
    assert len({tuple(c) for c in counts.values()}) == 1 and len(counts["S0F"]) > 30
    np.testing.assert_array_equal(rows, emotion_balanced(corpus["speakers"], corpus["emotions"], 3))


def test_probe_reads_what_is_there_and_not_what_is_not() -> None:
    rng = np.random.default_rng(0)
    speakers = np.repeat(["A", "B"], 40)
    v = rng.standard_normal((80, 16))
    separable = v + 3.0 * (speakers == "A")[:, None]
    for model in PROBE_MODELS:
        found = probe_accuracy(separable, speakers, n_splits=5, seed=0, model=model)
        assert found["accuracy"] > 0.95 and found["chance"] == pytest.approx(0.5)
        noise = probe_accuracy(v, speakers, n_splits=5, seed=0, model=model)
        assert noise["accuracy"] < 0.75
        assert probe_accuracy(v, speakers, 5, 0, model) == noise  # seeded
        # a unique optimum: whatever seed the estimators are handed, the fitted probe is
        # the same (an MLP's decision values move by ~0.9 between two seeds here)
        unseen = rng.standard_normal((200, 16))
        first, second = (_fitted_with_seed(model, s, v, speakers, unseen) for s in (0, 1))
        np.testing.assert_allclose(first, second, atol=1e-6)


def _fitted_with_seed(
    model: str, seed: int, x: np.ndarray, y: np.ndarray, at: np.ndarray
) -> np.ndarray:
    probe = PROBE_MODELS[model]()
    probe.set_params(**{k: seed for k in probe.get_params() if k.endswith("random_state")})
    return probe.fit(x, y).decision_function(at)


def test_probe_drops_classes_too_small_to_hold_out() -> None:
    v = np.random.default_rng(1).standard_normal((22, 4))
    targets = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 2)
    result = probe_accuracy(v, targets, n_splits=5, seed=0, model="linear")
    assert (result["n"], result["classes"], result["dropped"]) == (20, 2, 2)
    single = probe_accuracy(v[:12], targets[:12], n_splits=5, seed=0, model="linear")
    assert single["accuracy"] is None and single["chance"] is None


@pytest.mark.parametrize("model", PROBE_MODELS)
def test_a_probe_on_balanced_parts_states_chance_as_one_over_the_classes(model: str) -> None:
    """The emotion probe's training parts are balanced over emotions within each speaker, so
    on pure-noise embeddings it scores about one over the classes, not the majority rate:
    its stated chance must be what it can reach (40 % of one emotion here)."""
    rng = np.random.default_rng(3)
    emotions = np.repeat(["ang", "hap", "neu", "sad"], [48, 24, 24, 24])
    speakers = np.tile(["A", "B", "C", "D"], 30)
    noise = rng.standard_normal((120, 16))
    result = probe_accuracy(noise, emotions, 4, 0, model, confound=speakers)
    assert result["chance"] == pytest.approx(0.25)
    assert abs(result["accuracy"] - 0.25) < 0.1  # far below the majority rate of 0.4
    plain = probe_accuracy(noise, emotions, 4, 0, model)  # no balancing: the majority rate
    assert plain["chance"] == pytest.approx(0.4)
