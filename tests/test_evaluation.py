"""Evaluation: WA/UA/Δ, cross-corpus scoring with the fold's standardization, probes, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline import EMOTIONS, feature_store
from pipeline.batches import FrameStore
from pipeline.errors import CorpusError
from pipeline.evaluation import CrossCorpus, evaluate_regime, summarize, within_corpus
from pipeline.figures import curves_figure, tsne_figure
from pipeline.folds import make_folds
from pipeline.probe import probe_accuracy
from pipeline.report import confusion_table, render
from pipeline.training.outputs import load_fold_model, write_outputs
from pipeline.training.run import Run, train_pack
from tests.test_training import config, toy_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real fold of `ec_only` on the separable toy corpus, written as the stage writes it."""
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    fold = make_folds(labels)[2]
    cfg = config(epochs=15)
    store = FrameStore.combine(originals, copies)
    [[out]] = train_pack(store, labels, [Run(fold["session"], 3, (fold,))], "ec_only", cfg)
    train_dir = tmp_path_factory.mktemp("train") / "ec_only"
    write_outputs(train_dir / "fold02" / "seed3", fold, 3, "ec_only", cfg, out)
    return {"dir": train_dir, "fold": fold, "labels": labels, "originals": originals, "out": out}


def write_cross_corpus(tmp: Path, trained: dict, correct) -> tuple[Path, Path]:
    """The test speaker's utterances as a cross-corpus set: label table + feature Parquet."""
    labels = trained["labels"]
    chosen = labels[labels["speaker"] == trained["fold"]["test"]].copy()
    chosen["correct"] = [correct(label) for label in chosen["label"]]
    labels_path = tmp / "cross_labels.parquet"
    chosen.to_parquet(labels_path)
    originals = trained["originals"]
    features_path = tmp / "cross_features.parquet"
    with feature_store.feature_writer(features_path, {}) as writer:
        for i, utt in enumerate(originals.utt_ids):
            if utt in set(chosen["utt_id"]):
                writer.add(str(utt), 1.0, originals.utterance(i))
    return labels_path, features_path


def test_within_corpus_wa_ua_and_delta() -> None:
    predictions = pd.DataFrame(
        {
            "split": ["val"] * 4 + ["test"] * 3,
            "label": ["ang", "ang", "hap", "neu", "ang", "sad", "sad"],
            "predicted": ["ang", "hap", "hap", "neu", "ang", "sad", "sad"],
        }
    )
    scores = within_corpus(predictions)
    assert scores["wa_val"] == pytest.approx(75.0)
    assert scores["ua_val"] == pytest.approx(100 * (0.5 + 1 + 1) / 3)  # recall, not precision
    assert scores["wa_test"] == scores["ua_test"] == pytest.approx(100.0)
    assert scores["ua_delta"] == pytest.approx(100.0 - scores["ua_val"])


def test_cross_corpus_uses_the_folds_standardization_and_the_rated_classes(
    trained: dict, tmp_path: Path
) -> None:
    labels_path, features_path = write_cross_corpus(tmp_path, trained, lambda label: [label])
    cross = CrossCorpus.load(labels_path, features_path)
    table = cross.score(trained["dir"] / "fold02" / "seed3" / "model.pt", "cpu")
    # Same frames, same training statistics, same crop: exactly the fold's test accuracy.
    assert 100 * table["hit"].mean() == pytest.approx(100 * trained["out"]["results"]["test_wa"])
    _, inputs = load_fold_model(
        trained["dir"] / "fold02" / "seed3" / "model.pt", cross.store, "cpu"
    )
    np.testing.assert_array_equal(inputs.mean, trained["out"]["mean"])
    assert not np.allclose(inputs.mean, cross.store.standardization(cross.rows)[0])

    every = write_cross_corpus(tmp_path, trained, lambda label: list(EMOTIONS))
    assert (
        CrossCorpus.load(*every)
        .score(trained["dir"] / "fold02" / "seed3" / "model.pt", "cpu")["hit"]
        .all()
    )  # a segment rated positive for every class is always a hit


