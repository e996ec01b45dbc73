"""infomax.estimate.params: EstimateParams declares every option of estimate_mi once, with its check."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

from infomax.errors import UserError
from infomax.estimate import EstimateParams, estimate_mi


def test_estimate_mi_signature_is_exactly_the_params_fields() -> None:
    # every option of estimate_mi is a field of EstimateParams, in the same order, with the same default:
    # an option added to one and not the other fails here
    params = list(inspect.signature(estimate_mi).parameters.values())
    assert [q.name for q in params[:2]] == ["x", "y"]
    fields = dataclasses.fields(EstimateParams)
    assert [q.name for q in params[2:]] == [f.name for f in fields]
    assert [q.default for q in params[2:]] == [f.default for f in fields]
    assert [q.kind for q in params[2:4]] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2  # bound, critic
    assert {q.kind for q in params[4:]} == {inspect.Parameter.KEYWORD_ONLY}


def test_defaults_and_frozen() -> None:
    p = EstimateParams()
    assert (p.bound, p.critic, p.tau, p.preprocess, p.batch_size, p.max_steps) == (
        "smile",
        "separable",
        5.0,
        "rank",
        256,
        4000,
    )
    assert (p.eval_batch_size, p.n_eval_batches, p.hidden, p.device) == (None, 32, None, "cpu")
    assert (p.ema, p.radial, p.activation, p.score_map) == (0.99, True, "gelu", 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_steps = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"bound": "mine"}, "unknown bound 'mine'; choose one of: smile, nwj, dv, infonce, tuba, jsd"),
        ({"critic": "mlp"}, "unknown critic 'mlp'; choose one of: separable, concat, bilinear"),
        ({"activation": "swish"}, "unknown activation 'swish'; choose one of: gelu, relu, elu, leaky_relu"),
        ({"tau": 0.0}, "tau must be > 0 or None, got 0.0"),
        ({"tau": float("inf")}, "tau must be > 0 or None"),
        ({"max_steps": 0}, "max_steps must be >= 1, got 0"),
        ({"lr": float("nan")}, "lr must be a positive number, got nan"),
        ({"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ({"val_fraction": 0.0}, "val_fraction must be in"),
        ({"eval_every": 0}, "eval_every must be >= 1"),
        ({"patience": 0}, "patience must be >= 1"),
        ({"eval_batch_size": 1}, "eval_batch_size must be >= 2, got 1"),
        ({"embed_dim": 0}, "embed_dim must be >= 1"),
        ({"hidden": (64, 0)}, r"hidden sizes must be >= 1, got \(64, 0\)"),
        ({"ema": 1.0}, r"ema must be in \[0, 1\), got 1.0"),
        ({"ema": -0.1}, r"ema must be in \[0, 1\), got -0.1"),
        ({"score_map": -1}, "score_map must be >= 0, got -1"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
        ({"dropout": float("nan")}, r"dropout must be in \[0, 1\), got nan"),
        # the first failing check is reported, in the order the options are declared
        ({"batch_size": 1, "max_steps": 0}, "batch_size must be >= 2"),
    ],
)
def test_bad_option_is_one_user_error(kw: dict, msg: str) -> None:
    with pytest.raises(UserError, match=msg):
        EstimateParams(**kw)


def test_device_is_checked_when_the_estimate_runs() -> None:
    p = EstimateParams(device="nope")  # valid as an option: whether a device exists depends on the machine
    with pytest.raises(UserError, match="unknown device 'nope'; use cpu or cuda"):
        p.torch_device()
    x = np.random.default_rng(0).standard_normal((100, 2))
    with pytest.raises(UserError, match="unknown device"):
        estimate_mi(x, x, device="nope", progress=False)
    # data errors come first, as before the options became a dataclass
    with pytest.raises(UserError, match="same number of samples"):
        estimate_mi(x, x[:50], device="nope", progress=False)


def test_activation_names_are_the_critics_activations() -> None:
    # params names the choices without importing torch; they must be the MLP builder's, no more, no less
    from infomax.critics._mlp import ACTIVATIONS
    from infomax.estimate import ACTIVATION_NAMES

    assert sorted(ACTIVATION_NAMES) == sorted(ACTIVATIONS)
