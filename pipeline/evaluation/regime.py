"""Scoring one regime's runs: Table 2's WA/UA/Δ, Table 3's cross-corpus accuracy, the probes.

Every number is recomputed from the files the training stage wrote per run
(:mod:`pipeline.model.run_files`), so a change in how results are scored never retrains, and
nothing is taken on trust from a log line. Accuracies are percentages, as in the paper.
Each corpus's frames go to the device once (:class:`pipeline.model.scoring.DeviceFrames`), and
every run's model is scored on them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline import EMOTIONS
from pipeline.data.folds import UNITS, held_out, scored_by_unit, speakers_of
from pipeline.evaluation.metrics import WITHIN_KEYS, unweighted_accuracy, weighted_accuracy
from pipeline.evaluation.probes import (
    HELD_OUT,
    PROBE_COLUMNS,
    PROBE_MODELS,
    PROBE_NAMES,
    UNKNOWN_GENDER,
    gender_probe,
    probe_accuracy,
    speaker_heldout_probe,
    speaker_probe,
)
from pipeline.evaluation.statistics import (
    corrected_interval,
    held_out_share,
    in_sample_share,
    session_values,
    two_way_interval,
    versus_chance,
)
from pipeline.evaluation.summary import EvalSummary
from pipeline.features.frame_cache import CACHE_DIR, open_frames
from pipeline.features.frame_store import probe_holdout
from pipeline.model import run_files
from pipeline.model.scoring import DeviceFrames, FoldModel
from pipeline.params import EvaluateSettings
from pipeline.runtime.errors import CorpusError

log = logging.getLogger(__name__)

PERCENT = 100.0


def within_corpus(predictions: pd.DataFrame) -> dict[str, float]:
    """WA and UA on the validation and the test speaker of one fold, and Δ = test - val."""
    scores: dict[str, float] = {}
    for split in ("val", "test"):
        part = predictions[predictions["split"] == split]
        scores[f"wa_{split}"] = PERCENT * weighted_accuracy(part["label"], part["predicted"])
        scores[f"ua_{split}"] = PERCENT * unweighted_accuracy(part["label"], part["predicted"])
    for measure in ("wa", "ua"):
        scores[f"{measure}_delta"] = scores[f"{measure}_test"] - scores[f"{measure}_val"]
    return scores


def _originals(
    features_path: Path, device: str, cache_dir: Path
) -> tuple[DeviceFrames, np.ndarray, np.ndarray]:
    """A corpus's frames on ``device``, its utterance ids and its rows at the original speed."""
    store = open_frames([features_path], cache_dir)
    rows = np.flatnonzero(store.speeds == 1.0)
    return DeviceFrames(store, device), store.utt_ids, rows


@dataclass
class TrainingCorpus:
    """The training corpus at its original speed: speaker, gender and emotion per row.

    The speaker probe asks which training speaker spoke, so it needs each fold model's
    embeddings of its own training speakers; they are computed here, not stored by
    training, so probes can change without retraining.
    """

    frames: DeviceFrames
    rows: np.ndarray
    utt_ids: np.ndarray
    speakers: np.ndarray
    genders: np.ndarray
    emotions: np.ndarray
    pooled: np.ndarray  # per row: mean and std of each input channel (the probes' control)
    # (of an SSL front end: of each hidden unit, averaged over the stored layers)

    @classmethod
    def load(
        cls, labels_path: Path, features_path: Path, device: str, cache_dir: Path = CACHE_DIR
    ) -> TrainingCorpus:
        labels = pd.read_parquet(labels_path, columns=["utt_id", "speaker", "gender", "label"])
        store = open_frames([features_path], cache_dir)
        rows = np.flatnonzero(store.speeds == 1.0)
        labels = labels.set_index("utt_id").reindex(store.utt_ids[rows])
        if labels["speaker"].isna().any():
            raise CorpusError(
                str(features_path), f"holds utterances that {labels_path} does not label"
            )
        n = store.n_frames[rows][:, None]
        mean = store.row_sum[rows] / n
        std = np.sqrt(np.maximum(store.row_sq[rows] / n - mean**2, 0.0))
        if store.spec.layers > 1:  # an SSL front end: each unit's statistics, mean over layers
            mean, std = (a.reshape(len(rows), store.spec.layers, -1).mean(axis=1)
                         for a in (mean, std))  # fmt: skip
        return cls(
            frames=DeviceFrames(store, device),
            rows=rows,
            utt_ids=store.utt_ids[rows].astype(str),
            speakers=labels["speaker"].to_numpy(str),
            genders=labels["gender"].fillna(UNKNOWN_GENDER).to_numpy(str),
            emotions=labels["label"].to_numpy(str),
            pooled=np.hstack([mean, std]).astype(np.float32),
        )

    def gender_of(self, speakers: np.ndarray) -> np.ndarray:
        """The recorded gender of each given speaker (``unknown`` where none is)."""
        known = dict(zip(self.speakers, self.genders, strict=True))
        return np.array([known.get(s, UNKNOWN_GENDER) for s in speakers])


