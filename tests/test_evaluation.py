"""Evaluation: WA/UA/Δ, cross-corpus scoring with the fold's standardization, probes, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from pipeline import EMOTIONS
from pipeline.data.folds import make_folds
from pipeline.evaluation.probes import PROBE_MODELS, PROBE_NAMES
from pipeline.evaluation.regime import (
    CrossCorpus,
    TrainingCorpus,
    evaluate_regime,
    summarize,
    within_corpus,
)
from pipeline.evaluation.statistics import holm
from pipeline.evaluation.summary import HEADLINE
from pipeline.features import store as feature_store
from pipeline.features.frame_store import FrameStore, probe_holdout
from pipeline.features.spec import PitchRange, settings
from pipeline.model import run_files
from pipeline.model import scoring as inference
from pipeline.model.scoring import FoldModel
from pipeline.regimes import COMPARISONS, REGIMES, TITLES
from pipeline.reporting import model_card
from pipeline.reporting.figures import curves_figure, perplexity_for, tsne_figure
from pipeline.reporting.report import (
    compare,
    confusion_table,
    delta_note,
    family_size,
    invariance_table,
    probe_family,
    probe_table,
    reading,
    render,
    seed_plan_text,
)
from pipeline.runtime.errors import CorpusError
from pipeline.training.curves import aggregate
from pipeline.training.pack import Pack, Run
from pipeline.training.run import train_pack
from tests.helpers import EVAL_SETTINGS, fold_row, toy_config, toy_corpus, write_params


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real fold of `ec_only` on the separable toy corpus, written as the stage writes it."""
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus()
    labels["gender"] = labels["speaker"].str[-1]
    fold = make_folds(labels)[2]
    cfg = toy_config(epochs=15)
    store = FrameStore.combine(originals, copies)
    [[out]] = train_pack(store, labels, [Run(fold["session"], 3, (fold,))], "ec_only", cfg)
    train_dir = tmp_path_factory.mktemp("train") / "ec_only"
    run = run_files.run_dir(train_dir, 2, 3)
    run_files.write(run, fold, 3, "ec_only", cfg.model_dump(), settings(PitchRange()), out)
    return {"dir": train_dir, "run": run, "fold": fold, "labels": labels, "originals": originals,
            "out": out}  # fmt: skip


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


def write_training_corpus(tmp: Path, trained: dict) -> tuple[Path, Path]:
    """The toy corpus's label table and original-speed features, as the stages write them."""
    labels_path, features_path = tmp / "train_labels.parquet", tmp / "train_features.parquet"
    trained["labels"].to_parquet(labels_path)
    originals = trained["originals"]
    with feature_store.feature_writer(features_path, {}) as writer:
        for i, utt in enumerate(originals.utt_ids):
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
    cross = CrossCorpus.load(labels_path, features_path, "cpu", tmp_path / "cache")
    model = FoldModel.load(trained["run"], "cpu")
    table = cross.score(model)
    # Same frames, same training statistics, same crop: exactly the fold's test accuracy.
    assert 100 * table["hit"].mean() == pytest.approx(100 * trained["out"].results["test_wa"])
    np.testing.assert_array_equal(model.mean, trained["out"].mean)
    assert not np.allclose(model.mean, cross.frames.frames.mean(dim=0).numpy())

    every = write_cross_corpus(tmp_path, trained, lambda label: list(EMOTIONS))
    assert CrossCorpus.load(*every, "cpu", tmp_path / "cache").score(model)["hit"].all()


def test_cross_corpus_without_features_for_a_segment_names_the_file(
    trained: dict, tmp_path: Path
) -> None:
    labels_path, features_path = write_cross_corpus(tmp_path, trained, lambda label: [label])
    labels = pd.read_parquet(labels_path)
    extra = labels.iloc[[0]].assign(utt_id="not_extracted")
    pd.concat([labels, extra]).to_parquet(labels_path)
    with pytest.raises(CorpusError, match=r"cross_features\.parquet.*not_extracted"):
        CrossCorpus.load(labels_path, features_path, "cpu", tmp_path / "cache")


