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
], ids=["beta1", "beta2", "probe-every", "probe-samples", "final-samples", "cs-zero", "cs-empty"])
def test_out_of_range_values_are_user_errors(overrides, match):
    with pytest.raises(UserError, match=match.replace("[", r"\[").replace(")", r"\)")):
        _apply(overrides)


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
