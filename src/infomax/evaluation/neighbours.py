"""Nearest-neighbour retrieval under a representation: image grids and precision@k.

Hjelm et al. (ICLR 2019, app. A.4, Figure 8): for one randomly chosen test query per class, order the test
set by distance in the representation space and show the four closest images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from infomax.errors import UserError
from infomax.evaluation.features import as_encoder, check_layer, extract_features
from infomax.run import atomic_path

METRICS = ("euclidean", "cosine")


def nearest_neighbours(
    queries: np.ndarray,
    bank: np.ndarray,
    k: int,
    metric: str = "euclidean",
    exclude: np.ndarray | None = None,
    chunk_size: int = 1024,
) -> np.ndarray:
    """Indices (Q, k) of the ``k`` bank rows closest to each query row, closest first.

    Args:
        queries: (Q, D) features.
        bank: (N, D) features.
        k: neighbours per query (<= N, minus one when excluding).
        metric: "euclidean" or "cosine".
        exclude: optional (Q,) bank index to skip for each query (the query itself when it is in the bank).
        chunk_size: queries per distance block.

    Example:
        >>> nearest_neighbours(np.array([[0.0], [10.0]]), np.array([[9.0], [1.0], [0.5]]), 2).tolist()
        [[2, 1], [0, 1]]
    """
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    n_avail = len(bank) - (1 if exclude is not None else 0)
    if not 1 <= k <= n_avail:
        raise UserError(f"k must be between 1 and {n_avail}, got {k}")
    b = torch.as_tensor(bank, dtype=torch.float32)
    if metric == "cosine":
        b = F.normalize(b, dim=1)
    out = []
    for s in range(0, len(queries), chunk_size):
        q = torch.as_tensor(queries[s : s + chunk_size], dtype=torch.float32)
        if metric == "cosine":
            d = -(F.normalize(q, dim=1) @ b.T)  # (B, N): smaller = closer
        else:
            d = torch.cdist(q.double(), b.double())  # (B, N)
        if exclude is not None:
            rows = torch.arange(len(q))
            d[rows, torch.as_tensor(exclude[s : s + chunk_size], dtype=torch.long)] = float("inf")
        out.append(d.topk(k, dim=1, largest=False).indices.numpy())  # (B, k)
    return np.concatenate(out) if out else np.zeros((0, k), np.int64)


def precision_at_k(
    feats: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 4, 10), metric: str = "euclidean"
) -> dict[str, float]:
    """Mean share of each item's k nearest other items (leave-one-out) that share its label.

    Returns ``{"precision@1": ..., ...}``.

    Example:
        >>> f = np.array([[0.0], [0.1], [5.0], [5.1]]); y = np.array([0, 0, 1, 1])
        >>> precision_at_k(f, y, ks=(1, 2))
        {'precision@1': 1.0, 'precision@2': 0.5}
    """
    labels = np.asarray(labels)
    kmax = max(ks)
    nn_idx = nearest_neighbours(feats, feats, kmax, metric, exclude=np.arange(len(feats)))  # (N, kmax)
    hits = labels[nn_idx] == labels[:, None]  # (N, kmax)
    return {f"precision@{k}": float(hits[:, :k].mean()) for k in ks}


def image_grid(images: np.ndarray, rows: Sequence[Sequence[int]], pad: int = 2) -> np.ndarray:
    """Tile ``images[rows[r][c]]`` (uint8 (N, C, H, W), C in {1, 3}) into one uint8 RGB array (H', W', 3),
    ``pad`` white pixels between tiles."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    _, c, h, w = images.shape
    grid = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for col, i in enumerate(row):
            tile = np.asarray(images[i]).transpose(1, 2, 0)  # (H, W, C)
            if c == 1:
                tile = np.repeat(tile, 3, axis=2)
            y0, x0 = pad + r * (h + pad), pad + col * (w + pad)
            grid[y0 : y0 + h, x0 : x0 + w] = tile[..., :3]
    return grid


def save_grid(path: str | Path, grid: np.ndarray, scale: int = 4) -> Path:
    """Write an RGB uint8 grid as PNG, upscaled ``scale`` times (nearest) so small images stay visible.

    Written atomically (:func:`infomax.run.atomic_path`): a failed write keeps any previous file."""
    from PIL import Image

    path = Path(path)
    img = Image.fromarray(grid)
    with atomic_path(path) as tmp:
        img.resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(tmp, format="PNG")
    return path


def neighbours_protocol(
    encoder: object,
    splits: object,
    layer: str | None = None,
    n_neighbours: int = 4,
    ks: Sequence[int] = (1, 4, 10),
    metric: str = "euclidean",
    out_path: str | None = None,
    seed: int = 0,
    device: str = "cpu",
    **_: object,
) -> dict:
    """Retrieval in the test set under ``layer`` (default the output layer).

    For one random test query per class, the ``n_neighbours`` closest other test images (one grid row per
    class: query then neighbours, saved as PNG to ``out_path`` when given), and leave-one-out precision@k
    over the whole test set.

    Returns ``{"precision@1": ..., "grid_path": str | None, "queries": [...], "neighbours": [[...]],
    "neighbour_label_agreement": share of grid neighbours with the query's class, "layer", "n_test"}``.
    """
    run_dir = getattr(encoder, "run_dir", None)
    encoder = as_encoder(encoder)
    layer = check_layer(encoder, layer)
    if out_path is None and run_dir is not None:
        out_path = str(Path(run_dir) / "plots" / f"neighbours-{layer}.png")
    test = splits.test
    feats = extract_features(encoder, test.images, layer, device=device, split="test")
    labels = np.asarray(test.labels)
    rng = np.random.default_rng(seed)
    queries = np.array([rng.choice(np.flatnonzero(labels == c)) for c in np.unique(labels[labels >= 0])])
    nn_idx = nearest_neighbours(feats[queries], feats, n_neighbours, metric, exclude=queries)  # (Q, n)
    grid_path = None
    if out_path is not None:
        rows = [[int(q), *map(int, row)] for q, row in zip(queries, nn_idx)]
        grid_path = str(save_grid(out_path, image_grid(test.images, rows)))
    result = {"protocol": "neighbours", **precision_at_k(feats, labels, ks, metric)}
    result.update(
        grid_path=grid_path,
        queries=queries.tolist(),
        neighbours=nn_idx.tolist(),
        neighbour_label_agreement=float(np.mean(labels[nn_idx] == labels[queries][:, None])),
        layer=layer,
        n_test=len(feats),
        metric=metric,
    )
    return result
