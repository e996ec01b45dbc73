"""The data stage of ``estimate_mi``: input checks, preprocessing and the train/validation/test split.

- :func:`prepare` reads X and Y as float64 (n, d) arrays (a 1-D input is one feature), rejects what no
  estimate can use (mismatched rows, fewer than ``MIN_SAMPLES``, NaN/inf, non-numbers) with a one-line
  UserError, notes what weakens the estimate (few samples, constant columns), and maps every column to a
  standard normal through its ranks (the Gaussian copula transform, kept for the pair check whatever the
  ``preprocess`` option) before applying that option.
- :func:`split_rows` shuffles the rows with the estimate's generator and cuts them into training,
  validation and test splits, as float32 tensors on the critic's device.

Example:
    >>> import numpy as np, torch
    >>> x = np.arange(100.0) ** 3; y = np.random.default_rng(0).standard_normal((100, 2))
    >>> d = prepare(x, y, "rank")
    >>> d.x.shape, d.y.shape, d.warnings[0][:16]
    ((100, 1), (100, 2), 'only 100 samples')
    >>> s = split_rows(d.x, d.y, 0.2, 0.1, torch.Generator().manual_seed(0), torch.device("cpu"))
    >>> s.n_train, s.n_val, s.n_test, tuple(s.x[s.test].shape)
    (70, 10, 20, (20, 1))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from infomax.errors import UserError
from infomax.estimate.params import MIN_SAMPLES

_FEW_SAMPLES = 1000  # below this the result carries a warning


@dataclass(frozen=True)
class Prepared:
    """Checked inputs of ``estimate_mi``; every array is (n, dx) for X or (n, dy) for Y, float64.

    Attributes:
        raw_x, raw_y: the inputs as given (after the checks), for the exact-relation check.
        rank_x, rank_y: every column mapped to a standard normal through its ranks, for the pair check.
        x, y: what the critic sees: the inputs under the ``preprocess`` option.
        warnings: what weakens any estimate from this data (few samples, constant columns).
    """

    raw_x: np.ndarray
    raw_y: np.ndarray
    rank_x: np.ndarray
    rank_y: np.ndarray
    x: np.ndarray
    y: np.ndarray
    warnings: list[str]

    @property
    def n(self) -> int:
        return int(self.raw_x.shape[0])

    @property
    def dims(self) -> int:
        """dx + dy, the input dimensions the critic reads."""
        return int(self.raw_x.shape[1] + self.raw_y.shape[1])


def prepare(x: Any, y: Any, preprocess: str) -> Prepared:
    """Check X and Y (arrays, tensors or nested lists, (n, d) or (n,)) and preprocess them; see the module."""
    xa, ya = _as_2d_float(x, "x"), _as_2d_float(y, "y")
    n = xa.shape[0]
    if ya.shape[0] != n:
        raise UserError(f"x and y must have the same number of samples (rows), got {n} and {ya.shape[0]}")
    if n < MIN_SAMPLES:
        raise UserError(f"need at least {MIN_SAMPLES} paired samples to estimate MI, got {n}")
    warnings: list[str] = []
    if n < _FEW_SAMPLES:
        warnings.append(
            f"only {n} samples: the estimate is noisy and likely biased low; use thousands if possible"
        )
    for name, a in (("x", xa), ("y", ya)):
        const = int((a.std(axis=0) == 0).sum())
        if const:
            warnings.append(f"{name} has {const} constant column(s); they carry no information")
    gx, gy = rank_gauss(xa), rank_gauss(ya)  # (n, dx), (n, dy)
    px, py = (gx, gy) if preprocess == "rank" else (_preprocess(xa, preprocess), _preprocess(ya, preprocess))
    return Prepared(xa, ya, gx, gy, px, py, warnings)


@dataclass(frozen=True)
class Split:
    """The shuffled rows as float32 tensors: rows [0, n_train) train, then validation, then test.

    Attributes:
        x: (n, dx) and y: (n, dy), row-paired, on the critic's device.
        n_train, n_val, n_test: the split sizes.
        order: (n,) the input row at each position (training rows are ``order[:n_train]``).
    """

    x: Tensor
    y: Tensor
    n_train: int
    n_val: int
    n_test: int
    order: np.ndarray

    @property
    def val(self) -> slice:
        return slice(self.n_train, self.n_train + self.n_val)

    @property
    def test(self) -> slice:
        return slice(self.n_train + self.n_val, self.n_train + self.n_val + self.n_test)


def split_rows(
    x: np.ndarray,
    y: np.ndarray,
    test_fraction: float,
    val_fraction: float,
    gen: torch.Generator,
    dev: torch.device,
) -> Split:
    """Shuffle the n rows of x (n, dx) and y (n, dy) with ``gen`` (one ``randperm``) and split them.

    The test and validation splits get round(fraction * n) rows (at least 2), training the rest.

    Raises:
        UserError: fewer than 4 test rows (no standard error) or fewer than 2 training rows.
    """
    n = x.shape[0]
    perm = torch.randperm(n, generator=gen)
    n_test = max(2, int(round(test_fraction * n)))
    n_val = max(2, int(round(val_fraction * n)))
    n_train = n - n_test - n_val
    if n_test < 4:
        raise UserError(
            f"the test split has only {n_test} rows (test_fraction={test_fraction}); at least 4 are needed "
            "for an estimate with a standard error: raise test_fraction or give more samples"
        )
    if n_train < 2:
        raise UserError(
            f"no samples left for training with test_fraction={test_fraction}, val_fraction={val_fraction}"
        )
    return resplit(Split(torch.empty(0), torch.empty(0), n_train, n_val, n_test, perm.numpy()), x, y, dev)


def resplit(split: Split, x: np.ndarray, y: np.ndarray, dev: torch.device) -> Split:
    """Other columns x (n, dx'), y (n, dy') of the same n rows, cut into ``split``'s rows."""
    order = torch.as_tensor(split.order)
    xt = torch.as_tensor(x, dtype=torch.float32)[order].to(dev)  # (n, dx')
    yt = torch.as_tensor(y, dtype=torch.float32)[order].to(dev)  # (n, dy')
    return Split(xt, yt, split.n_train, split.n_val, split.n_test, split.order)