def test_evaluate_regime_scores_every_fold(trained: dict, tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "cache"
    corpus = TrainingCorpus.load(*write_training_corpus(tmp_path, trained), "cpu", cache)
    cross_files = write_cross_corpus(tmp_path, trained, lambda label: [label])
    cross = CrossCorpus.load(*cross_files, "cpu", cache)
    built = []
    monkeypatch.setattr(inference.DeviceFrames, "__init__", lambda *a: built.append(a))
    folds, tests, crosses = evaluate_regime(trained["dir"], corpus, cross, EVAL_SETTINGS)
    assert not built  # each corpus went to the device once, when it was loaded
    (scores,) = folds
    assert (scores["fold"], scores["seed"], scores["session"]) == (2, 3, "Ses02")
    assert scores["test_speaker"] == trained["fold"]["test"]
    assert scores["wa_test"] == pytest.approx(100 * trained["out"].results["test_wa"])
    assert set(tests["speaker"]) == {trained["fold"]["test"]} and len(tests) == 8
    assert (crosses["fold"] == 2).all() and (crosses["seed"] == 3).all() and len(crosses) == 8
    # 8 training speakers, 4 per gender, 2 utterances of every emotion each: chance 1 in 4
    assert scores["probe_speaker_chance"] == pytest.approx(25.0)
    assert (scores["probe_speaker_n"], scores["probe_speaker_classes"]) == (64, 8)
    # gender: fitted on the 8 training speakers, scored on the unseen woman and man
    assert scores["probe_gender_chance"] == pytest.approx(50.0)
    assert (scores["probe_gender_n"], scores["probe_gender_dropped"]) == (16, 0)
    assert scores["probe_emotion_chance"] == pytest.approx(25.0)
    for model in PROBE_MODELS:
        assert 0.0 <= scores[f"probe_speaker_{model}"] <= 100.0
        assert 0.0 <= scores[f"probe_gender_{model}"] <= 100.0
    assert scores["probe_emotion_linear"] >= 75.0  # the network learned emotion; v shows it
    assert "probe_speaker_heldout_linear" not in scores  # train.probe_holdout is 0
    # the positive control: the input features carry the speaker (channels 10-19 here)
    assert scores["control_speaker_linear"] > 35.0 and scores["n_train"] == 8  # chance 25
    summary = summarize(folds, EVAL_SETTINGS, crosses)
    assert summary["cross_corpus"]["segments"] == 8
    # one session: no interval over sessions, the two-way one neither (it has a session part)
    assert "two_way_low" not in summary["cross_corpus"] and summary["sessions"] == 1


def test_training_corpus_needs_a_label_for_every_utterance(trained: dict, tmp_path: Path) -> None:
    labels_path, features_path = write_training_corpus(tmp_path, trained)
    trained["labels"].iloc[1:].to_parquet(labels_path)
    with pytest.raises(CorpusError, match=r"train_features\.parquet.*does not label"):
        TrainingCorpus.load(labels_path, features_path, "cpu", tmp_path / "cache")


SHARE = 2 / 8


def test_summarize_averages_within_sessions_then_over_them() -> None:
    folds = [
        fold_row(0, 1, ua_test=50.0, cross_corpus=20.0), fold_row(1, 1, ua_test=70.0),
        fold_row(2, 1, ua_test=40.0), fold_row(3, 1, ua_test=44.0, cross_corpus=45.0),
        fold_row(4, 1, ua_test=90.0), fold_row(5, 1, ua_test=80.0),
        fold_row(4, 2, ua_test=30.0, probe_gender_linear=None, probe_gender_chance=None),
        fold_row(5, 2, ua_test=40.0),
    ]  # fmt: skip
    summary = summarize(folds, EVAL_SETTINGS)
    assert (summary["folds"], summary["seeds"], summary["sessions"], summary["runs"]) == (
        6, 2, 3, 4
    )  # fmt: skip
    sessions = [60.0, 42.0, 60.0]  # each session's mean over its folds and seeds
    # corrected for the shared training speakers: sd x sqrt(1/3 + 2/8), not sd / sqrt(3)
    half = stats.t.ppf(0.975, 2) * np.std(sessions, ddof=1) * np.sqrt(1 / 3 + SHARE)
    assert summary["within"]["ua_test"] == {
        "mean": pytest.approx(54.0), "low": pytest.approx(54.0 - half),
        "high": pytest.approx(54.0 + half), "sessions": 3,
    }  # fmt: skip
    assert "corrected resampled t" in summary["intervals"]
    assert (summary["cross_corpus"]["min"], summary["cross_corpus"]["max"]) == (20.0, 45.0)
    assert summary["probe"]["speaker_kernel"]["mean"] == 50.0
    assert summary["probe"]["speaker_kernel"]["p_above"] == 0.0  # 25 points above, no spread
    assert summary["probe"]["gender_linear"]["sessions"] == 3  # a skipped probe is left out
    assert summary["probe"]["speaker_heldout_linear"] is None  # not run
    assert summary["chance"] == {"speaker": 25.0, "gender": 25.0, "emotion": 25.0,
                                 "speaker_heldout": None}  # fmt: skip
    assert summary["size"]["speaker"] == {"n": 10.0, "classes": 10.0, "dropped": 10.0}
    assert summary["control"]["speaker_linear"]["mean"] == 80.0
    near = [fold_row(2 * s, 1, probe_gender_kernel=v) for s, v in enumerate((100, 70, 99))]
    near_top = summarize(near, EVAL_SETTINGS)
    assert near_top["probe"]["gender_kernel"]["high"] == 100.0  # clipped: a t-interval goes past
    one_session = summarize(folds[:2], EVAL_SETTINGS)
    assert one_session["within"]["ua_test"]["low"] is None


def test_confusion_table_counts_and_recall() -> None:
    rows = [{"actual": "ang", "predicted": "ang"}] * 3 + [{"actual": "ang", "predicted": "sad"}]
    table = confusion_table(rows)
    assert "| ang | 3 | 0 | 0 | 1 | 75.0 |" in table
    assert "| hap | 0 | 0 | 0 | 0 | n/a |" in table


SHIFT = {"menan": 10.0}  # MEnAN +10 UA, the others 0


def _regime_folds(regime: str) -> list[dict]:
    """10 folds x 2 seeds: session-level spread, seed noise, and a regime shift of test UA."""
    rng = np.random.default_rng(REGIMES.index(regime))
    rows = []
    for fold in range(10):
        for seed in (1, 2):
            ua = 60.0 + 3.0 * (fold // 2) + SHIFT.get(regime, 0.0) + float(rng.normal(0, 2))
            rows.append(fold_row(fold, seed, ua_test=ua, val_speaker=f"V{fold}",
                              test_speaker=f"T{fold}"))  # fmt: skip
    return rows


def _render(params: dict) -> str:
    return _render_folds({r: _regime_folds(r) for r in REGIMES}, params)


def _render_folds(folds: dict, params: dict | None = None) -> str:
    params = params or _params("/corpora/IEMOCAP_full_release", "/corpora/CMU_MOSEI")
    return render(
        summaries={r: summarize(f, EVAL_SETTINGS) for r, f in folds.items()},
        folds=folds,
        comparisons=compare(folds),
        confusions={r: [{"actual": "neu", "predicted": "neu"}] for r in REGIMES},
        params=params,
        figures={"tsne": "figures/tsne.png", "curves": "figures/curves.png"},
        tsne_caption="caption",
    )


def _params(train_root: str, cross_root: str) -> dict:
    return {
        "train_corpus": "iemocap", "cross_corpus": "mosei", "lambda": 0.3,
        "corpora": {"iemocap": {"root": train_root}, "mosei": {"root": cross_root}},
        "evaluate": {"probe_splits": 5, "equivalence_margin": 5},
        "features": {"frontend": "paper43"},
    }  # fmt: skip


def test_report_gives_intervals_and_generated_comparisons() -> None:
    folds = {r: _regime_folds(r) for r in REGIMES}
    text = _render(_params("/corpora/IEMOCAP_full_release", "/corpora/CMU_MOSEI"))
    assert "input features (mean and std of the 43 channels)" in text
    ssl = _params("/corpora/IEMOCAP_full_release", "/corpora/CMU_MOSEI")
    ssl["features"]["frontend"] = "ssl"
    assert "each hidden unit of the SSL model, averaged over the stored layers" in _render(ssl)
    ua = summarize(folds["menan"], EVAL_SETTINGS)["within"]["ua_test"]
    assert f"{ua['mean']:.2f} [{ua['low']:.2f}, {ua['high']:.2f}]" in text
    assert "| MEnAN | 1.00 [1.00, 1.00] | 1.00 [1.00, 1.00] |" in text  # no spread: a point
    # MEnAN is 10 points up in every session: the corrected interval excludes 0 and the
    # family-wise (Holm) test confirms it; the distribution-free test is at its floor
    comparisons = compare(folds)
    menan_mt = comparisons["menan-multitask"]["ua_test"]
    assert menan_mt["low"] > 0 and menan_mt["p"] < menan_mt["p_adjusted"] < 0.05
    assert menan_mt["p_sign_flip"] == pytest.approx(2 / 32)
    family = len(COMPARISONS) * 5  # five measures in these runs: no held-out probe
    assert family_size(comparisons) == family
    assert all(len(measures) == 5 for measures in comparisons.values())
    ps = [m["p"] for c in comparisons.values() for m in c.values()]
    assert menan_mt["p_adjusted"] == pytest.approx(holm(ps)[ps.index(menan_mt["p"])])
    assert (
        f"- MEnAN vs Multi-task: {menan_mt['mean']:+.1f} test UA points "
        f"[{menan_mt['low']:+.1f}, {menan_mt['high']:+.1f}]: MEnAN higher (Holm-adjusted p = "
        f"{menan_mt['p_adjusted']:.3g} over {family} comparisons)." in text
    )
    # an interval that excludes 0 without the family-wise test, at five sessions
    weak = {"mean": 2.0, "low": 0.5, "high": 3.5, "sessions": 5, "p": 0.03,
            "p_sign_flip": 0.0625, "p_adjusted": 0.3}  # fmt: skip
    assert reading("menan", weak, 20) == (
        "MEnAN higher by the interval only, not confirmed (Holm-adjusted p = 0.3 over 20 "
        "comparisons); the sign-flip test alone cannot go below p = 0.0625 with 5 sessions"
    )
    assert "- DAT vs Multi-task:" in text and "test UA points" in text
    dat_mt = compare(folds)["dat-multitask"]["ua_test"]
    assert dat_mt["low"] < 0 < dat_mt["high"] and "| DAT - Multi-task | test UA |" in text
    assert "not distinguishable" in text
    assert "cannot go below p = 0.0625" in text
    assert "### Seeds needed" in text and "seeds for 2 points" in text
    assert "**10 independent training runs**" in text  # 5 sessions x 2 seeds, not 20
    # per fold: the mean over its two seeds
    fold0 = np.mean([f["ua_test"] for f in folds["ec_only"] if f["fold"] == 0])
    assert f"| 0 | V0 | T0 | 2 | {fold0:.1f} / 30.0 |" in text
    assert "the paper's published Table 2 (IEMOCAP)" in text
    assert "| MEnAN | 58.85 | 58.62 | -0.23 | 60.24 | 59.91 | -0.33 |" in text
    assert "| chance | 25.0 | 25.0 | 25.0 | 25.0 | 25.0 | 25.0 |" in text
    # every probe against chance (each 25 points above it in every session), the control
    assert "| MEnAN | 50.0 [50.0, 50.0] above chance |" in text
    assert "| input features (control) | 80.0 [80.0, 80.0] above chance |" in text
    assert "| Speaker | 10 | 10 | 10 |" in text  # utterances scored, classes, dropped
    assert "(**in-sample**" in text and "Gender** (speaker-disjoint)" in text
    assert "lambda: 0.3" in text and "![t-SNE](figures/tsne.png)" in text
    # the probes' solvers stop at a tolerance: no promise of identical answers everywhere
    assert "identical answers on any machine" not in text and "last digits" in text
    # a probe that ran nowhere (too few utterances) is n/a, not an error
    for rows in folds.values():
        for row in rows:
            row["probe_speaker_kernel"] = None
    assert compare(folds)["menan-dat"]["probe_speaker_kernel"] is None
    rendered = _render_folds(folds)
    assert "| MEnAN - DAT | speaker probe (kernel) | n/a | n/a | n/a | n/a | n/a |" in rendered


def test_report_says_which_corpus_is_the_demo() -> None:
    real, demo = "/corpora/IEMOCAP_full_release", "data/demo/CMU_MOSEI"
    assert "**Data: the corpora named below, both real.**" in _render(_params(real, real))
    both = _render(_params("data/demo/IEMOCAP_full_release", demo))
    assert "**Data: the synthetic demo corpora**" in both
    mixed = _render(_params(real, demo))
    assert (
        "training corpus `iemocap` is real; the cross-corpus set `mosei` is the synthetic demo"
        in mixed
        and "synthetic demo corpora" not in mixed
    )
    assert "training corpus `iemocap` is the synthetic demo" in _render(
        _params("data/demo/IEMOCAP_full_release", real)
    )


def test_text_that_holds_for_one_protocol_or_corpus_appears_only_there() -> None:
    """The Δ note counts the corpus's own speakers and speaks of sessions only under the
    sessions protocol; the card's cross-corpus rule and domain follow the corpora used."""
    iemocap = [{"n_train": 8, "n_held_out": 2}]
    assert "same eight training speakers" in delta_note("sessions", iemocap)
    assert "same ten speakers" in delta_note("sessions", iemocap)
    assert "same 26 training speakers" in delta_note("sessions", [{"n_train": 26, "n_held_out": 2}])
    for protocol in ("leave_one_speaker_out", "speaker_kfold", "split"):
        note = delta_note(protocol, [{"n_train": 8, "n_held_out": 2}])
        assert "session" not in note and "eight" not in note and "ten" not in note, protocol
    summary = summarize([fold_row(f, 1) for f in range(4)], EVAL_SETTINGS)
    assert "rated positive" in model_card._cross_corpus(summary)  # CMU-MOSEI: multi-label
    single = {**summary, "cross_corpus_ua": summary["cross_corpus"]}
    assert "rated positive" not in model_card._cross_corpus(single)
    assert "UA " in model_card._cross_corpus(single)
    assert "German" in model_card._domain_line("emo", False, "emodb")
    assert "IEMOCAP" not in model_card._domain_line("mine", False, "manifest")
    assert "North American" in model_card._domain_line("iemocap", False, "iemocap")


def test_probe_verdicts_are_one_holm_family_over_the_table() -> None:
    """~30 one-sided tests at 0.05 with no family would call some noise "above chance": a
    cell with p = 0.03 on its own is inconclusive among 30 cells; a strong one stays."""

    def cell(p_above: float) -> dict:
        return {"mean": 30.0, "low": 20.0, "high": 40.0, "p_above": p_above, "p_equivalent": 0.5}

    probes = {f"{p}_{m}": cell(0.2) for p in PROBE_NAMES for m in PROBE_MODELS}
    summaries = {
        r: {"probe": dict(probes), "control": dict(probes), "size": {},
            "chance": dict.fromkeys(PROBE_NAMES, 25.0)}
        for r in REGIMES
    }  # fmt: skip
    summaries["menan"]["probe"]["gender_kernel"] = cell(0.03)
    summaries["dat"]["probe"]["speaker_linear"] = cell(1e-6)
    family = probe_family(summaries)
    cells = (len(REGIMES) + 1) * len(PROBE_NAMES) * len(PROBE_MODELS)  # regimes + control
    assert len(family) == cells
    assert family[("menan", "gender_kernel")]["p_above"] == pytest.approx(
        min(1.0, 0.03 * (cells - 1))
    )
    assert family[("dat", "speaker_linear")]["p_above"] == pytest.approx(cells * 1e-6)
    table = probe_table(summaries, 5)
    assert table.count("above chance") == 1  # only the strong cell


def test_the_invariance_table_ranks_regimes_by_the_probe_that_decides() -> None:
    """Held-out kernel probe where it ran (else the in-sample one, said so), lowest first,
    each with its verdict and its test-UA difference from EC only from the comparisons."""
    means = {"ec_only": 45.0, "multitask": 70.0, "dat": 44.0, "menan": 46.0,
             "ec_leace": 27.0, "ec_kleace": 26.0}  # fmt: skip

    def cell(mean: float, p_above: float = 0.5) -> dict:
        return {"mean": mean, "low": mean - 3, "high": mean + 3, "p_above": p_above,
                "p_equivalent": 0.5}  # fmt: skip

    names = [*PROBE_NAMES, "speaker_heldout"]
    summaries = {
        r: {"probe": {f"{p}_{m}": cell(means[r] if p == "speaker_heldout" else 50.0)
                      for p in names for m in PROBE_MODELS},
            "control": {f"{p}_{m}": cell(90.0, 1e-9) for p in names for m in PROBE_MODELS},
            "within": {"ua_test": cell(60.0)}, "size": {},
            "chance": dict.fromkeys(names, 25.0)}
        for r in REGIMES
    }  # fmt: skip
    cost = {"mean": -1.5, "low": -3.0, "high": 0.0, "sessions": 5, "p": 0.06,
            "p_sign_flip": 0.0625, "p_adjusted": 0.9}  # fmt: skip
    comparisons = {f"{a}-{b}": {"ua_test": cost} for a, b in COMPARISONS}
    table = invariance_table(summaries, comparisons, 5)
    body = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[1] for line in body] == [
        TITLES[r] for r in ("ec_kleace", "ec_leace", "dat", "ec_only", "menan", "multitask")
    ]
    assert "held-out utterances (kernel)" in table.splitlines()[0]
    assert "| 1 | EC only + kernel LEACE | 26.0 [23.0, 29.0] inconclusive |" in table
    assert "| reference |" in table  # EC only has no difference from itself
    assert "-1.5 [-3.0, 0.0] not distinguishable" in table
    assert "Chance: 25.0 %." in table
    for summary in summaries.values():  # no hold-out: the in-sample probe, said so
        summary["probe"] = {k: v for k, v in summary["probe"].items() if "heldout" not in k}
    in_sample = invariance_table(summaries, comparisons, 5)
    assert in_sample.startswith("| Model | speaker (kernel) |")  # no ranks on it
    body = [line for line in in_sample.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[0].strip("| ") for line in body] == [TITLES[r] for r in REGIMES]


def test_seed_plan_needs_two_seeds() -> None:
    folds = {r: [f for f in _regime_folds(r) if f["seed"] == 1] for r in REGIMES}
    assert "Not estimable from this run (5 session(s), 1 seed(s) each)" in seed_plan_text(folds)


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
    run = trained["dir"] / "fold02" / "seed3"
    rows = [
        {**row, "seed": 3, "speakers": 8} for row in json.loads((run / "curve.json").read_text())
    ]
    curves_figure({"EC only": aggregate(rows)}, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")


def test_tsne_perplexity_auto_follows_the_panel_size() -> None:
    assert perplexity_for(36, "auto") == 6.0  # the demo's ~35 points per panel
    assert perplexity_for(1100, "auto") == pytest.approx(33.2, abs=0.1)  # IEMOCAP's
    assert perplexity_for(36, 30) == 35 / 3 and perplexity_for(1100, 30) == 30


def test_the_device_setting_reaches_the_evaluation_stage(
    trained: dict, tmp_path: Path, monkeypatch
) -> None:
    """On a machine where torch sees a GPU, ``device: cpu`` scores on the CPU, and ``auto``
    takes the GPU (here: fails to, as this torch has no CUDA). Evaluation used to ignore the
    setting and always took ``auto``."""
    from stages import evaluate as stage

    inputs = (
        *write_training_corpus(tmp_path, trained),
        *write_cross_corpus(tmp_path, trained, lambda label: [label]),
    )
    args = [str(trained["dir"]), *map(str, inputs), "out", "metrics.json", "confusion.json"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    write_params(tmp_path, {"device": "cpu"})
    stage.main(args)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["runs"] == 1
    headline = json.loads((tmp_path / "metrics.json").read_text())  # what `dvc metrics` shows
    assert {"test_ua", "test_wa", "cross_corpus"} <= set(headline) <= set(HEADLINE)
    assert "cross_ua" in headline  # this cross-corpus set is single-label: WA and UA
    assert all(round(v, 1) == v for v in headline.values())
    write_params(tmp_path, {"device": "auto"})
    with pytest.raises((AssertionError, RuntimeError), match="CUDA"):
        stage.main(args)


def test_a_held_out_slice_is_never_trained_on_and_probed_apart(tmp_path: Path) -> None:
    """train.probe_holdout keeps a slice of every training speaker's utterances (and their
    speed copies) out of training; evaluation finds the slice again and asks the speaker
    probe about it, beside the in-sample one."""
    torch.set_num_threads(1)
    labels, originals, copies = toy_corpus(per_speaker=16)
    labels["gender"] = labels["speaker"].str[-1]
    store = FrameStore.combine(originals, copies)
    fold = make_folds(labels)[2]
    run = Run(fold["session"], 3, (fold,))
    cfg = toy_config(epochs=2, probe_holdout=0.25)
    held = set(labels["utt_id"][probe_holdout(labels["utt_id"].to_numpy(), 0.25)])
    trained_rows = Pack(store, labels, [run], "ec_only", cfg).runs[0].train.rows
    assert held and not held & set(store.utt_ids[trained_rows])
    [[out]] = train_pack(store, labels, [run], "ec_only", cfg)
    train_dir = tmp_path / "ec_only"
    run_files.write(run_files.run_dir(train_dir, fold["fold"], 3), fold, 3, "ec_only",
                    cfg.model_dump(), settings(PitchRange()), out)  # fmt: skip
    data = {"labels": labels, "originals": originals, "fold": fold}
    corpus = TrainingCorpus.load(*write_training_corpus(tmp_path, data), "cpu", tmp_path / "c")
    cross_files = write_cross_corpus(tmp_path, data, lambda label: [label])
    cross = CrossCorpus.load(*cross_files, "cpu", tmp_path / "c")
    [scores], _, _ = evaluate_regime(train_dir, corpus, cross, EVAL_SETTINGS)
    assert scores["probe_speaker_heldout_n"] > 0 and scores["probe_speaker_heldout_classes"] == 8
    assert 0 <= scores["probe_speaker_heldout_kernel"] <= 100
    assert scores["probe_speaker_n"] < 8 * 16  # the in-sample probe: trained-on utterances