@dataclass
class CrossCorpus:
    """The cross-corpus set: its frames and, per row, the classes that count as correct.

    A single-label corpus (every segment has one correct class: EmoDB, RAVDESS, CREMA-D, a
    manifest, IEMOCAP) is scored by WA and UA like the training corpus; CMU-MOSEI's
    multi-label rule gives an accuracy only.
    """

    frames: DeviceFrames
    utt_ids: np.ndarray
    rows: np.ndarray
    correct: list[frozenset[str]]

    @property
    def single_label(self) -> bool:
        return all(len(c) == 1 for c in self.correct)

    @classmethod
    def load(
        cls, labels_path: Path, features_path: Path, device: str, cache_dir: Path = CACHE_DIR
    ) -> CrossCorpus:
        labels = pd.read_parquet(labels_path, columns=["utt_id", "correct"]).set_index("utt_id")
        frames, utt_ids, rows = _originals(features_path, device, cache_dir)
        missing = sorted(set(labels.index) - set(utt_ids[rows]))
        if missing:
            raise CorpusError(
                str(features_path),
                f"no features for {len(missing)} labelled segments of {labels_path}, "
                f"e.g. {missing[:5]}",
            )
        rows = rows[np.isin(utt_ids[rows], labels.index)]
        correct = [frozenset(c) for c in labels.loc[utt_ids[rows], "correct"]]
        return cls(frames=frames, utt_ids=utt_ids, rows=rows, correct=correct)

    def score(self, model: FoldModel) -> pd.DataFrame:
        """One fold model's predictions; a prediction is a hit when its class is correct."""
        probs, _ = model.predict(self.frames, self.rows)
        predicted = [EMOTIONS[i] for i in probs.argmax(axis=1)]
        table = pd.DataFrame(
            {
                "utt_id": self.utt_ids[self.rows].astype(str),
                "predicted": predicted,
                "hit": [p in c for p, c in zip(predicted, self.correct, strict=True)],
            }
        )
        for k, name in enumerate(EMOTIONS):
            table[f"prob_{name}"] = probs[:, k].astype(np.float32)
        return table


def probes(
    model: FoldModel, run: Path, fold: dict[str, Any], corpus: TrainingCorpus,
    settings: EvaluateSettings,
) -> dict[str, float | int | None]:  # fmt: skip
    """Every probe with every probe model on this run's embeddings v (see
    :mod:`pipeline.evaluation.probes`).

    Per probe: accuracy and chance (%), utterances scored, classes, utterances dropped;
    ``speaker_heldout`` only where the run kept a slice out of training
    (``train.probe_holdout``).
    """
    train = np.isin(corpus.speakers, fold["train"])
    held = train & probe_holdout(corpus.utt_ids, model.config.get("probe_holdout", 0))
    _, train_v = model.predict(corpus.frames, corpus.rows[train])
    v_of = dict(zip(np.flatnonzero(train), train_v, strict=True))
    embeddings = {
        "trained": np.stack([v_of[i] for i in np.flatnonzero(train & ~held)]),
        "held": np.stack([v_of[i] for i in np.flatnonzero(held)]) if held.any() else None,
    }
    v, speakers, emotions = run_files.unseen_embeddings(run)
    unseen = (v, speakers, corpus.gender_of(speakers), emotions)
    return _probe_columns("probe", embeddings, unseen, train & ~held, held, corpus, settings)


