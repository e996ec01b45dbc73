"""Linear probe: multinomial logistic regression on standardized features."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from infomax.errors import UserError

BACKENDS = ("torch", "sklearn")


def _check_xy(X: np.ndarray, y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X)
    if X.ndim != 2:
        raise UserError(f"expected features of shape (N, D), got shape {X.shape}")
    if X.dtype.kind not in "biuf" or not np.isfinite(X).all():
        raise UserError("features contain NaN or infinite values (or are not numbers)")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(X),):
            raise UserError(f"expected {len(X)} labels, got shape {y.shape}")
    return X, y


class Standardizer:
    """Per-feature standardization (x - mean) / std, with std 0 replaced by 1 (constant features)."""

    def fit(self, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(0)
        std = X.std(0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)


def start_params(init: object | None, classes: np.ndarray, k: int, d: int,
                 device: str | torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (K, D) and biases (K,) to optimise, with gradients: ``init``'s fitted ``coef_`` and
    ``intercept_`` (a warm start along a path of C values) when it was fit on the same classes and shape,
    else zeros."""
    w = torch.zeros(k, d, device=device, requires_grad=True)
    b = torch.zeros(k, device=device, requires_grad=True)
    if init is not None and np.shape(getattr(init, "coef_", None)) == (k, d) and np.array_equal(
        init.classes_, classes
    ):
        with torch.no_grad():
            w.copy_(torch.as_tensor(init.coef_))
            b.copy_(torch.as_tensor(init.intercept_))
    return w, b


class LinearProbe:
    """Multinomial logistic regression on standardized features (the linear evaluation protocol).

    Minimises ``C * sum_i CE(W x_i + b, y_i) + ||W||^2 / 2`` (scikit-learn's objective for
    ``LogisticRegression(C=C)``, intercept unpenalised) by full-batch L-BFGS.

    Backends: ``"torch"`` (default) runs L-BFGS with a strong-Wolfe line search in float32 in torch;
    ``"sklearn"`` calls ``sklearn.linear_model.LogisticRegression(solver="lbfgs")`` in float64. Both
    reach the same optimum (tested); the torch one is faster on large inputs (see BENCHMARKS.md / the
    evaluation report: about 3-4x on 10k x 4096 features on one CPU core).

    Args:
        C: inverse L2 regularisation strength (> 0).
        max_iter: L-BFGS iterations.
        tol: gradient tolerance (max-abs of the gradient of the per-sample-mean objective).
        backend: "torch" or "sklearn".
        device: torch device for the torch backend.

    Attributes:
        classes_ (K,), coef_ (K, D) and intercept_ (K,) in the standardized space, mean_ / scale_ (D,),
        n_iter_.

    Example:
        >>> probe = LinearProbe(C=1.0).fit(train_feats, train_labels)  # doctest: +SKIP
        >>> probe.score(test_feats, test_labels)  # doctest: +SKIP
        0.93
    """

    def __init__(
        self,
        C: float = 1.0,
        max_iter: int = 500,
        tol: float = 1e-4,
        backend: str = "torch",
        device: str = "cpu",
    ) -> None:
        if not C > 0:
            raise UserError("C must be > 0")
        if backend not in BACKENDS:
            raise UserError(f"unknown linear-probe backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.backend = backend
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray, init: LinearProbe | None = None) -> LinearProbe:
        """Fit on features X (N, D) and integer labels y (N,).

        ``init``: a fitted probe of the same classes and feature width whose weights start the
        optimisation (torch backend; e.g. the solution for a neighbouring C when trying several). The
        problem is strictly convex, so the optimum does not depend on the start, only the iterations do.
        """
        X, y = _check_xy(X, y)
        self.classes_, yi = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise UserError("a probe needs at least two classes in its training labels")
        scaler = Standardizer().fit(X)
        self.mean_, self.scale_ = scaler.mean_, scaler.scale_
        Z = scaler.transform(X)  # (N, D)
        if self.backend == "sklearn":
            self._fit_sklearn(Z, yi)
        else:
            self._fit_torch(Z, yi, init)
        return self

    def _fit_sklearn(self, Z: np.ndarray, yi: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression

        # sklearn fits binary problems with one weight vector w = w_1 - w_0 penalised by ||w||^2 / 2; the
        # softmax form penalises ||w_0||^2 + ||w_1||^2 = ||w||^2 / 2 at the optimum (w_0 = -w_1), so
        # doubling C there gives the same objective as the torch backend.
        c = 2 * self.C if len(self.classes_) == 2 else self.C
        clf = LogisticRegression(C=c, max_iter=self.max_iter, tol=self.tol)
        clf.fit(Z.astype(np.float64), yi)
        coef, intercept = clf.coef_, clf.intercept_
        if len(self.classes_) == 2:  # sklearn keeps one row for binary problems: expand to softmax form
            coef = np.concatenate([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        self.coef_, self.intercept_ = coef.astype(np.float32), intercept.astype(np.float32)
        self.n_iter_ = int(np.max(clf.n_iter_))

    def _fit_torch(self, Z: np.ndarray, yi: np.ndarray, init: LinearProbe | None = None) -> None:
        n, d = Z.shape
        k = len(self.classes_)
        x = torch.from_numpy(Z).to(self.device)  # (N, D)
        t = torch.from_numpy(yi).long().to(self.device)  # (N,)
        w, b = start_params(init, self.classes_, k, d, self.device)
        reg = 1.0 / (2.0 * self.C * n)  # the sklearn objective divided by C * N
        opt = torch.optim.LBFGS(
            [w, b],
            lr=1.0,
            max_iter=self.max_iter,
            tolerance_grad=self.tol,
            tolerance_change=1e-12,
            history_size=20,
            line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = F.cross_entropy(x @ w.T + b, t) + reg * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.n_iter_ = int(opt.state[opt._params[0]].get("n_iter", 0))
        self.coef_ = w.detach().cpu().numpy()
        self.intercept_ = b.detach().cpu().numpy()

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits (N, K)."""
        X, _ = _check_xy(X)
        Z = ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)
        return Z @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K), columns ordered as ``classes_``."""
        logits = torch.from_numpy(self.decision_function(X))
        return torch.softmax(logits, 1).numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (N,)."""
        return self.classes_[self.decision_function(X).argmax(1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        """Accuracy on (X, y)."""
        X, y = _check_xy(X, y)
        return float(np.mean(self.predict(X) == y))
