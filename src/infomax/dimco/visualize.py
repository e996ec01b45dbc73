"""Which images a code location stands for: the top images per (dimension, symbol) combination.

DIMCO (Lee et al., arXiv 1905.11656, sec. 2.5, fig. 2): for chosen code locations, e.g.
``(., j2, ., j4)`` (symbol j2 in dimension 2 and j4 in dimension 4), rank the test images by the summed
log-probabilities of those symbols, ``sum_{(i, j)} log p_{i, j}(x)``, and show the top 10.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from infomax.errors import UserError
from infomax.run import atomic_path

Selection = Sequence[tuple[int, int]]  # [(dimension, symbol), ...]


def top_items(logprobs: np.ndarray, selection: Selection, top: int = 10) -> np.ndarray:
    """Indices of the ``top`` items by ``sum_{(i, j) in selection} logprobs[:, i, j]`` (desc, then index).

    Args:
        logprobs: (N, d, k) log-probabilities.
        selection: (dimension, symbol) pairs, e.g. ``[(1, 5), (3, 0)]``.
        top: how many items.

    Example:
        >>> lp = np.log(np.array([[[0.9, 0.1]], [[0.2, 0.8]], [[0.6, 0.4]]]))
        >>> top_items(lp, [(0, 1)], top=2).tolist()
        [1, 2]
    """
    lp = np.asarray(logprobs, dtype=np.float64)
    if lp.ndim != 3:
        raise UserError(f"logprobs must have shape (N, d, k), got {lp.shape}")
    if not selection:
        raise UserError("select at least one (dimension, symbol) pair")
    _, d, k = lp.shape
    for i, j in selection:
        if not (0 <= i < d and 0 <= j < k):
            raise UserError(f"(dimension, symbol) = ({i}, {j}) is outside the code shape (d={d}, k={k})")
    score = sum(lp[:, i, j] for i, j in selection)  # (N,)
    order = np.lexsort((np.arange(len(score)), -score))
    return order[:top]


def default_selections(
    logprobs: np.ndarray, n_single: int = 6, n_pairs: int = 3
) -> list[list[tuple[int, int]]]:
    """Rows for :func:`plot_code_grid`: single symbols in the most used dimensions, then pairs of them.

    The dimensions are ranked by the entropy of their argmax-symbol histogram over the items (a
    dimension whose symbol never changes says nothing), ties by index; each chosen dimension shows its
    most frequent symbol (ties: the smallest). Then ``n_pairs`` rows combine two consecutive singles,
    like doc 000 fig. 2's ``(., j2, ., j4)``.

    Args:
        logprobs: (N, d, k) log-probabilities.
        n_single: rows with one (dimension, symbol) pair (at most d).
        n_pairs: rows with two pairs (at most n_single // 2).

    Example:
        >>> lp = np.log(np.array([[[0.9, 0.1], [0.8, 0.2]], [[0.9, 0.1], [0.3, 0.7]]]))
        >>> default_selections(lp, n_single=2, n_pairs=1)  # dim 1 varies, dim 0 does not
        [[(1, 0)], [(0, 0)], [(1, 0), (0, 0)]]
    """
    lp = np.asarray(logprobs)
    if lp.ndim != 3 or lp.shape[0] < 1:
        raise UserError(f"logprobs must have shape (N, d, k) with N >= 1, got {lp.shape}")
    _, d, k = lp.shape
    codes = lp.argmax(-1)  # (N, d)
    counts = np.stack([np.bincount(codes[:, i], minlength=k) for i in range(d)])  # (d, k)
    p = counts / counts.sum(1, keepdims=True)
    entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(1)  # (d,)
    dims = np.lexsort((np.arange(d), -entropy))[: min(n_single, d)]
    singles = [(int(i), int(counts[i].argmax())) for i in dims]
    rows = [[s] for s in singles]
    rows += [[singles[2 * j], singles[2 * j + 1]] for j in range(min(n_pairs, len(singles) // 2))]
    return rows


def plot_code_grid(
    images: np.ndarray,
    logprobs: np.ndarray,
    selections: Sequence[Selection],
    path: str | Path,
    top: int = 10,
) -> Path:
    """Save a grid (one row per selection, ``top`` columns) of the best images for each selection.

    Args:
        images: (N, C, H, W) uint8 images (C = 1 or 3), aligned with ``logprobs``.
        logprobs: (N, d, k) log-probabilities.
        selections: rows, each a list of (dimension, symbol) pairs.
        path: output image file (PNG).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] != np.asarray(logprobs).shape[0]:
        raise UserError(f"images must be (N, C, H, W) aligned with logprobs, got {images.shape}")
    rows = [top_items(logprobs, sel, top) for sel in selections]
    fig, axes = plt.subplots(len(rows), top, figsize=(1.1 * top + 1.5, 1.2 * len(rows)), squeeze=False)
    for r, (sel, idx) in enumerate(zip(selections, rows)):
        for c in range(top):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(idx):
                img = images[idx[c]].transpose(1, 2, 0)
                ax.imshow(img[..., 0] if img.shape[2] == 1 else img, cmap="gray", vmin=0, vmax=255)
        label = ", ".join(f"d{i}={j}" for i, j in sel)
        axes[r, 0].text(-0.1, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path) as tmp:  # a failed write keeps any previous file
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return path