def test_cross_corpus_without_features_for_a_segment_names_the_file(
    trained: dict, tmp_path: Path
) -> None:
    labels_path, features_path = write_cross_corpus(tmp_path, trained, lambda label: [label])
    labels = pd.read_parquet(labels_path)
    extra = labels.iloc[[0]].assign(utt_id="not_extracted")
    pd.concat([labels, extra]).to_parquet(labels_path)
    with pytest.raises(CorpusError, match=r"cross_features\.parquet.*not_extracted"):
        CrossCorpus.load(labels_path, features_path)


def test_evaluate_regime_scores_every_fold(trained: dict, tmp_path: Path) -> None:
    cross = CrossCorpus.load(*write_cross_corpus(tmp_path, trained, lambda label: [label]))
    folds, tests, crosses = evaluate_regime(trained["dir"], cross, 2, 0, "cpu")
    (scores,) = folds
    assert scores["fold"] == 2 and scores["seed"] == 3
    assert scores["test_speaker"] == trained["fold"]["test"]
    assert scores["wa_test"] == pytest.approx(100 * trained["out"]["results"]["test_wa"])
    assert set(tests["speaker"]) == {trained["fold"]["test"]} and len(tests) == 8
    assert (crosses["fold"] == 2).all() and (crosses["seed"] == 3).all() and len(crosses) == 8
    # two unseen speakers, 8 utterances each; the network learned emotion, so v shows it
    assert scores["probe_speaker_chance"] == pytest.approx(50.0)
    assert 0.0 <= scores["probe_speaker"] <= 100.0
    assert scores["probe_emotion_chance"] == pytest.approx(25.0)
    assert scores["probe_emotion"] >= 75.0


def test_probe_reads_what_is_there_and_not_what_is_not() -> None:
    rng = np.random.default_rng(0)
    speakers = np.repeat(["A", "B"], 40)
    v = rng.standard_normal((80, 16))
    separable = v + 3.0 * (speakers == "A")[:, None]
    found = probe_accuracy(separable, speakers, n_splits=5, seed=0)
    assert found["accuracy"] > 0.95 and found["chance"] == pytest.approx(0.5)
    noise = probe_accuracy(v, speakers, n_splits=5, seed=0)
    assert noise["accuracy"] < 0.75
    assert probe_accuracy(v, speakers, 5, 0) == noise  # seeded


def test_probe_drops_classes_too_small_to_hold_out() -> None:
    v = np.random.default_rng(1).standard_normal((22, 4))
    targets = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 2)
    result = probe_accuracy(v, targets, n_splits=5, seed=0)
    assert (result["n"], result["dropped"]) == (20, 2)
    single = probe_accuracy(v[:12], targets[:12], n_splits=5, seed=0)
    assert single["accuracy"] is None and single["chance"] is None


def test_summarize_means_spread_and_extremes() -> None:
    folds = [
        {"fold": 0, "seed": 1, "wa_val": 50.0, "wa_test": 40.0, "wa_delta": -10.0,
         "ua_val": 60.0, "ua_test": 50.0, "ua_delta": -10.0, "cross_corpus": 30.0,
         "probe_speaker": 90.0, "probe_speaker_chance": 50.0, "probe_emotion": None,
         "probe_emotion_chance": None},
        {"fold": 1, "seed": 1, "wa_val": 70.0, "wa_test": 60.0, "wa_delta": -10.0,
         "ua_val": 80.0, "ua_test": 60.0, "ua_delta": -20.0, "cross_corpus": 40.0,
         "probe_speaker": 70.0, "probe_speaker_chance": 50.0, "probe_emotion": 40.0,
         "probe_emotion_chance": 30.0},
    ]  # fmt: skip
    summary = summarize(folds)
    assert summary["within"]["wa_val"] == pytest.approx(60.0)
    assert summary["within_std"]["wa_val"] == pytest.approx(np.std([50, 70], ddof=1))
    assert summary["cross_corpus"] == {"mean": 35.0, "min": 30.0, "max": 40.0}
    assert summary["probe"]["speaker"] == pytest.approx(80.0)
    assert summary["probe"]["emotion"] == pytest.approx(40.0)  # a skipped probe is left out
    assert (summary["folds"], summary["seeds"]) == (2, 1)
    # a second seed of fold 1: means over all runs, std over folds of the seed means
    summary = summarize([*folds, {**folds[1], "seed": 2, "wa_val": 90.0}])
    assert summary["within"]["wa_val"] == pytest.approx(70.0)
    assert summary["within_std"]["wa_val"] == pytest.approx(np.std([50, 80], ddof=1))
    assert (summary["folds"], summary["seeds"]) == (2, 2)


