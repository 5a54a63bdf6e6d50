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
from pipeline.atomic import atomic_path

EMOTION_COLORS = {"ang": "#d62728", "hap": "#ff7f0e", "neu": "#7f7f7f", "sad": "#1f77b4"}
SPEAKER_STYLES = (("#2ca02c", "o"), ("#9467bd", "^"))
PNG_METADATA = {"Software": None}


def tsne_2d(v: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """2-D t-SNE of embeddings; perplexity capped so that small folds still work."""
    perplexity = min(perplexity, max(1.0, (len(v) - 1) / 3))
    scaled = (v - v.mean(axis=0)) / (v.std(axis=0) + 1e-8)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        scaled
    )


def tsne_figure(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    target: Path,
    perplexity: float,
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
        for speaker, (color, marker) in zip(sorted(set(speakers)), SPEAKER_STYLES, strict=False):
            chosen = speakers == speaker
            right.scatter(*xy[chosen].T, s=12, c=color, marker=marker, label=speaker)
        left.set_title(f"{title}: emotion")
        right.set_title(f"{title}: speaker")
        for ax in (left, right):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.legend(loc="best", fontsize=8, markerscale=1.5)
    fig.suptitle(f"t-SNE of the embedding v on two unseen speakers ({subtitle})")
    save_png(fig, target)


def curves_figure(curves: Mapping[str, list[dict[str, Any]]], target: Path) -> None:
    """Validation UA and training-batch SC accuracy per epoch, mean over folds and seeds."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    ua_ax, sc_ax = fig.subplots(1, 2)
    for i, (title, rows) in enumerate(curves.items()):
        per_epoch = pd.DataFrame(rows).groupby("epoch").mean(numeric_only=True)
        style = {"label": title, "color": f"C{i}"}  # one color per regime in both panels
        ua_ax.plot(per_epoch.index, 100 * per_epoch["val_ua"], **style)
        if "sc_acc" in per_epoch:
            sc_ax.plot(per_epoch.index, 100 * per_epoch["sc_acc"], **style)
    ua_ax.set(title="Validation UA (mean over folds)", xlabel="epoch", ylabel="UA (%)")
    sc_ax.set(title="SC accuracy on training batches", xlabel="epoch", ylabel="accuracy (%)")
    for ax in (ua_ax, sc_ax):
        ax.grid(alpha=0.3)
        if ax.lines:  # ec_only alone has no speaker classifier to plot
            ax.legend()
    save_png(fig, target)


def save_png(fig: Figure, target: Path) -> None:
    """Write a figure atomically as a PNG without a software stamp (byte-stable)."""
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata=PNG_METADATA)
