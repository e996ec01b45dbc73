"""infomax.estimate.training: early stopping, the step limit, and a diverging bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infomax.data.synthetic import mi_to_rho, sample_correlated_gaussian_np
from infomax.estimate import estimate_mi

FAST = {"max_steps": 60, "eval_every": 20, "hidden": (64,), "progress": False}


def _gauss(n: int, d: int, mi: float, seed: int = 0, transform: str = "identity") -> tuple[np.ndarray, ...]:
    return sample_correlated_gaussian_np(n, d, mi_to_rho(mi, d), seed=seed, transform=transform)


# ---------------------------------------------------------------------- early stopping and divergence


def test_step_limit_warns_and_early_stop_does_not() -> None:
    x, y = _gauss(400, 2, 1.0)
    e = estimate_mi(x, y, **FAST)  # 60 steps, patience 8 checks of 20 steps: cannot stop early
    assert not e.converged and e.steps == 60
    assert any("did not converge within 60 steps" in w and "may be low" in w for w in e.warnings)
    rng = np.random.default_rng(5)  # independent: the validation objective stops improving at once
    xi, yi = rng.standard_normal((400, 2)), rng.standard_normal((400, 2))
    f = estimate_mi(xi, yi, max_steps=2000, eval_every=10, patience=1, hidden=(64,), progress=False)
    assert f.converged and f.steps < 2000
    assert not any("did not converge" in w for w in f.warnings)


def test_divergence_is_reported_and_best_critic_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make the training value blow up at step 45: training must stop there, warn, and report the
    # critic saved at the last good validation check (step 40), not the diverged one.
    import infomax.estimate.training as E

    real = E._objective
    calls = {"n": 0}

    def exploding(bound: str, tau: float | None):
        f = real(bound, tau)

        def g(s, lb):
            t, r = f(s, lb)
            if s.shape[0] == 64:  # training batches only (held-out batches have other sizes here)
                calls["n"] += 1
                if calls["n"] >= 45:
                    t = t * math.inf
            return t, r

        return g

    x, y = _gauss(600, 2, 1.0)
    kw = {"bound": "dv", "batch_size": 64, "eval_every": 20, "progress": False}
    clean = estimate_mi(x, y, max_steps=40, **kw)  # the same first 40 steps, never exploding
    monkeypatch.setattr(E, "_objective", exploding)
    e = estimate_mi(x, y, max_steps=200, **kw)
    assert e.steps == 45 and e.best_step == clean.best_step == 40  # validation 0.61 at step 20, 0.79 at 40
    assert any("diverged at step 45" in w and "smile" in w for w in e.warnings)
    # the reported estimate is that of the step-40 critic, exactly as a run that stopped there reports it
    assert (e.mi_nats, e.stderr_nats) == (clean.mi_nats, clean.stderr_nats)
