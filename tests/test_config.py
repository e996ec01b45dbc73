"""TrainConfig: the optimiser and evaluation settings (Adam betas, online and final probes), validation."""

from __future__ import annotations

import pytest

from infomax.config import TrainConfig, apply_overrides
from infomax.errors import UserError


def _apply(overrides: dict) -> TrainConfig:
    import dataclasses

    @dataclasses.dataclass
    class Empty:
        pass

    cfg = TrainConfig()
    apply_overrides(cfg, Empty(), overrides)
    cfg.validate()
    return cfg


def test_defaults_are_torch_adam_and_a_capped_final_probe():
    cfg = TrainConfig()
    assert (cfg.adam_beta1, cfg.adam_beta2) == (0.9, 0.999)  # torch.optim.Adam's defaults
    assert cfg.probe_every == 0 and cfg.final_probe_samples == 10000 and len(cfg.final_probe_cs) == 2


def test_cli_strings_are_coerced():
    cfg = _apply({"adam_beta1": "0.8", "final_probe_cs": "0.1,1", "final_probe_samples": "none",
                  "probe_every": "2"})
    assert cfg.adam_beta1 == 0.8 and cfg.final_probe_cs == (0.1, 1.0)
    assert cfg.final_probe_samples is None and cfg.probe_every == 2


@pytest.mark.parametrize("overrides, match", [
    ({"adam_beta1": "1.0"}, "adam_beta1 must be in [0, 1)"),
    ({"adam_beta2": "-0.1"}, "adam_beta2 must be in [0, 1)"),
    ({"probe_every": "-1"}, "probe_every must be >= 0"),
    ({"probe_samples": "5"}, "probe_samples must be >= 10"),
    ({"final_probe_samples": "0"}, "final_probe_samples must be >= 10"),
    ({"final_probe_cs": "0.1,0"}, "final_probe_cs must be one or more positive"),
    ({"final_probe_cs": ""}, "final_probe_cs must be one or more positive"),
    ({"limit_train_batches": "0"}, "limit_train_batches must be >= 1"),
    ({"limit_train_batches": "-3"}, "limit_train_batches must be >= 1"),
    ({"weight_decay": "-0.1"}, "weight_decay must be a finite number >= 0"),
    ({"val_fraction": "1"}, "val_fraction must be in [0, 1)"),
    ({"val_fraction": "-0.1"}, "val_fraction must be in [0, 1)"),
    ({"max_minutes": "0"}, "max_minutes must be a finite number > 0"),
    ({"max_minutes": "-5"}, "max_minutes must be a finite number > 0"),
    ({"threads": "0"}, "threads must be >= 1"),
    ({"lr_schedule": "linear"}, "lr_schedule must be one of constant, cosine; got 'linear'"),
], ids=["beta1", "beta2", "probe-every", "probe-samples", "final-samples", "cs-zero", "cs-empty",
        "limit-batches-0", "limit-batches-negative", "weight-decay", "val-fraction-1",
        "val-fraction-negative", "max-minutes-0", "max-minutes-negative", "threads-0", "lr-schedule"])
def test_out_of_range_values_are_user_errors(overrides, match):
    with pytest.raises(UserError, match=match.replace("[", r"\[").replace(")", r"\)")):
        _apply(overrides)


def test_limits_accept_their_smallest_valid_values_and_none():
    cfg = _apply({"limit_train_batches": "1", "weight_decay": "0", "val_fraction": "0", "max_minutes": "0.01",
                  "threads": "1", "baselines": "false"})
    assert (cfg.limit_train_batches, cfg.weight_decay, cfg.val_fraction, cfg.max_minutes, cfg.threads,
            cfg.baselines) == (1, 0.0, 0.0, 0.01, 1, False)
    cfg = _apply({"limit_train_batches": "none", "max_minutes": "none", "threads": "none"})
    assert (cfg.limit_train_batches, cfg.max_minutes, cfg.threads) == (None, None, None)


def test_python_none_is_accepted_where_the_field_allows_none():
    """Python API overrides (benchmarks, resolve_preset) pass None itself, not the string "none"."""
    cfg = _apply({"max_minutes": None, "limit_train_batches": None})
    assert (cfg.max_minutes, cfg.limit_train_batches) == (None, None)
    with pytest.raises(UserError, match="bad value None for 'lr'"):
        _apply({"lr": None})


def test_non_finite_values_from_the_python_api_are_rejected():
    for key in ("weight_decay", "max_minutes", "val_fraction", "lr"):
        cfg = TrainConfig()
        setattr(cfg, key, float("nan"))
        with pytest.raises(UserError, match=key):
            cfg.validate()


def test_amdim_presets_use_the_papers_betas():
    """Bachman et al. 2019: Adam betas (0.8, 0.999); every amdim preset carries them."""
    from infomax.methods import amdim

    for name, preset in amdim.PRESETS.items():
        cfg = TrainConfig()
        method_cfg = amdim.Config()
        apply_overrides(cfg, method_cfg, preset.overrides)
        assert (cfg.adam_beta1, cfg.adam_beta2) == (0.8, 0.999), name


@pytest.mark.parametrize("key, value, match", [
    ("batch_size", 1, "batch_size must be >= 2"),
    ("seed", -1, "seed must be a non-negative integer"),
    ("precision", "foo", "precision must be one of"),
    ("accelerator", "tpu", "accelerator must be cpu, gpu, cuda or auto"),
], ids=["batch-1", "seed-negative", "precision", "accelerator"])
def test_validate_rejects_values_lightning_or_batchnorm_would_crash_on(key, value, match):
    from infomax.config import TrainConfig
    from infomax.errors import UserError

    cfg = TrainConfig()
    setattr(cfg, key, value)
    with pytest.raises(UserError, match=match):
        cfg.validate()
