"""Known-MI tasks: correlated Gaussians, invertible elementwise transforms, Student-t pairs, the staircase.

Correlated Gaussians (Belghazi et al. 2018; Poole et al. 2019, "On Variational Bounds of Mutual
Information"; Song & Ermon 2020, "Understanding the Limitations of Variational Mutual Information
Estimators"): ``x, y`` are d-dimensional, every coordinate pair ``(x_k, y_k)`` is a standard bivariate
normal with correlation ``rho_k`` and the pairs are independent, so

    I(X; Y) = -1/2 * sum_k log(1 - rho_k^2)      (nats; = -d/2 log(1 - rho^2) for a common rho).

MI is invariant under invertible maps of each variable, so ``y -> y**3`` (the "cubic" task) or
``asinh``, ``exp``... keep it. The staircase raises the true MI every ``steps_per_level`` training steps
(2, 4, 6, 8, 10 nats for 4,000 steps each in Poole et al. Fig. 2 / Song & Ermon Fig. 1).

The Student-t pair has heavy tails and a known MI (Arellano-Valle et al. 2013; Czyz et al. 2023,
"Beyond Normal"): the Gaussian term above plus a non-negative term that depends only on the degrees of
freedom and the dimensions.

Example:
    >>> x, y = sample_correlated_gaussian(1000, d=5, rho=mi_to_rho(1.0, 5), transform="cube")
    >>> x.shape, y.shape, round(rho_to_mi(mi_to_rho(1.0, 5), 5), 6)
    (torch.Size([1000, 5]), torch.Size([1000, 5]), 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from infomax.errors import UserError

#: Invertible elementwise maps (strictly monotone on R), which keep mutual information.
TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda t: t,
    "cube": lambda t: t**3,
    "asinh": torch.asinh,
    "sinh": torch.sinh,
    "exp": torch.exp,  # log-normal marginals: long right tail
    "tanh": torch.tanh,  # squashes the tails into (-1, 1)
}

#: The staircase of Poole et al. / Song & Ermon: true MI (nats) of each level.
STAIRCASE_LEVELS: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 10.0)


def _rho_array(rho: float | Sequence[float] | np.ndarray, d: int | None) -> np.ndarray:
    r = np.atleast_1d(np.asarray(rho, dtype=np.float64))
    if r.ndim != 1:
        raise UserError(f"rho must be a number or a 1-D sequence, got shape {r.shape}")
    if d is not None:
        if d < 1:
            raise UserError(f"d must be >= 1, got {d}")
        if r.size == 1:
            r = np.full(d, r.item())
        elif r.size != d:
            raise UserError(f"rho has {r.size} entries but d={d}")
    if not np.all(np.isfinite(r)) or np.any(np.abs(r) >= 1.0):
        raise UserError("every correlation rho must satisfy -1 < rho < 1")
    return r


def rho_to_mi(rho: float | Sequence[float] | np.ndarray, d: int | None = None) -> float:
    """MI in nats of d independent standard-normal pairs with correlation ``rho`` each.

    Args:
        rho: one correlation shared by all coordinates, or one per coordinate (length d).
        d: number of coordinate pairs (optional when ``rho`` is a sequence).

    Returns:
        ``-1/2 * sum_k log(1 - rho_k^2)``.

    Example:
        >>> round(rho_to_mi(0.5, d=2), 4)
        0.2877
    """
    r = _rho_array(rho, d if d is not None or np.ndim(rho) > 0 else 1)
    return float(-0.5 * np.sum(np.log1p(-(r**2))))


def mi_to_rho(mi: float, d: int) -> float:
    """The common correlation giving ``mi`` nats over d coordinate pairs: ``sqrt(1 - exp(-2 mi / d))``.

    Example:
        >>> round(mi_to_rho(rho_to_mi(0.8, d=20), d=20), 6)
        0.8
    """
    if d < 1:
        raise UserError(f"d must be >= 1, got {d}")
    if not (math.isfinite(mi) and mi >= 0):
        raise UserError(f"mi must be a finite number >= 0, got {mi}")
    return math.sqrt(-math.expm1(-2.0 * mi / d))


def _transform(name: str) -> Callable[[Tensor], Tensor]:
    if name not in TRANSFORMS:
        raise UserError(f"unknown transform {name!r}; choose one of: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[name]


def sample_correlated_gaussian(
    n: int,
    d: int,
    rho: float | Sequence[float],
    *,
    transform: str = "identity",
    transform_x: str = "identity",
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Draw n pairs of d-dimensional correlated Gaussians (optionally transformed) with torch.

    ``x ~ N(0, I)``, ``y = rho * x + sqrt(1 - rho^2) * eps`` per coordinate, then
    ``y <- TRANSFORMS[transform](y)`` and ``x <- TRANSFORMS[transform_x](x)``. The true MI is
    ``rho_to_mi(rho, d)`` whatever the (invertible) transforms.

    Args:
        n: number of pairs.
        d: dimension of x and of y.
        rho: common correlation, or one per coordinate (length d; zeros give sparse dependence).
        transform: elementwise map applied to y ("identity", "cube", "asinh", "sinh", "exp", "tanh").
        transform_x: elementwise map applied to x.
        generator: torch RNG (the global one when None).
        dtype: floating dtype of the result (sampling is done in float64).

    Returns:
        ``(x, y)``, each of shape (n, d).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = sample_correlated_gaussian(4, 3, 0.9, generator=g)
        >>> tuple(y.shape)
        (4, 3)
    """
    if n < 1:
        raise UserError(f"n must be >= 1, got {n}")
    r = torch.as_tensor(_rho_array(rho, d), dtype=torch.float64)  # (d,)
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)  # (n, d)
    eps = torch.randn(n, d, generator=generator, dtype=torch.float64)  # (n, d)
    y = r * x + torch.sqrt(1.0 - r**2) * eps  # (n, d)
    return _transform(transform_x)(x).to(dtype), _transform(transform)(y).to(dtype)


