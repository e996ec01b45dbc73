"""infomax.estimate.training: early stopping, the step limit, and a diverging bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

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


# ------------------------------------------------------------------------------ the averaged critic


def test_ema_update_by_hand() -> None:
    import infomax.estimate.training as E

    avg, net = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        avg.weight.copy_(torch.tensor([[1.0, 2.0]])), avg.bias.fill_(0.0)
        net.weight.copy_(torch.tensor([[3.0, -2.0]])), net.bias.fill_(1.0)
    E._ema_update(avg, net, 0.75)  # 0.75 * avg + 0.25 * net
    assert avg.weight.tolist() == [[1.5, 1.0]] and avg.bias.tolist() == [0.25]
    assert net.weight.tolist() == [[3.0, -2.0]]  # the trained weights are untouched


def test_the_kept_critic_is_the_moving_average(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 steps with one check at step 40: the kept critic is the average after 40 updates, and the average
    # follows avg_t = d_t avg_(t-1) + (1 - d_t) w_t with d_t = min(ema, (1 + t) / (10 + t)); replaying the
    # same updates by hand gives the same weights. ema = 0 keeps the last iterate itself.
    import infomax.estimate.training as E

    seen: list[list[torch.Tensor]] = []
    real = E._ema_update

    def spy(avg: nn.Module, net: nn.Module, decay: float) -> None:
        seen.append([q.detach().clone() for q in net.parameters()] + [torch.tensor(decay)])
        real(avg, net, decay)

    monkeypatch.setattr(E, "_ema_update", spy)
    x, y = _gauss(400, 2, 1.0)
    kw = {"max_steps": 40, "eval_every": 40, "hidden": (16,), "progress": False}
    from infomax.estimate.data import prepare, split_rows
    from infomax.estimate.params import EstimateParams

    p = EstimateParams(**kw)
    d = prepare(x, y, "rank")
    gen = torch.Generator().manual_seed(0)
    t = E.train_critic(split_rows(d.x, d.y, 0.2, 0.1, gen, torch.device("cpu")), p, gen)
    assert len(seen) == 40 and [float(s[-1]) for s in seen[:2]] == pytest.approx([2 / 11, 3 / 12])
    assert float(seen[-1][-1]) == pytest.approx(0.99 if 41 / 50 > 0.99 else 41 / 50)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        init = E._build_critic("separable", 2, 2, (16,), 32, "gelu", p.score_map)
    avg = [q.detach().clone() for q in init.parameters()]
    for s in seen:
        avg = [s[-1] * a + (1 - s[-1]) * w for a, w in zip(avg, s[:-1])]
    for a, q in zip(avg, t.net.parameters()):
        torch.testing.assert_close(q.detach(), a)
    p0 = EstimateParams(**kw, ema=0.0)
    gen = torch.Generator().manual_seed(0)
    seen.clear()
    t0 = E.train_critic(split_rows(d.x, d.y, 0.2, 0.1, gen, torch.device("cpu")), p0, gen)
    assert not seen and not torch.equal(next(t0.net.parameters()), next(t.net.parameters()))


@pytest.mark.parametrize(("activation", "cls"), [(None, nn.GELU), ("relu", nn.ReLU), ("tanh", nn.Tanh)])
def test_the_critic_has_the_asked_activation(activation: str | None, cls: type[nn.Module]) -> None:
    # the option reaches the trained critic's hidden layers (None: the default, GELU), on both towers
    import infomax.estimate.training as E
    from infomax.estimate.data import prepare, split_rows
    from infomax.estimate.params import EstimateParams

    kw = {} if activation is None else {"activation": activation}
    x, y = _gauss(300, 2, 0.5)
    d = prepare(x, y, "rank")
    gen = torch.Generator().manual_seed(0)
    p = EstimateParams(max_steps=2, eval_every=1, hidden=(8, 8), progress=False, **kw)
    net = E.train_critic(split_rows(d.x, d.y, 0.2, 0.1, gen, torch.device("cpu")), p, gen).net
    acts = [type(m) for m in net.modules() if type(m) in (nn.GELU, nn.ReLU, nn.Tanh)]
    assert acts == [cls] * 4  # two hidden layers on each of g and h


@pytest.mark.parametrize(("score_map", "wrapped"), [(None, False), (0, False), (3, True)])
def test_the_scores_pass_through_the_asked_score_map(score_map: int | None, wrapped: bool) -> None:
    # default (None here) and 0: the separable critic alone; N: a map of width N around it
    import infomax.estimate.training as E
    from infomax.critics import ScoreMap, SeparableCritic
    from infomax.estimate.data import prepare, split_rows
    from infomax.estimate.params import EstimateParams

    kw = {} if score_map is None else {"score_map": score_map}
    d = prepare(*_gauss(300, 2, 0.5), "rank")
    gen = torch.Generator().manual_seed(0)
    p = EstimateParams(max_steps=2, eval_every=1, hidden=(8,), progress=False, **kw)
    net = E.train_critic(split_rows(d.x, d.y, 0.2, 0.1, gen, torch.device("cpu")), p, gen).net
    assert isinstance(net, ScoreMap) == wrapped
    inner = net.critic if wrapped else net
    assert isinstance(inner, SeparableCritic)
    if wrapped:
        assert net.phi[0].out_features == score_map
