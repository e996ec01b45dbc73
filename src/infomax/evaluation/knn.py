"""Weighted k-nearest-neighbour probe on cosine similarity (Wu et al. 2018)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from infomax.errors import UserError
from infomax.evaluation.linear_probe import _check_xy


class KNNProbe:
    """Weighted kNN classifier: the k most cosine-similar training points vote with weight exp(s / T).

    Wu, Xiong, Yu, Lin, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination"
    (CVPR 2018), sec. 3.4: class score ``w_c = sum_{i in top-k} exp(s_i / T) * [c_i == c]`` with ``s_i``
    the cosine similarity between the query and neighbour ``i``; the prediction is ``argmax_c w_c``.
    Queries are processed in chunks (memory O(chunk * N_train)).

    Args:
        k: neighbours (20).
        temperature: T (0.07).
        chunk_size: queries per similarity block.
        device: torch device.

    Attributes:
        classes_ (K,), bank_ (N, D) L2-normalised training features, labels_ (N,) class indices.

    Example:
        >>> KNNProbe(k=20).fit(train_feats, train_labels).score(test_feats, test_labels)  # doctest: +SKIP
        0.91
    """

    def __init__(
        self, k: int = 20, temperature: float = 0.07, chunk_size: int = 1024, device: str = "cpu"
    ) -> None:
        if k < 1:
            raise UserError("k must be >= 1")
        if not temperature > 0:
            raise UserError("temperature must be > 0")
        self.k = k
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray) -> KNNProbe:
        """Store L2-normalised training features X (N, D) and labels y (N,)."""
        X, y = _check_xy(X, y)
        if len(X) == 0:
            raise UserError("a kNN probe needs at least one training point")
        self.classes_, yi = np.unique(y, return_inverse=True)
        self.bank_ = F.normalize(torch.as_tensor(X, dtype=torch.float32, device=self.device), dim=1)
        self.labels_ = torch.as_tensor(yi, dtype=torch.long, device=self.device)
        return self

    @torch.no_grad()
    def vote_scores(self, X: np.ndarray) -> np.ndarray:
        """Per-class weighted votes (N, K)."""
        X, _ = _check_xy(X)
        k = min(self.k, len(self.bank_))
        n_cls = len(self.classes_)
        out = []
        for start in range(0, len(X), self.chunk_size):
            q = F.normalize(torch.as_tensor(X[start : start + self.chunk_size], dtype=torch.float32), dim=1)
            sims = q.to(self.device) @ self.bank_.T  # (B, N)
            top, idx = sims.topk(k, dim=1)  # (B, k)
            w = torch.exp(top / self.temperature)  # (B, k)
            votes = torch.zeros(len(q), n_cls, device=self.device)
            votes.scatter_add_(1, self.labels_[idx], w)  # (B, K)
            out.append(votes.cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, n_cls), np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,)."""
        return self.classes_[self.vote_scores(X).argmax(1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on (X, y)."""
        X, y = _check_xy(X, y)
        return float(np.mean(self.predict(X) == y))
