"""Figures of a run: the confusion matrix (row-normalised recall, as DFEW's Fig. 3) and a
2-D map of the penultimate features (DFEW's Fig. 4).

The feature map uses scikit-learn's t-SNE (a dependency of dfew-build). Where scikit-learn
is missing, or there are too few clips for t-SNE (fewer than 5), it falls back to a PCA
projection (numpy SVD) and says so in the figure's title and in the returned method.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dfew_build.emotions import EMOTIONS, NAMES
from dfew_build.tempfiles import temp_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    tmp = temp_path(path, keep_suffix=True)  # matplotlib picks the format from the suffix
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    os.replace(tmp, path)


def plot_confusion(confusion, path: Path, title: str = "") -> None:
    """Rows: true emotion, normalised to recall (%); counts in small print. A row without a
    test clip has no recall: it is left blank (grey, "–") and labelled "no test clip"."""
    plt = _pyplot()
    confusion = np.asarray(confusion, dtype=float)
    support = confusion.sum(axis=1, keepdims=True)
    recall = np.divide(confusion, support, out=np.zeros_like(confusion), where=support > 0)
    absent = support[:, 0] == 0
    shown = np.ma.masked_array(recall * 100, mask=np.repeat(absent[:, None], len(NAMES), 1))
    cmap = plt.get_cmap("Blues").with_extremes(bad="#e6e6e6")
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=100)
    ax.set_xticks(range(len(NAMES)), NAMES, rotation=45, ha="right")
    ax.set_yticks(range(len(NAMES)), [f"{name} (no test clip)" if gone else name
                                      for name, gone in zip(NAMES, absent)])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(NAMES)):
        for j in range(len(NAMES)):
            if absent[i]:
                ax.text(j, i, "–", ha="center", va="center", fontsize=7, color="grey")
                continue
            colour = "white" if recall[i, j] > 0.6 else "black"
            ax.text(j, i, f"{100 * recall[i, j]:.1f}\n({int(confusion[i, j])})", ha="center",
                    va="center", fontsize=7, color=colour)
    fig.colorbar(image, ax=ax, label="recall (%)")
    heading = title or "confusion matrix"
    if absent.any():
        heading += f"\nrecall undefined for {int(absent.sum())} class(es) without a test clip"
    ax.set_title(heading)
    _save(fig, path)
    plt.close(fig)


def embed_2d(features: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """t-SNE (scikit-learn) when possible, else PCA; returns the points and the method."""
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    if n >= 5:
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            TSNE = None
        if TSNE is not None:
            perplexity = float(min(30, (n - 1) / 3))
            init = "pca" if features.shape[1] >= 2 else "random"
            points = TSNE(n_components=2, perplexity=perplexity, init=init,
                          random_state=seed).fit_transform(features)
            return points, "t-SNE"
    centred = features - features.mean(axis=0, keepdims=True)
    if n == 0:
        return np.zeros((0, 2)), "PCA"
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    if points.shape[1] < 2:
        points = np.pad(points, ((0, 0), (0, 2 - points.shape[1])))
    return points, "PCA"


def plot_features(features, labels, path: Path, *, title: str = "", seed: int = 0,
                  max_points: int = 2000) -> str:
    """Scatter of the 2-D embedding coloured by true emotion; returns the method used.
    More than ``max_points`` clips are subsampled (seeded)."""
    features, labels = np.asarray(features), np.asarray(labels)
    if len(features) > max_points:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(features), max_points, replace=False))
        features, labels = features[keep], labels[keep]
    points, method = embed_2d(features, seed)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.4))
    for emotion in EMOTIONS:
        mask = labels == emotion.index
        if mask.any():
            ax.scatter(points[mask, 0], points[mask, 1], s=8, color=emotion.colour,
                       label=emotion.name, alpha=0.8)
    ax.legend(markerscale=2, fontsize=8, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{title} ({method} of the penultimate features)".strip())
    _save(fig, path)
    plt.close(fig)
    return method