def controls(
    fold: dict[str, Any], corpus: TrainingCorpus, settings: EvaluateSettings
) -> dict[str, float | int | None]:
    """The probes' positive control: the same probes on the input features' pooled
    statistics (per channel, mean and std over the utterance) instead of v. Speaker and
    gender are plainly there, so a probe that does not find them could not find them in v.
    """
    train = np.isin(corpus.speakers, fold["train"])
    unseen_rows = np.isin(corpus.speakers, held_out(fold))
    unseen = (corpus.pooled[unseen_rows], corpus.speakers[unseen_rows],
              corpus.genders[unseen_rows], corpus.emotions[unseen_rows])  # fmt: skip
    embeddings = {"trained": corpus.pooled[train], "held": None}
    nothing_held = np.zeros_like(train)
    return _probe_columns("control", embeddings, unseen, train, nothing_held, corpus, settings)


def _probe_columns(
    prefix: str, embeddings: dict[str, np.ndarray | None], unseen: tuple, trained: np.ndarray,
    held: np.ndarray, corpus: TrainingCorpus, settings: EvaluateSettings,
) -> dict[str, float | int | None]:  # fmt: skip
    v, _, genders, emotions = unseen
    of = lambda mask: (corpus.speakers[mask], corpus.genders[mask], corpus.emotions[mask])  # noqa: E731
    splits, seed = settings.probe_splits, settings.seed
    columns: dict[str, float | int | None] = {}
    for model in PROBE_MODELS:
        found = {
            "speaker": speaker_probe(embeddings["trained"], *of(trained), splits, seed, model),
            "gender": gender_probe(
                (embeddings["trained"], corpus.genders[trained], corpus.emotions[trained]),
                (v, genders, emotions), seed, model,
            ),
            "emotion": probe_accuracy(v, emotions, splits, seed, model,
                                      confound=unseen[1]),
        }  # fmt: skip
        if embeddings["held"] is not None:
            found[HELD_OUT] = speaker_heldout_probe(
                (embeddings["trained"], *of(trained)), (embeddings["held"], *of(held)),
                seed, model,
            )  # fmt: skip
        for probe, result in found.items():
            columns[f"{prefix}_{probe}_{model}"] = _percent(result["accuracy"])
            columns[f"{prefix}_{probe}_chance"] = _percent(result["chance"])
            for size in ("n", "classes", "dropped"):
                columns[f"{prefix}_{probe}_{size}"] = result[size]
    return columns


