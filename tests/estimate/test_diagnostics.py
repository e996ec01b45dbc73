"""infomax.estimate.diagnostics: saturation, reliability, the one-word verdict and the warnings that
keep a result from misleading."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infomax.data.synthetic import mi_to_rho, sample_correlated_gaussian_np
from infomax.estimate import estimate_mi


def _gauss(n: int, d: int, mi: float, seed: int = 0, transform: str = "identity") -> tuple[np.ndarray, ...]:
    return sample_correlated_gaussian_np(n, d, mi_to_rho(mi, d), seed=seed, transform=transform)


def test_mi_beyond_what_n_samples_show_warns_without_claiming_overestimation() -> None:
    # True MI 12 nats from 600 samples: any batch-based estimate is capped near log(n) = 6.4 (held-out
    # batches of 60: log 60 = 4.1). The warning must say the MI may be far higher, never "overestimate".
    x, y = _gauss(600, 4, 12.0)
    e = estimate_mi(x, y, max_steps=200, eval_every=50, hidden=(64,), progress=False)
    assert e.eval_batch_size == 60 and e.mi_nats > math.log(60) - 1
    high = [w for w in e.warnings if "may be far above" in w]
    assert len(high) == 1 and "log(n = 600) = 6.40" in high[0] and "McAllester" in high[0]
    assert not any("overestimat" in w for w in e.warnings)


def test_infonce_pinned_at_log_n_is_flagged() -> None:
    # true MI 6 nats >> log(16): InfoNCE cannot see it; the result must say so rather than report 2.7 nats
    x, y = _gauss(2000, 4, 6.0)
    e = estimate_mi(x, y, bound="infonce", batch_size=16, eval_batch_size=16, max_steps=300, progress=False)
    assert e.saturated and e.ceiling_nats == pytest.approx(math.log(16))
    assert e.mi_nats <= math.log(16) + 1e-6
    assert any("ceiling" in w and "probably higher" in w for w in e.warnings)
    assert str(e).startswith("I(X;Y) >= ")


def test_infonce_below_ceiling_is_not_flagged() -> None:
    x, y = _gauss(4000, 2, 0.5, seed=4)
    e = estimate_mi(x, y, bound="infonce", max_steps=300, hidden=(64, 64), progress=False)
    assert not e.saturated and e.mi_nats == pytest.approx(0.5, abs=0.1)


# ------------------------------------------------------------- issue #24: results that must not mislead

SMALL = {"hidden": (32,), "max_steps": 100, "eval_every": 25, "progress": False}


def _noisy_copy(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Y = X + 0.1 noise: per column MI 0.5 log(1 + 100) = 2.31 nats, d * 2.31 in all."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, x + 0.1 * rng.standard_normal((n, d))


@pytest.mark.parametrize("bound", ["smile", "nwj"])
def test_strong_dependence_with_few_samples_in_high_dimension_is_never_no_dependence(bound: str) -> None:
    # 300 samples of a 300-d noisy copy (true MI ~ 690 nats): the critic memorizes the 210 training pairs
    # and reads a nat or two held out. That must be reported as sample-limited, not as "no dependence".
    x, y = _noisy_copy(300, 300)
    e = estimate_mi(x, y, bound=bound, **SMALL)
    assert e.mi_nats < 3.0  # the fault's premise: the estimate is far below the truth
    assert not e.reliable and e.dependence == "detected" and not e.deterministic
    assert not any("no dependence" in w for w in e.warnings)
    small = [w for w in e.warnings if "too small for the dimension" in w]
    assert len(small) == 1 and "210 training pairs for 600 input dimensions" in small[0]
    assert "reduce the dimension" in small[0] and "more samples" in small[0] and "--hidden" in small[0]
    # more steps cannot help a critic that already memorizes its training pairs
    assert not any("allow more steps" in w for w in e.warnings)
    # one column pair alone shows the dependence: rank correlation 0.995 -> about 2.3 nats
    pc = e.pair_check
    assert pc["x_column"] == pc["y_column"] and pc["rank_correlation"] > 0.99
    assert pc["gaussian_mi_nats"] == pytest.approx(2.3, abs=0.4) and pc["significant"]
    assert any("a single pair of columns" in w and "far above the estimate" in w for w in e.warnings)
    assert str(e).startswith("I(X;Y): no reliable estimate")


def test_x_against_itself_is_flagged_as_infinite() -> None:
    x, _ = _noisy_copy(300, 300)
    e = estimate_mi(x, x, **SMALL)
    assert e.deterministic and e.dependence == "deterministic"
    (w,) = [w for w in e.warnings if "deterministic" in w]
    assert "y column 0 is an exact monotone function of x column 0 (300 of the 300 y columns are" in w
    assert "infinite" in w and "lower bound" in w and f"log n = {math.log(300):.2f}" in w
    assert not any("no dependence" in v for v in e.warnings)
    assert str(e).startswith("I(X;Y) = inf")


def test_no_dependence_is_said_only_by_a_critic_that_generalizes() -> None:
    from infomax.estimate.diagnostics import _verdict

    ok = {"deterministic": False, "pair_significant": False}
    assert _verdict(mi=-0.02, se=0.03, reliable=True, **ok) == "none detected"
    assert _verdict(mi=0.5, se=0.05, reliable=True, **ok) == "detected"
    assert _verdict(mi=-15.0, se=0.5, reliable=False, **ok) == "inconclusive"
    assert _verdict(mi=0.1, se=0.03, reliable=False, **ok) == "inconclusive"
    assert _verdict(mi=float("nan"), se=float("nan"), reliable=True, **ok) == "inconclusive"
    assert _verdict(-3.0, 0.2, reliable=False, deterministic=False, pair_significant=True) == "detected"
    assert _verdict(0.1, 0.03, reliable=False, deterministic=True, pair_significant=True) == "deterministic"
