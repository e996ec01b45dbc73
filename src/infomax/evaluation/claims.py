"""The project's one rule for written claims: "beats", "level" or "behind", decided across training seeds.

Given per-seed values of two contenders (accuracies, losses sign-flipped, ...; higher is better), the
difference of their means is a claim only beyond two standard errors of that difference, the standard
error coming from the seed-to-seed spread: ``se = sqrt(var_a / n_a + var_b / n_b)`` (sample variances,
``ddof=1``). With fewer than 3 seeds on either side the comparison is not made ("not enough seeds"): one
seed's test-set error bar says nothing about what another seed would give.

Every "beats", "level"/"tie" or "behind" in README, BENCHMARKS and the result files is meant to be this
verdict; where a file has fewer than 3 seeds per contender it says "untested" instead.

Example:
    >>> c = compare([0.70, 0.72, 0.71], [0.60, 0.61, 0.62])
    >>> c.verdict, round(c.diff, 3), round(c.se, 4)
    ('beats', 0.1, 0.0082)
    >>> compare([1.0, 1.0, 4.0], [0.0, 0.0, 0.0]).verdict  # diff 2.0 is exactly 2 SE (se 1.0): not beyond
    'level'
    >>> compare([0.5, 0.6], [0.1, 0.2, 0.3]).verdict
    'not enough seeds'
    >>> str(compare([0.60, 0.61, 0.62], [0.70, 0.72, 0.71]))
    'behind: -0.1 +- 0.00816 (2 SE = 0.0163; 3 vs 3 seeds)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from infomax.errors import UserError

Verdict = Literal["beats", "level", "behind", "not enough seeds"]

MIN_SEEDS = 3
"""Fewest per-seed values on each side for a verdict other than "not enough seeds"."""

N_SE = 2.0
"""A difference is a claim only when its size exceeds this many standard errors."""


@dataclass(frozen=True)
class Comparison:
    """Outcome of :func:`compare`: ``verdict`` of ``a`` against ``b``, ``diff = mean(a) - mean(b)``, ``se``.

    ``se`` is NaN when either side has a single value (no spread to estimate it from).
    """

    verdict: Verdict
    diff: float
    se: float
    n_a: int
    n_b: int

    def __str__(self) -> str:
        """``verdict: diff +- se (2 SE = ...; n_a vs n_b seeds)``; without a spread, ``(no SE: ...)``.

        Example:
            >>> str(Comparison("not enough seeds", 0.26, math.nan, 1, 1))
            'not enough seeds: +0.26 (no SE: 1 vs 1 seeds)'
        """
        if math.isnan(self.se):
            return f"{self.verdict}: {self.diff:+.3g} (no SE: {self.n_a} vs {self.n_b} seeds)"
        return (f"{self.verdict}: {self.diff:+.3g} +- {self.se:.3g} (2 SE = {N_SE * self.se:.3g}; "
                f"{self.n_a} vs {self.n_b} seeds)")


def _values(x: Sequence[float], name: str) -> list[float]:
    try:
        values = [float(v) for v in x]
    except (TypeError, ValueError) as e:
        raise UserError(f"compare: {name} must be a sequence of numbers, one per seed ({e})") from None
    if not values:
        raise UserError(f"compare: {name} is empty (give one value per training seed)")
    if any(not math.isfinite(v) for v in values):
        raise UserError(f"compare: {name} holds a non-finite value ({values}); drop or rerun that seed")
    return values


def _mean_var(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.nan
    return mean, var


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Verdict of contender ``a`` against ``b`` from their per-seed values (higher is better).

    ``"beats"`` when ``mean(a) - mean(b) > 2 se``, ``"behind"`` when it is ``< -2 se``, ``"level"``
    otherwise (exactly 2 SE is not beyond), and ``"not enough seeds"`` when either side has fewer than 3
    values. ``se = sqrt(var_a / n_a + var_b / n_b)`` with sample variances (``ddof=1``).

    Raises:
        UserError: ``a`` or ``b`` is empty, not numbers, or holds NaN / infinity.

    Example:
        >>> compare([3.0, 4.0, 5.0], [1.0, 1.0, 1.0]).verdict  # diff 3.0, se sqrt(1/3) = 0.577
        'beats'
    """
    va, vb = _values(a, "a"), _values(b, "b")
    (ma, var_a), (mb, var_b) = _mean_var(va), _mean_var(vb)
    diff = ma - mb
    se = math.sqrt(var_a / len(va) + var_b / len(vb))  # NaN when a side has one value
    verdict: Verdict
    if len(va) < MIN_SEEDS or len(vb) < MIN_SEEDS:
        verdict = "not enough seeds"
    elif diff > N_SE * se:
        verdict = "beats"
    elif diff < -N_SE * se:
        verdict = "behind"
    else:
        verdict = "level"
    return Comparison(verdict, diff, se, len(va), len(vb))