def test_confusion_table_counts_and_recall() -> None:
    rows = [{"actual": "ang", "predicted": "ang"}] * 3 + [{"actual": "ang", "predicted": "sad"}]
    table = confusion_table(rows)
    assert "| ang | 3 | 0 | 0 | 1 | 75.0 |" in table
    assert "| hap | 0 | 0 | 0 | 0 | n/a |" in table


def _summary(ua_test: float) -> dict:
    within = dict.fromkeys(("wa_val", "wa_test", "wa_delta", "ua_val", "ua_delta"), 1.0)
    return {
        "folds": 1,
        "seeds": 1,
        "within": {**within, "ua_test": ua_test},
        "within_std": dict.fromkeys((*within, "ua_test"), 0.0),
        "cross_corpus": {"mean": 33.3, "min": 30.0, "max": 36.6},
        "probe": {"speaker": 91.0, "speaker_chance": 50.0, "emotion": None, "emotion_chance": None},
    }


def test_report_keeps_our_numbers_apart_from_the_papers() -> None:
    regimes = ("ec_only", "multitask", "dat", "menan")
    fold = {"fold": 0, "seed": 1, "val_speaker": "Ses01M", "test_speaker": "Ses01F",
            "ua_test": 61.0, "cross_corpus": 33.3}  # fmt: skip
    params = {
        "train_corpus": "iemocap", "cross_corpus": "mosei", "lambda": 0.3,
        "corpora": {"iemocap": {"root": "/corpora/IEMOCAP_full_release"},
                    "mosei": {"root": "/corpora/CMU_MOSEI"}},
        "evaluate": {"probe_splits": 5},
    }  # fmt: skip
    text = render(
        summaries={r: _summary(61.234) for r in regimes},
        folds={r: [fold] for r in regimes},
        confusions={r: [{"actual": "neu", "predicted": "neu"}] for r in regimes},
        params=params,
        figures={"tsne": "figures/tsne.png", "curves": "figures/curves.png"},
        tsne_caption="caption",
    )
    assert (
        "| MEnAN | 1.00 ± 0.00 | 1.00 ± 0.00 | 1.00 ± 0.00 | 1.00 ± 0.00 | 61.23 ± 0.00 |" in text
    )
    assert "the paper's published Table 2 (IEMOCAP)" in text
    assert "| MEnAN | 58.85 | 58.62 | -0.23 | 60.24 | 59.91 | -0.33 |" in text
    assert "| DAT | 91.00 | 50.00 | n/a | n/a |" in text
    assert "| EC only | 33.30 | 30.00 | 36.60 |" in text
    assert "synthetic demo" not in text and "lambda: 0.3" in text
    assert "![t-SNE](figures/tsne.png)" in text
    params["corpora"]["iemocap"]["root"] = "data/demo/IEMOCAP_full_release"
    assert "synthetic demo corpora" in render(
        {r: _summary(1.0) for r in regimes}, {r: [fold] for r in regimes},
        {r: [] for r in regimes}, params, {"tsne": "t.png", "curves": "c.png"}, "",
    )  # fmt: skip


def test_figures_are_png_and_byte_stable(trained: dict, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((30, 8))
    speakers = np.repeat(["A", "B"], 15)
    emotions = np.array(list(EMOTIONS) * 7 + ["neu", "sad"])
    panels = [("EC only", v, speakers, emotions), ("MEnAN", v + 1, speakers, emotions)]
    for name in ("a.png", "b.png"):
        tsne_figure(panels, tmp_path / name, perplexity=30, seed=0, subtitle="fold 0")
    first = (tmp_path / "a.png").read_bytes()
    assert first.startswith(b"\x89PNG") and first == (tmp_path / "b.png").read_bytes()
    curve = json.loads((trained["dir"] / "fold02" / "seed3" / "curve.json").read_text())
    curves_figure({"EC only": curve}, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