def evaluate_fold(
    run: Path, corpus: TrainingCorpus, cross: CrossCorpus, settings: EvaluateSettings,
    control: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(scores, test predictions, cross-corpus predictions) of one (fold, seed) run, its
    model on the device that holds the corpora's frames. ``control``: the fold's control
    probes when the caller has them already (they do not depend on the run)."""
    info = run_files.read_summary(run)
    by_seed = info.get("unit") == UNITS["split"]
    predictions = run_files.read_predictions(run)
    model = FoldModel.load(run, corpus.frames.device)
    cross_table = cross.score(model).assign(fold=info["fold"], seed=info["seed"])
    scores = {
        "fold": info["fold"],
        "seed": info["seed"],
        # the statistics' unit: the session (or test speaker, or group); under the split
        # protocol every run has the same data, and only seeds repeat
        "session": f"seed{info['seed']}" if by_seed else info["session"],
        "val_speaker": "+".join(speakers_of(info["val"])),
        "test_speaker": "+".join(speakers_of(info["test"])),
        "selected_epoch": info["selected_epoch"],
        **within_corpus(predictions),
        "n_train": len(info["train"]),
        # the speakers one unit scores per resample of the training set (Nadeau-Bengio's n_2):
        # a session scores both of its held-out speakers (each fold one, as validation and as
        # test); a test speaker or group only itself; none when training is never resampled
        "n_held_out": 0 if by_seed else len(scored_by_unit(info)),
        # the speakers a fold leaves out of training (validation and test), for the
        # in-sample probe's correction (statistics.in_sample_share)
        "n_unseen": 0 if by_seed else len(held_out(info)),
        "cross_corpus": PERCENT * float(cross_table["hit"].mean()),
        **({"cross_ua": cross_ua(cross, cross_table)} if cross.single_label else {}),
        **probes(model, run, info, corpus, settings),
        **(control if control is not None else controls(info, corpus, settings)),
    }
    return scores, predictions[predictions["split"] == "test"], cross_table


def cross_ua(cross: CrossCorpus, table: pd.DataFrame) -> float:
    """UA (%) of one model on a single-label cross-corpus set: mean recall per class."""
    truth = np.array([EMOTIONS.index(next(iter(c))) for c in cross.correct])
    predicted = table["predicted"].map(EMOTIONS.index).to_numpy()
    return PERCENT * unweighted_accuracy(truth, predicted)


def _percent(value: float | None) -> float | None:
    return None if value is None else PERCENT * value


INTERVALS = (
    "95 % corrected resampled t over sessions (Nadeau & Bengio 2003: variance x (1/n + "
    "scored / training speakers), for the training speakers the sessions share; the speaker "
    "probes, scored on each session's own training speakers, x (1/n + m^2 / (N h) - 1/n))"
)
"""What every interval of the metrics covers, written into them."""


def summarize(
    folds: list[dict[str, Any]], settings: EvaluateSettings, crosses: pd.DataFrame | None = None
) -> EvalSummary:
    """A regime's table row: every score as a mean over sessions with its 95 % interval.

    Each (fold, seed) score is first averaged within its session; intervals are corrected
    for the sessions' shared training speakers (see :mod:`pipeline.evaluation.statistics`)
    and clipped to what the score can take (0-100, or ±100 for Δ). Min and max of the
    cross-corpus accuracy are over the (fold, seed) models, as the paper's Table 3; with
    ``crosses`` (every model's hit per segment) it also gets a two-way bootstrap interval
    over sessions and segments. Each probe is tested against its chance level (above it;
    within ``settings.equivalence_margin`` points of it) and carries its mean size. A probe that
    could not run anywhere is None.
    """
    table = pd.DataFrame(folds)
    scored_share, in_sample = held_out_share(table), in_sample_share(table)

    def interval(column: str, share: float = scored_share) -> dict[str, Any] | None:
        values = session_values(table, column) if column in table else pd.Series()
        if not len(values):
            return None
        stat = corrected_interval(values.to_numpy(), share).as_dict()
        if stat["low"] is not None:  # a t-interval knows no bounds; a percentage does
            floor = -PERCENT if column.endswith("_delta") else 0.0
            stat["low"], stat["high"] = max(stat["low"], floor), min(stat["high"], PERCENT)
        return stat

    def probe(prefix: str, column: str) -> dict[str, Any] | None:
        name = column.rsplit("_", 1)[0]
        # the speaker probes score each unit's own training speakers: the in-sample share
        share = in_sample if name.startswith("speaker") else scored_share
        stat = interval(f"{prefix}_{column}", share)
        if stat is None:
            return None
        margins = table[f"{prefix}_{column}"] - table[f"{prefix}_{name}_chance"]
        per_session = session_values(table.assign(margin=margins), "margin").to_numpy()
        return {**stat, **versus_chance(per_session, share, settings.equivalence_margin)}

    def sizes(prefix: str, name: str) -> dict[str, float] | None:
        columns = [f"{prefix}_{name}_{k}" for k in ("n", "classes", "dropped")]
        if columns[0] not in table:
            return None
        return {c.rsplit("_", 1)[1]: float(table[c].mean()) for c in columns}

    def mean(column: str) -> float | None:
        values = table[column].dropna() if column in table else pd.Series()
        return float(values.mean()) if len(values) else None

    names = (*PROBE_NAMES, HELD_OUT)
    cross = table["cross_corpus"]
    return {
        "folds": int(table["fold"].nunique()),
        "seeds": int(table["seed"].nunique()),
        "sessions": int(table["session"].nunique()),
        "runs": len(table[["session", "seed"]].drop_duplicates()),
        "intervals": INTERVALS,
        "within": {k: interval(k) for k in WITHIN_KEYS},
        "cross_corpus": {
            **interval("cross_corpus"), "min": float(cross.min()), "max": float(cross.max()),
            **_over_segments(table, crosses),
        },
        "cross_corpus_ua": interval("cross_ua"),
        "probe": {k: probe("probe", k) for k in PROBE_COLUMNS},
        "chance": {k: mean(f"probe_{k}_chance") for k in names},
        "size": {k: sizes("probe", k) for k in names},
        "control": {k: probe("control", k) for k in PROBE_COLUMNS},
        "control_chance": {k: mean(f"control_{k}_chance") for k in names},
    }  # fmt: skip


def _over_segments(table: pd.DataFrame, crosses: pd.DataFrame | None) -> dict[str, Any]:
    """Table 3's interval over sessions and segments: which segments are in the
    cross-corpus set varies the score as much as training does
    (:func:`~pipeline.evaluation.statistics.two_way_interval`)."""
    if crosses is None or crosses.empty:
        return {}
    sessions = table.set_index(["fold", "seed"])["session"]
    hits = crosses.assign(session=sessions.loc[list(zip(crosses["fold"], crosses["seed"],
                                                        strict=True))].to_numpy())  # fmt: skip
    per_session = hits.pivot_table(index="session", columns="utt_id", values="hit", aggfunc="mean")
    interval = two_way_interval(per_session.to_numpy(float), held_out_share(table))
    if interval is None:
        return {"segments": per_session.shape[1]}
    low, high = (min(max(x, 0.0), 1.0) for x in interval)
    return {"segments": per_session.shape[1], "two_way_low": PERCENT * low,
            "two_way_high": PERCENT * high}  # fmt: skip


def evaluate_regime(
    train_dir: Path, corpus: TrainingCorpus, cross: CrossCorpus, settings: EvaluateSettings
) -> tuple[list[dict[str, Any]], pd.DataFrame, pd.DataFrame]:
    """(per-fold scores, test predictions of every fold, cross-corpus predictions)."""
    folds, tests, crosses = [], [], []
    per_fold: dict[int, dict[str, Any]] = {}
    runs = run_files.finished_runs(train_dir)
    for run in tqdm(runs, desc=f"evaluate {Path(train_dir).name}"):
        info = run_files.read_summary(run)
        if info["fold"] not in per_fold:
            per_fold[info["fold"]] = controls(info, corpus, settings)
        scores, test, cross_table = evaluate_fold(
            run, corpus, cross, settings, per_fold[info["fold"]]
        )
        log.info(
            "fold %d seed %d: UA val %.1f test %.1f, cross-corpus %.1f, speaker probe %s / %s",
            scores["fold"], scores["seed"], scores["ua_val"], scores["ua_test"],
            scores["cross_corpus"], scores["probe_speaker_linear"],
            scores["probe_speaker_kernel"],
        )  # fmt: skip
        folds.append(scores)
        tests.append(test)
        crosses.append(cross_table)
    return folds, pd.concat(tests, ignore_index=True), pd.concat(crosses, ignore_index=True)
