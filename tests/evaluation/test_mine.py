from __future__ import annotations

import math

import pytest
import torch

from infomax.evaluation.dv_critic import DVSchedule
from infomax.evaluation.mine import MineCritic, mine_fit, mine_mi, shuffle_pairs
from infomax.evaluation.protocols import PROTOCOLS


def gaussian_pairs(n: int, d: int, rho: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = rho * x + math.sqrt(1 - rho**2) * torch.randn(n, d, generator=g)
    return x, y, -0.5 * d * math.log(1 - rho**2)  # true I(X; Y) in nats


def test_shuffle_pairs_permutes_y_only():
    x, y = torch.arange(6.0).view(6, 1), torch.arange(6.0).view(6, 1) * 10
    xs, ys = shuffle_pairs((x, y))
    assert torch.equal(xs, x) and sorted(ys.flatten().tolist()) == sorted(y.flatten().tolist())


@pytest.mark.parametrize(("shape", "side"), [((1, 8, 8), 8), ((3, 32, 32), 32), ((1, 28, 28), 28)])
def test_image_critic_shapes(shape, side):
    critic = MineCritic(shape, y_dim=5, hidden=16)
    x = torch.randint(0, 256, (4, *shape), dtype=torch.uint8)
    assert critic(x, torch.randn(4, 5)).shape == (4,)


@pytest.mark.parametrize(
    ("d", "rho", "n", "steps", "tol"),
    [(2, 0.8, 4000, 600, 0.12), (4, 0.8, 8000, 1000, 0.2)],
    ids=["1.02-nats", "2.04-nats"],
)
def test_mine_recovers_gaussian_mi_fast(d, rho, n, steps, tol):
    # The slow test below in small (one seed, fewer samples and steps); the truth is -d/2 log(1 - rho^2).
    # Measured over data seeds 0-4: d=2 0.91-1.00 (true 1.02), d=4 1.89-1.95 (true 2.04).
    x, y, true = gaussian_pairs(n, d, rho)
    m = n * 3 // 4
    est = mine_mi(x[:m], y[:m], x[m:], y[m:], seed=0, hidden=64, schedule=DVSchedule(steps=steps))
    assert est == pytest.approx(true, abs=tol)


@pytest.mark.parametrize("seed", [0, 1])
def test_early_stopped_mine_within_0_1_nats_of_the_true_mi(seed):
    # 2-D Gaussian pairs, rho 0.8: I = -log(1 - 0.64) = 1.02 nats. A cap of 2000 steps, but training stops
    # 4 checks (100 steps) after the best held-out value, long before the cap
    x, y, true = gaussian_pairs(3000, 2, 0.8)
    schedule = DVSchedule(steps=2000, lr=3e-3, lr_final=3e-4, eval_every=25, patience=4)
    fit = mine_fit(x[:2000], y[:2000], x[2000:], y[2000:], seed=seed, hidden=32, schedule=schedule)
    t = fit.training
    assert t.steps_run == t.best_step + 4 * 25 and t.steps_run <= 600  # stopped early, not by the cap
    assert fit.estimate == pytest.approx(true, abs=0.1)


@pytest.mark.slow
def test_early_stopped_mine_with_the_default_schedule():
    # the defaults of the mine protocol (2000 steps at most, lr 1e-3 -> 1e-5, patience 8 checks of 50)
    x, y, true = gaussian_pairs(4000, 2, 0.8)
    fits = [mine_fit(x[:3000], y[:3000], x[3000:], y[3000:], seed=s, hidden=64) for s in (0, 1)]
    assert all(f.training.steps_run == f.training.best_step + 8 * 50 < 2000 for f in fits)
    assert sum(f.estimate for f in fits) / 2 == pytest.approx(true, abs=0.1)


def test_mine_shares_the_embedding_of_x_and_equals_two_forward_calls():
    torch.manual_seed(0)
    critic = MineCritic((1, 8, 8), 5, hidden=16)
    torch.nn.init.normal_(critic.mlp[-1].weight)  # a non-zero critic
    x, y = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8), torch.randn(6, 5)
    torch.manual_seed(1)
    t_p, t_q = critic.scores_pq((x, y), shuffle_pairs)
    torch.manual_seed(1)
    xq, yq = shuffle_pairs((x, y))  # the same permutation
    torch.testing.assert_close(t_p, critic(x, y), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(t_q, critic(xq, yq), rtol=1e-5, atol=1e-6)
    flip = critic.scores_pq((x, y), lambda p: (p[0].flip(0), p[1]))  # another x: the plain path
    torch.testing.assert_close(flip[1], critic(x.flip(0), y))


def test_mine_near_zero_for_independent_pairs():
    x, y, _ = gaussian_pairs(3000, 8, 0.0)
    schedule = DVSchedule(steps=400, lr=3e-3)
    est = mine_mi(x[:2000], y[:2000], x[2000:], y[2000:], seed=0, hidden=64, schedule=schedule)
    assert abs(est) < 0.02


@pytest.mark.slow
@pytest.mark.parametrize(("d", "rho"), [(1, 0.9), (4, 0.8)])
def test_mine_recovers_gaussian_mi(d, rho):
    x, y, true = gaussian_pairs(20000, d, rho)
    long = DVSchedule(steps=4000)
    est = [
        mine_mi(x[:15000], y[:15000], x[15000:], y[15000:], seed=s, hidden=128, schedule=long) for s in (0, 1)
    ]
    assert sum(est) / 2 == pytest.approx(true, rel=0.1)


def test_mine_protocol_informative_vs_constant(splits, pixel_encoder, tiny):
    kw = {"steps": 100, "batch_size": 64, "hidden": 32, "lr": 3e-3, "lr_final": 3e-4}
    informative = PROTOCOLS["mine"](pixel_encoder, splits, "y", seeds=(0, 1), **kw)
    constant = PROTOCOLS["mine"](tiny.ConstantEncoder(), splits, seeds=(0,), **kw)
    assert informative["mi"] > 0.5
    assert abs(constant["mi"]) < 0.05  # Y carries nothing: joint and shuffled pairs coincide
    a, b = informative["mi_per_seed"]  # mean and population std of the two seeds, by hand
    assert informative["mi"] == pytest.approx((a + b) / 2, abs=1e-12)
    assert informative["mi_std"] == pytest.approx(abs(a - b) / 2, abs=1e-12) and a != b
    assert len(informative["best_steps"]) == 2 and constant["best_steps"] == [0]  # nothing to learn
    assert (informative["n_train"], informative["n_test"]) == (200, 100)
