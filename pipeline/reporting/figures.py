"""The report's figures: the t-SNE of paper Fig. 2 for every regime, and training curves.

Drawn on bare matplotlib ``Figure`` objects (no pyplot, so no display and no global figure
state) and saved without a software stamp, so the same inputs give the same PNG bytes on
the same machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.manifold import TSNE

from pipeline import EMOTIONS
from pipeline.runtime.atomic import atomic_path

EMOTION_COLORS = {"ang": "#d62728", "hap": "#ff7f0e", "neu": "#7f7f7f", "sad": "#1f77b4"}
SPEAKER_STYLES = (("#2ca02c", "o"), ("#9467bd", "^"))
MARKERS = "o^sDvP*X"
LEGEND_MAX = 12
"""Above this many speakers in a panel, the speaker panel has no legend."""


def speaker_styles(count: int) -> list[tuple[str, str]]:
    """(color, marker) per speaker: the paper's two for a session pair, else cycled."""
    if count <= len(SPEAKER_STYLES):
        return list(SPEAKER_STYLES[:count])
    return [(f"C{i % 10}", MARKERS[(i // 10) % len(MARKERS)]) for i in range(count)]


PNG_METADATA = {"Software": None}


def perplexity_for(points: int, setting: float | str) -> float:
    """The t-SNE perplexity for a panel: ``auto`` is the square root of the number of points
    (a common rule: 30 on a panel of 35 points joins everything into one curve, 6 keeps
    local structure), and any value is capped at a third of the points, which small folds
    need to work at all."""
    wanted = float(np.sqrt(points)) if setting == "auto" else float(setting)
    return min(wanted, max(1.0, (points - 1) / 3))


def tsne_2d(v: np.ndarray, perplexity: float | str, seed: int) -> np.ndarray:
    """2-D t-SNE of embeddings, standardized per dimension."""
    perplexity = perplexity_for(len(v), perplexity)
    scaled = (v - v.mean(axis=0)) / (v.std(axis=0) + 1e-8)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        scaled
    )


def tsne_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    target: Path,
    perplexity: float | str,
    seed: int,
    subtitle: str,
) -> None:
    """One row per regime: points colored by emotion (left) and by speaker (right).

    ``panels`` holds (regime title, embeddings v, speaker per row, emotion per row).
    """
    fig = Figure(figsize=(9, 4 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 2, squeeze=False)
    for (title, v, speakers, emotions), (left, right) in zip(panels, axes, strict=True):
        xy = tsne_2d(v, perplexity, seed)
        for emotion in EMOTIONS:
            chosen = emotions == emotion
            left.scatter(*xy[chosen].T, s=12, c=EMOTION_COLORS[emotion], label=emotion)
        names = sorted(set(speakers))
        for speaker, (color, marker) in zip(names, speaker_styles(len(names)), strict=True):
            chosen = speakers == speaker
            right.scatter(*xy[chosen].T, s=12, c=color, marker=marker, label=speaker)
        left.set_title(f"{title}: emotion")
        right.set_title(f"{title}: speaker")
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])
            if ax is left or len(names) <= LEGEND_MAX:
                ax.legend(loc="best", fontsize=8, markerscale=1.5)
    fig.suptitle(f"t-SNE of the embedding v on unseen speakers ({subtitle})")
    save_png(fig, target)


CURVE_PANELS = (
    ("val_ua", "Validation UA", "UA (%)"),
    ("emotion_loss", "Emotion loss on training batches", "cross-entropy (nats)"),
    ("speaker_acc", "Speaker classifier on training batches", "accuracy (%)"),
    ("entropy", "MEnAN: speaker classifier entropy", "entropy (nats)"),
)
"""(plot-file column, panel title, axis label); see :mod:`pipeline.training.curves`."""
REFERENCE_LINES = {"speaker_acc": ("speaker_chance", "chance"), "entropy": ("log_k", "log K")}


def curves_figure(curves: Mapping[str, list[dict[str, Any]]], target: Path) -> None:
    """Per epoch, each regime's mean over its (fold, seed) runs with a band of one standard
    deviation, from the plot files; chance for the speaker classifier, log K for MEnAN's
    entropy (the value the adversary drives it towards)."""
    fig = Figure(figsize=(11, 8), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for ax, (column, title, label) in zip(axes, CURVE_PANELS, strict=True):
        drawn = []
        for i, (name, rows) in enumerate(curves.items()):
            table = pd.DataFrame(rows)
            if column not in table:
                continue  # EC only has no speaker classifier; only MEnAN an entropy term
            mean, sd = table[column], table[f"{column}_sd"]
            ax.plot(table["epoch"], mean, color=f"C{i}", label=name)
            ax.fill_between(table["epoch"], mean - sd, mean + sd, color=f"C{i}", alpha=0.15)
            drawn.append(table)
        if drawn and column in REFERENCE_LINES:  # the same folds, so the same line for all
            reference, words = REFERENCE_LINES[column]
            ax.plot(drawn[0]["epoch"], drawn[0][reference], "k--", linewidth=1, label=words)
        ax.set(title=f"{title} (mean ± sd over runs)", xlabel="epoch", ylabel=label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    save_png(fig, target)


def save_png(fig: Figure, target: Path) -> None:
    """Write a figure atomically as a PNG without a software stamp (byte-stable)."""
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata=PNG_METADATA)
