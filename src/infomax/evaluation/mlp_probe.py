"""MLP probe: one hidden layer of 200 units with batch norm and dropout, as in Deep InfoMax's Table 1."""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from infomax.errors import UserError
from infomax.evaluation.linear_probe import Standardizer, _check_xy
from infomax.progress import bar


class MLPProbe:
    """Non-linear probe: Linear(D, hidden) - BatchNorm - ReLU - Dropout - Linear(hidden, K).

    Hjelm et al., "Learning deep representations by mutual information estimation and maximization"
    (ICLR 2019), Table 1: "a single hidden layer neural network (200 units) with dropout", trained with
    Adam at 1e-4. Inputs are standardized with training statistics. Early stopping: after every epoch the
    accuracy on a validation split is measured and the best epoch's weights are kept; training stops after
    ``patience`` epochs without improvement. The validation split is ``(X_val, y_val)`` when given to
    :meth:`fit`, else ``val_fraction`` of the training data (stratified by nothing, seeded).

    Args:
        hidden: hidden units (200 in the paper).
        dropout: dropout rate after the hidden layer (0.1).
        lr: Adam learning rate (1e-4).
        epochs: maximum epochs.
        batch_size: minibatch size.
        patience: epochs without validation improvement before stopping.
        val_fraction: share of the training data held out when no explicit validation set is given.
        weight_decay: Adam weight decay.
        seed: seeds the initialisation, the shuffling and the held-out split.
        device: torch device.
        label: the progress bar's label (see :mod:`infomax.progress`).

    Attributes:
        classes_ (K,), model_ (the trained nn.Module), best_epoch_, best_val_accuracy_, n_epochs_.

    Example:
        >>> MLPProbe(epochs=50).fit(Xtr, ytr).score(Xte, yte)  # doctest: +SKIP
        0.95
    """

    def __init__(
        self,
        hidden: int = 200,
        dropout: float = 0.1,
        lr: float = 1e-4,
        epochs: int = 100,
        batch_size: int = 128,
        patience: int = 10,
        val_fraction: float = 0.1,
        weight_decay: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
        label: str = "MLP probe",
    ) -> None:
        if hidden < 1 or epochs < 1 or batch_size < 1 or patience < 1:
            raise UserError("hidden, epochs, batch_size and patience must be >= 1")
        if not 0.0 <= dropout < 1.0:
            raise UserError("dropout must be in [0, 1)")
        if not 0.0 < val_fraction < 1.0:
            raise UserError("val_fraction must be in (0, 1)")
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.val_fraction = val_fraction
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device
        self.label = label

    def _build(self, d: int, k: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(d, self.hidden),
            nn.BatchNorm1d(self.hidden),
            nn.ReLU(),
            nn.Dropout(self.dropout),
            nn.Linear(self.hidden, k),
        )

    def fit(
        self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None, y_val: np.ndarray | None = None
    ) -> MLPProbe:
        """Train on (X (N, D), y (N,)); early-stop on (X_val, y_val) or a held-out share of X."""
        X, y = _check_xy(X, y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise UserError("a probe needs at least two classes in its training labels")
        rng = np.random.default_rng(self.seed)
        if X_val is None:
            perm = rng.permutation(len(X))
            n_val = max(1, int(round(self.val_fraction * len(X))))
            X_val, y_val, X, y = X[perm[:n_val]], y[perm[:n_val]], X[perm[n_val:]], y[perm[n_val:]]
        X_val, y_val = _check_xy(X_val, y_val)
        self._scaler = Standardizer().fit(X)
        x = torch.from_numpy(self._scaler.transform(X)).to(self.device)  # (N, D)
        t = torch.from_numpy(np.searchsorted(self.classes_, y)).long().to(self.device)  # (N,)
        # Seeded, and leaves the caller's global RNG stream untouched (init, shuffling and dropout draw here).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._train(x, t, X_val, y_val)
        return self

    def _train(self, x: torch.Tensor, t: torch.Tensor, X_val: np.ndarray, y_val: np.ndarray) -> None:
        model = self._build(x.shape[1], len(self.classes_)).to(self.device)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        self.model_ = model
        best, best_state, best_epoch, waited, epoch = -1.0, None, 0, 0, 0
        progress = bar(total=self.epochs, desc=self.label, unit="epoch")
        for epoch in range(1, self.epochs + 1):
            model.train()
            perm = torch.randperm(len(x)).to(self.device)
            for start in range(0, len(x), self.batch_size):
                idx = perm[start : start + self.batch_size]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                loss = F.cross_entropy(model(x[idx]), t[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            acc = self.score(X_val, y_val)
            progress.update(1)
            progress.set_postfix(val=f"{max(acc, best):.4f}", refresh=False)
            if acc > best:
                best, best_state, best_epoch, waited = acc, copy.deepcopy(model.state_dict()), epoch, 0
            else:
                waited += 1
                if waited >= self.patience:
                    break
        progress.close()
        model.load_state_dict(best_state)
        model.eval()
        self.best_epoch_, self.best_val_accuracy_, self.n_epochs_ = best_epoch, best, epoch

    @torch.no_grad()
    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits (N, K)."""
        X, _ = _check_xy(X)
        was = self.model_.training
        self.model_.eval()
        out = []
        z = self._scaler.transform(X)
        for start in range(0, len(z), 4096):
            out.append(self.model_(torch.from_numpy(z[start : start + 4096]).to(self.device)).cpu().numpy())
        self.model_.train(was)
        return np.concatenate(out) if out else np.zeros((0, len(self.classes_)), np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,)."""
        return self.classes_[self.decision_function(X).argmax(1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on (X, y)."""
        X, y = _check_xy(X, y)
        return float(np.mean(self.predict(X) == y))