def sample_correlated_gaussian_np(
    n: int,
    d: int,
    rho: float | Sequence[float],
    *,
    transform: str = "identity",
    transform_x: str = "identity",
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of :func:`sample_correlated_gaussian`: float64 arrays (n, d) from a numpy seed.

    Example:
        >>> x, y = sample_correlated_gaussian_np(10, 2, 0.5, transform="cube", seed=0)
        >>> x.dtype, y.shape
        (dtype('float64'), (10, 2))
    """
    if n < 1:
        raise UserError(f"n must be >= 1, got {n}")
    r = _rho_array(rho, d)  # (d,)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))  # (n, d)
    eps = rng.standard_normal((n, d))  # (n, d)
    y = r * x + np.sqrt(1.0 - r**2) * eps  # (n, d)
    tx, ty = _transform(transform_x), _transform(transform)
    return tx(torch.from_numpy(x)).numpy(), ty(torch.from_numpy(y)).numpy()


def student_t_mi(rho: float | Sequence[float], d: int, dof: float) -> float:
    """MI in nats of the multivariate Student-t pair drawn by :func:`sample_student_t`.

    For a (dx + dy)-dimensional Student-t with ``dof`` degrees of freedom and scale matrix S,
    ``I = I_gauss(S) + c`` with ``I_gauss`` the MI of a Gaussian with covariance S and

        c = log G(v/2) + log G((v+dx+dy)/2) - log G((v+dx)/2) - log G((v+dy)/2)
            + (v+dx)/2 psi((v+dx)/2) + (v+dy)/2 psi((v+dy)/2) - v/2 psi(v/2) - (v+dx+dy)/2 psi((v+dx+dy)/2)

    (G = Gamma, psi = digamma; Arellano-Valle, Contreras-Reyes & Genton 2013). ``c > 0``: even ``rho = 0``
    leaves the shared-scale dependence. Here dx = dy = d.

    Example:
        >>> round(student_t_mi(0.0, d=1, dof=1.0), 4)  # bivariate Cauchy with identity scale
        0.2242
    """
    if not (math.isfinite(dof) and dof > 0):
        raise UserError(f"dof must be a positive finite number, got {dof}")
    v, a, b = dof / 2.0, (dof + d) / 2.0, (dof + 2 * d) / 2.0
    lg, dg = math.lgamma, _digamma
    c = lg(v) + lg(b) - 2 * lg(a) + 2 * a * dg(a) - v * dg(v) - b * dg(b)
    return rho_to_mi(rho, d) + c


def _digamma(x: float) -> float:
    return float(torch.special.digamma(torch.tensor(x, dtype=torch.float64)))


def sample_student_t(
    n: int,
    d: int,
    rho: float | Sequence[float],
    dof: float,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Heavy-tailed pairs: the correlated Gaussians of :func:`sample_correlated_gaussian` divided by one
    shared ``sqrt(w / dof)``, ``w ~ chi2(dof)`` (a multivariate Student-t). True MI: :func:`student_t_mi`.

    Returns:
        ``(x, y)``, each of shape (n, d).

    Example:
        >>> x, y = sample_student_t(100, 2, 0.5, dof=3.0, generator=torch.Generator().manual_seed(0))
        >>> tuple(x.shape)
        (100, 2)
    """
    if not (math.isfinite(dof) and dof > 0):
        raise UserError(f"dof must be a positive finite number, got {dof}")
    x, y = sample_correlated_gaussian(n, d, rho, generator=generator, dtype=torch.float64)  # (n, d) each
    conc = torch.full((n,), dof / 2.0, dtype=torch.float64)
    w = torch._standard_gamma(conc, generator=generator) * 2.0  # (n,) chi2(dof)
    scale = torch.sqrt(dof / w)[:, None]  # (n, 1)
    return (x * scale).to(dtype), (y * scale).to(dtype)


def staircase_mi(step: int, levels: Sequence[float] = STAIRCASE_LEVELS, steps_per_level: int = 4000) -> float:
    """True MI (nats) of the staircase at training ``step`` (0-based); the last level holds afterwards.

    Example:
        >>> staircase_mi(0), staircase_mi(3999), staircase_mi(4000), staircase_mi(10**6)
        (2.0, 2.0, 4.0, 10.0)
    """
    if steps_per_level < 1:
        raise UserError(f"steps_per_level must be >= 1, got {steps_per_level}")
    if step < 0:
        raise UserError(f"step must be >= 0, got {step}")
    return float(levels[min(step // steps_per_level, len(levels) - 1)])


def staircase_rho(
    step: int, d: int = 20, levels: Sequence[float] = STAIRCASE_LEVELS, steps_per_level: int = 4000
) -> float:
    """Per-coordinate correlation of the staircase at ``step`` for dimension d (default 20).

    Example:
        >>> round(rho_to_mi(staircase_rho(4000), 20), 6)
        4.0
    """
    return mi_to_rho(staircase_mi(step, levels, steps_per_level), d)
