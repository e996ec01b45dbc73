"""estimate_mi: input checks, result bookkeeping, exact invariances, and accuracy on known-MI tasks."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import torch

from infomax.bounds import nwj
from infomax.data.synthetic import (
    mi_to_rho,
    sample_correlated_gaussian,
    sample_correlated_gaussian_np,
    sample_student_t,
    student_t_mi,
)
from infomax.errors import UserError
from infomax.estimate import ESTIMATOR_BOUNDS, HeldOut, MIEstimate, estimate_mi, heldout_estimate

FAST = {"max_steps": 60, "eval_every": 20, "hidden": (64,), "progress": False}


def _gauss(n: int, d: int, mi: float, seed: int = 0, transform: str = "identity") -> tuple[np.ndarray, ...]:
    return sample_correlated_gaussian_np(n, d, mi_to_rho(mi, d), seed=seed, transform=transform)


# ------------------------------------------------------------------------------------------- bad input


_X = np.random.default_rng(0).standard_normal((100, 2))


@pytest.mark.parametrize(
    ("x", "y", "kw", "msg"),
    [
        (_X, _X[:90], {}, "same number of samples"),
        (_X[:10], _X[:10], {}, "at least 20"),
        (np.where(np.arange(200).reshape(100, 2) == 7, np.nan, _X), _X, {}, "NaN or inf"),
        (_X, np.where(np.arange(200).reshape(100, 2) == 3, np.inf, _X), {}, "NaN or inf"),
        (_X.reshape(100, 2, 1), _X, {}, "1-D"),
        (_X, np.zeros((100, 0)), {}, "no features"),
        (np.array([["a", "b"]] * 100), _X, {}, "numbers"),
        (_X, _X, {"bound": "mine-ish"}, "unknown bound"),
        (_X, _X, {"critic": "transformer"}, "unknown critic"),
        (_X, _X, {"preprocess": "whiten"}, "unknown preprocess"),
        (_X, _X, {"tau": -1.0}, "tau"),
        (_X, _X, {"batch_size": 1}, "batch_size"),
        (_X, _X, {"test_fraction": 0.6, "val_fraction": 0.5}, "< 1"),
        (_X, _X, {"n_eval_batches": 1}, "n_eval_batches"),
        (_X, _X, {"test_fraction": 0.02}, "test split has only 2 rows"),
    ],
)
def test_bad_input_raises_user_error(x, y, kw, msg) -> None:
    with pytest.raises(UserError, match=msg):
        estimate_mi(x, y, progress=False, **kw)


# ------------------------------------------------------------------------------------------ bookkeeping


def test_result_fields_numpy_torch_and_1d_inputs() -> None:
    x, y = _gauss(300, 1, 0.5)
    a = estimate_mi(x[:, 0], y[:, 0], **FAST)  # 1-D numpy = one feature
    b = estimate_mi(torch.from_numpy(x).float(), torch.from_numpy(y).float(), **FAST)
    c = estimate_mi(x.tolist(), y.tolist(), **FAST)
    for e in (a, b, c):
        assert isinstance(e, MIEstimate)
        assert (e.n_train, e.n_val, e.n_test) == (210, 30, 60)
        assert e.mi_bits == pytest.approx(e.mi_nats / math.log(2))
        assert e.stderr_bits == pytest.approx(e.stderr_nats / math.log(2))
        assert e.bound == "smile" and e.critic == "separable" and e.preprocess == "rank"
        assert e.steps == 60 and [h["step"] for h in e.history] == [20, 40, 60]
        assert any("only 300 samples" in w for w in e.warnings)
        # 60 test rows in held-out batches of 30: 16 random partitions of K = 2 batches
        assert (e.eval_batch_size, e.n_eval_batches) == (30, 32)
        assert "sampling noise of the held-out estimate only" in e.note and "sqrt(60/(60-30))" in e.note
    # float32 rounding of the same data is invisible after the rank transform: identical results
    assert a.mi_nats == b.mi_nats == c.mi_nats
    d = json.loads(json.dumps(a.to_dict()))
    for key in ("mi_nats", "mi_bits", "stderr_nats", "bound", "critic", "n_train", "n_test", "warnings"):
        assert key in d
    assert d["note"] == a.note and d["converged"] is False
    assert "history" not in d and len(a.to_dict(history=True)["history"]) == 3
    assert "I(X;Y) = " in str(a) and "nats" in str(a) and "\nnote: stderr_nats is" in str(a)


def test_seed_reproducible_and_global_rng_untouched() -> None:
    x, y = _gauss(400, 2, 1.0)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    e1 = estimate_mi(x, y, seed=5, **FAST)
    assert torch.equal(torch.get_rng_state(), before)
    e2 = estimate_mi(x, y, seed=5, **FAST)
    assert e1.mi_nats == e2.mi_nats and e1.history == e2.history


@pytest.mark.parametrize("transform", ["cube", "exp", "asinh"])
def test_rank_preprocess_is_exactly_invariant_to_monotone_maps(transform: str) -> None:
    # MI is invariant under strictly increasing maps; with rank Gaussianization so is the ESTIMATE, exactly.
    x, y = _gauss(500, 3, 1.0, seed=1)
    _, yt = _gauss(500, 3, 1.0, seed=1, transform=transform)
    a, b = estimate_mi(x, y, **FAST), estimate_mi(x, yt, **FAST)
    assert a.mi_nats == b.mi_nats and a.stderr_nats == b.stderr_nats


def test_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = _gauss(200, 1, 0.5)
    estimate_mi(x, y, max_steps=20, eval_every=10, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "estimate_mi" in err


# ------------------------------------------------------------------------------- held-out standard error


def _gauss_log_ratio(rho: float) -> object:
    """The optimal critic of a standard Gaussian pair with per-dimension correlation rho:
    scores[i, j] = log p(x_i, y_j) / (p(x_i) p(y_j)), so NWJ on 1 + scores is unbiased for the MI."""

    def score(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # (b, d), (b, d) -> (b, b)
        c = 1.0 - rho**2
        a = (rho**2 * x**2).sum(1) / (2 * c)  # (b,)
        b = (rho**2 * y**2).sum(1) / (2 * c)  # (b,)
        return -0.5 * x.shape[1] * math.log(c) - a[:, None] - b[None, :] + rho * (x @ y.T) / c

    return score


def test_heldout_stderr_hand_check_on_a_row_mean() -> None:
    # A critic scoring only x (s_ij = a_i) makes NWJ on a batch a plain mean over its rows:
    # mean_i s_ii - mean_{i!=j} exp(s_ij - 1) = mean_i [a_i - exp(a_i - 1)] =: mean_i u_i. The documented
    # stderr, std(batch values) * sqrt(n / (n - b)) / sqrt(K), must then be the textbook standard error
    # of the mean of u over the n held-out rows, std(u) / sqrt(n); and with n = K * b every partition
    # uses every row, so the estimate is exactly mean(u).
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(400, 2, generator=g, dtype=torch.float64), torch.randn(400, 2, dtype=torch.float64)
    a = 0.7 * x[:, 0] + 0.3 * x[:, 1] ** 2  # (n,)
    u = a - torch.exp(a - 1.0)  # (n,)

    def batch_value(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        s = (0.7 * xb[:, 0] + 0.3 * xb[:, 1] ** 2)[:, None].expand(-1, yb.shape[0])  # (b, b), s_ij = a_i
        return nwj(s)

    h = heldout_estimate(batch_value, x, y, batch_size=50, n_batches=4000, generator=g)
    assert isinstance(h, HeldOut) and h.batches_per_partition == 8 and len(h.batch_values) == 4000
    assert h.value == pytest.approx(float(u.mean()), abs=1e-9)
    s = float(h.batch_values.std(ddof=1))
    assert h.stderr == pytest.approx(s * math.sqrt(400 / 350) / math.sqrt(8), rel=1e-12)  # as documented
    assert h.stderr == pytest.approx(float(u.std()) / math.sqrt(400), rel=0.05)  # = textbook SE of a mean


def test_heldout_stderr_is_stable_and_calibrated_with_the_optimal_critic() -> None:
    # Optimal Gaussian critic, true MI 1.0 nats (2-d), NWJ on 1 + log-ratio: no bias, only sampling noise.
    # Over 16 independent held-out sets of 1000 rows the estimates scatter by what stderr says (measured:
    # 0.030 vs a mean stderr of 0.039), and two partition seeds on the same rows give stderrs within a
    # factor of 2 (measured 0.69-1.41; the old 3 disjoint batches gave stderrs from 0.010 to 0.096).
    rho, d = mi_to_rho(1.0, 2), 2
    score = _gauss_log_ratio(rho)

    def batch_value(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return nwj(1.0 + score(xb, yb))

    ests, ses = [], []
    for k in range(16):
        x, y = (torch.from_numpy(a) for a in sample_correlated_gaussian_np(1000, d, rho, seed=100 + k))
        h1 = heldout_estimate(batch_value, x, y, 256, generator=torch.Generator().manual_seed(1))
        h2 = heldout_estimate(batch_value, x, y, 256, generator=torch.Generator().manual_seed(2))
        assert len(h1.batch_values) == 33 and h1.batches_per_partition == 3
        assert 0.5 < h1.stderr / h2.stderr < 2.0
        ests.append(h1.value)
        ses.append(h1.stderr)
    spread, se = float(np.std(ests, ddof=1)), float(np.mean(ses))
    assert 0.6 < spread / se < 1.6, (spread, se)
    assert abs(float(np.mean(ests)) - 1.0) < 3 * se / 4  # mean of 16 unbiased estimates


@pytest.mark.parametrize(
    ("n", "b", "kw", "msg"),
    [
        (100, 51, {}, "batch_size must be in"),
        (100, 1, {}, "batch_size"),
        (100, 10, {"n_batches": 1}, "n_batches"),
    ],
)
def test_heldout_bad_arguments(n: int, b: int, kw: dict, msg: str) -> None:
    x = torch.randn(n, 1)
    with pytest.raises(UserError, match=msg):
        heldout_estimate(lambda xb, yb: nwj(xb @ yb.T), x, x, b, **kw)


def test_estimate_reports_the_heldout_estimate_of_its_critic(monkeypatch: pytest.MonkeyPatch) -> None:
    import infomax.estimate.heldout as E

    seen: list[tuple[int, int, HeldOut]] = []

    def spy(batch_value, x, y, batch_size, n_batches, generator):  # noqa: ANN001
        h = heldout_estimate(batch_value, x, y, batch_size, n_batches, generator)
        seen.append((x.shape[0], batch_size, h))
        return h

    monkeypatch.setattr(E, "heldout_estimate", spy)
    x, y = _gauss(1000, 2, 1.0)
    e = estimate_mi(x, y, n_eval_batches=40, **FAST)
    (n_rows, b, h), = seen
    assert (n_rows, b) == (e.n_test, e.eval_batch_size) == (200, 100)
    assert (e.mi_nats, e.stderr_nats, e.n_eval_batches) == (h.value, h.stderr, 40)


# ------------------------------------------------------------------------------------- warnings


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


def test_mi_beyond_what_n_samples_show_warns_without_claiming_overestimation() -> None:
    # True MI 12 nats from 600 samples: any batch-based estimate is capped near log(n) = 6.4 (held-out
    # batches of 60: log 60 = 4.1). The warning must say the MI may be far higher, never "overestimate".
    x, y = _gauss(600, 4, 12.0)
    e = estimate_mi(x, y, max_steps=200, eval_every=50, hidden=(64,), progress=False)
    assert e.eval_batch_size == 60 and e.mi_nats > math.log(60) - 1
    high = [w for w in e.warnings if "may be far above" in w]
    assert len(high) == 1 and "log(n = 600) = 6.40" in high[0] and "McAllester" in high[0]
    assert not any("overestimat" in w for w in e.warnings)


# ------------------------------------------------------------------------------------- accuracy (fast)


def test_independent_variables_give_zero() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((3000, 2)), rng.standard_normal((3000, 2))
    e = estimate_mi(x, y, max_steps=200, hidden=(64, 64), progress=False)
    assert abs(e.mi_nats) < max(0.05, 3 * e.stderr_nats)
    assert e.reliable and e.dependence == "none detected" and not e.deterministic
    assert not e.pair_check["significant"]


@pytest.mark.parametrize("bound", ["smile", "nwj"])
def test_fast_issue_target_5d_gaussian(bound: str) -> None:
    # The issue target (5-dim Gaussian pair, true MI 1.0 nats, separable critic; the slow test below) in
    # small: 8k samples, 600 steps, a smaller critic. The truth is computed from rho, not taken from
    # mi_to_rho: I = -d/2 log(1 - rho^2). Measured over data seeds 0-4: SMILE 0.91-0.99, NWJ 0.94-1.01
    # (a critic this small reads a little low); 0.15 nats is the tolerance. The rank-invariance test above
    # makes a "cube" case here redundant (identical estimate, exactly).
    d, rho = 5, mi_to_rho(1.0, 5)
    true = -0.5 * d * math.log(1 - rho**2)
    assert true == pytest.approx(1.0, abs=1e-9)
    x, y = sample_correlated_gaussian_np(8000, d, rho, seed=0)
    e = estimate_mi(x, y, bound=bound, critic="separable", max_steps=600, hidden=(64, 64), progress=False)
    assert e.mi_nats == pytest.approx(true, abs=0.15)
    assert 0.02 < e.stderr_nats < 0.06  # 1600 held-out rows: measured 0.03-0.04
    assert not any("far above" in w for w in e.warnings)


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


def test_all_bounds_learn_and_stay_below_the_truth() -> None:
    # True MI 1.0 nats, 1000 samples, 100 steps of a small critic: every bound has learned more than half
    # of it (measured 0.62 NWJ .. 0.80 InfoNCE over two data seeds), and none exceeds the truth by more than
    # its sampling noise (NWJ, DV, InfoNCE, TUBA, JSD-as-NWJ are lower bounds; SMILE at tau 5 is close).
    x, y = _gauss(1000, 2, 1.0)
    for bound in ESTIMATOR_BOUNDS:
        e = estimate_mi(x, y, bound=bound, max_steps=100, eval_every=50, hidden=(32,), progress=False)
        assert e.bound == bound and e.eval_batch_size == 100
        assert 0.5 < e.mi_nats < 1.0 + 3 * e.stderr_nats, (bound, e.mi_nats, e.stderr_nats)
        assert 0.02 < e.stderr_nats < 0.1, (bound, e.stderr_nats)  # 200 test rows: measured 0.04-0.07


# ------------------------------------------------------------------------------------- the issue target


@pytest.mark.slow
@pytest.mark.parametrize("transform", ["identity", "cube"])
@pytest.mark.parametrize("bound", ["smile", "nwj"])
def test_issue_target_5d_gaussian_mi_1(bound: str, transform: str) -> None:
    # 5-dim Gaussian pair with true MI 1.0 nats (and its cube): within 0.1 nats, separable critic.
    x, y = sample_correlated_gaussian(
        20000, 5, mi_to_rho(1.0, 5), transform=transform, generator=torch.Generator().manual_seed(0)
    )
    cpu0 = time.process_time()
    e = estimate_mi(x, y, bound=bound, critic="separable", progress=False)
    assert e.mi_nats == pytest.approx(1.0, abs=0.1)
    # CPU time, not wall time: the 2-core test box is shared, so wall time measures the neighbours
    assert time.process_time() - cpu0 < 60


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="known gap: on this Student-t pair (dof 2, true 0.960 nats, 20k samples) every bound lands at "
    "0.85-0.89 with rank preprocessing (SMILE 0.848, InfoNCE 0.887, NWJ 0.884): the critic underfits the "
    "t-copula's tail dependence. Passes (and then fails this xfail) once the estimator closes the gap.",
)
def test_heavy_tailed_student_t() -> None:
    d, rho, dof = 3, 0.6, 2.0
    x, y = sample_student_t(20000, d, rho, dof, generator=torch.Generator().manual_seed(0))
    e = estimate_mi(x, y, progress=False)
    assert e.mi_nats == pytest.approx(student_t_mi(rho, d, dof), abs=0.1)


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
    # and reads a fraction of a nat held out. That must be reported as sample-limited, not as "no dependence".
    x, y = _noisy_copy(300, 300)
    e = estimate_mi(x, y, bound=bound, **SMALL)
    assert e.mi_nats < 1.0  # the fault's premise: the estimate is far below the truth
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


_NOISE = np.random.default_rng(1).standard_normal(400)


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda x: np.exp(-x[:, ::-1]), "y column 0 is an exact monotone function of x column 2 (3 of the 3"),
        (lambda x: np.c_[x[:, 1], _NOISE], "exact monotone function of x column 1 (1 of the 2"),
        (lambda x: x @ np.array([[1.0, 2, 0], [0, 1, 3], [1, 0, 1]]), "exact linear function of the x"),
    ],
)
def test_deterministic_relations_are_found_by_cheap_checks(make, what: str) -> None:
    # a decreasing elementwise map, one duplicated column beside noise, an invertible linear map
    from infomax.estimate.relations import _exact_relation

    x = np.random.default_rng(0).standard_normal((400, 3))
    found = _exact_relation(x, make(x))
    assert found is not None and what in found
    assert _exact_relation(x, np.random.default_rng(2).standard_normal((400, 3))) is None
    # discrete data (ties): X against itself has a finite MI, its entropy, and is not flagged
    k = np.random.default_rng(3).integers(0, 4, (400, 2)).astype(float)
    assert _exact_relation(k, k) is None


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


def test_pair_check_by_hand() -> None:
    from infomax.estimate.relations import _pair_check

    u = np.tile([1.0, -1.0], 50)  # (100,) orthogonal, zero-mean columns
    v = np.tile([1.0, 1.0, -1.0, -1.0], 25)
    noise = np.random.default_rng(0).standard_normal((100, 2))
    gx = np.c_[noise[:, 0], u]  # x column 1 is u
    gy = np.c_[u + v, noise[:, 1]]  # y column 0 is u + v: correlation with u exactly 1/sqrt(2)
    pc = _pair_check(gx, gy)
    assert (pc["x_column"], pc["y_column"]) == (1, 0)
    assert pc["rank_correlation"] == pytest.approx(1 / math.sqrt(2))
    assert pc["gaussian_mi_nats"] == pytest.approx(0.5 * math.log(2))  # -0.5 log(1 - 1/2)
    assert pc["significant"]  # 0.707 * sqrt(100) = 7.1 > sqrt(2 ln 4) + 3 = 4.67
    assert _pair_check(gx[:40], gy[:40]) is None  # fewer than 50 rows