# ------------------------------------------------------------------------------------------- helpers


def _as_2d_float(a: Any, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a)
    except Exception as e:  # ragged lists etc.
        raise UserError(f"{name} cannot be read as a numeric array ({e})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise UserError(f"{name} must be real-valued, got complex numbers")
    if arr.ndim == 1:
        arr = arr[:, None]  # one feature
    elif arr.ndim != 2:
        raise UserError(f"{name} must be 1-D (one feature) or 2-D (samples, features), got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.shape[1] == 0:
        raise UserError(f"{name} has no features (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise UserError(f"{name} contains NaN or inf values in {bad} row(s); drop or impute them first")
    return arr


def rank_gauss(a: np.ndarray) -> np.ndarray:
    """Columnwise Gaussian copula transform of a (n, d): average ranks r in 1..n -> Phi^-1(r / (n + 1))."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    r = rankdata(a, method="average", axis=0)  # (n, d)
    z = ndtri(r / (a.shape[0] + 1.0))  # (n, d)
    return zscore(z)


def radial_feature(a: np.ndarray) -> np.ndarray:
    """The radial feature of a (n, d): the Euclidean norm of the robustly standardized rows, (n, 1),
    mapped to a standard normal through its ranks.

    Each column is centred on its median and scaled by its median absolute deviation (by its standard
    deviation where the MAD is 0; a constant column stays 0), so no column's units dominate the norm.
    The feature is a fixed function of the row, so by the data-processing inequality
    I(radial(X); radial(Y)) <= I(X; Y): KSG on the two features is a consistent estimate of a lower bound
    on the MI, and equals it when the dependence is a shared scale (for a Student-t pair with identity
    dispersion, X = S Z and Y = S W with a shared scale S and independent Gaussians Z, W, the directions
    X / |X| and Y / |Y| are independent of everything else, so I(X; Y) = I(|X|; |Y|)).
    """
    c = a - np.median(a, axis=0)  # (n, d)
    scale = np.median(np.abs(c), axis=0)  # (d,)
    sd = c.std(axis=0)
    scale = np.where(scale > 0, scale, np.where(sd > 0, sd, 1.0))
    r = np.sqrt(((c / scale) ** 2).sum(axis=1, keepdims=True))  # (n, 1)
    return rank_gauss(r)


def with_radial(a: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """a (n, d) with the radial feature of ``raw`` (n, d) appended as a last column when d >= 2."""
    return np.concatenate([a, radial_feature(raw)], axis=1) if raw.shape[1] >= 2 else a


def zscore(a: np.ndarray) -> np.ndarray:
    """Columns of a (n, d) to zero mean and unit variance (a constant column is only centred)."""
    sd = a.std(axis=0)
    sd[sd == 0] = 1.0
    return (a - a.mean(axis=0)) / sd


def _preprocess(a: np.ndarray, how: str) -> np.ndarray:
    if how == "rank":
        return rank_gauss(a)
    if how == "standardize":
        return zscore(a)
    return a
