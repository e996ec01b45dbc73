"""Conformance: every preset trains as shipped; every command a user runs next works on it or says why not.

For each preset of ``infomax.presets.all_presets()`` (one parametrized case each), on the preset's own data
cut to a few hundred items per split (``--set max_items=N``), with the baselines on and a tiny budget:

- ``infomax train PRESET`` exits 0 and writes ``report.md`` with every plot it links;
- ``infomax eval RUN --protocol P`` for every protocol of ``PROTOCOLS``: exit 0 where the protocol fits the
  run, else exit 2 with one ``infomax: error:`` line and no traceback; "fits" is read off the run's encoder
  (the few-shot and retrieval protocols need DIMCO's code layer, or test classes unseen in training:
  Omniglot, or a ``holdout`` buffer), never from a table of method names;
- ``infomax index build`` (needs DIMCO codes) and ``infomax generate`` (needs an autoencoder with a latent
  ``z``): exit 0 where they fit, else exit 2 with one line.

The protocols run with their costly loops cut short (:data:`TINY`, by parameter name), since this checks
that the commands work, not the numbers. ``make test`` runs one preset per (method, encoder) pair
(:func:`fast_presets`); every other preset is ``slow`` (``make test-all``).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
from typing import Any

import numpy as np
import pytest
import torch

from infomax.cli import main
from infomax.config import TrainConfig, apply_overrides
from infomax.methods import method_module
from infomax.presets import all_presets

PRESETS = all_presets()
#: The training budget of every case: one epoch of two batches, a small final probe with one C.
TINY_TRAIN = ["--max-epochs", "1", "--set", "limit_train_batches=2", "--set", "final_probe_samples=60",
              "--set", "final_probe_cs=0.1", "--threads", "1"]
#: Items per split: a few hundred (see :func:`_max_items`).
MIN_ITEMS = 300
#: Protocol keyword arguments that bound a protocol's cost, applied where its signature has them.
TINY: dict[str, Any] = {"steps": 4, "epochs": 1, "seeds": (0,), "n_episodes": 4, "n_query": 1,
                        "fractions": (0.5,), "max_queries": 20, "patience": 1, "max_iter": 30}


def _resolved(name: str) -> tuple[TrainConfig, Any]:
    preset = PRESETS[name]
    train_cfg, cfg = TrainConfig(method=preset.method), method_module(preset.method).Config()
    apply_overrides(train_cfg, cfg, preset.overrides)
    return train_cfg, cfg


#: How costly a dataset is here (small images and few classes first), to pick the cheapest preset.
DATA_COST = {"digits": 0, "mnist": 1, "fashion-mnist": 1, "cifar10": 2, "omniglot": 3}


def fast_presets() -> list[str]:
    """One preset per (method, encoder option) pair, every method and every encoder it can use: the first
    on the cheapest data."""
    seen: dict[tuple[str, Any], str] = {}
    for name in sorted(PRESETS, key=lambda n: DATA_COST.get(_resolved(n)[0].data, 9)):  # stable
        if _resolved(name)[0].accelerator != "cpu":
            continue
        seen.setdefault((PRESETS[name].method, getattr(_resolved(name)[1], "encoder", None)), name)
    return list(seen.values())


def _marks(name: str) -> list[Any]:
    """Fast presets run in ``make test``, the others are slow; a preset made for an accelerator (e.g.
    ``amdim-large``, ``accelerator=auto``: minutes per step on a CPU) needs a CUDA device."""
    if _resolved(name)[0].accelerator != "cpu":
        return [pytest.mark.slow, pytest.mark.gpu,
                pytest.mark.skipif(not torch.cuda.is_available(), reason=f"{name} is sized for a GPU")]
    return [] if name in FAST else [pytest.mark.slow]


FAST = set(fast_presets())
CASES = [pytest.param(n, id=n, marks=_marks(n)) for n in PRESETS]


def _tiny(fn: Any) -> Any:
    params = inspect.signature(fn).parameters
    return functools.partial(fn, **{k: v for k, v in TINY.items() if k in params})


def _fails_with_one_line(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("infomax:")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("infomax: error:"), (argv, code, err[-3000:])
    assert "Traceback" not in err and err.rstrip().endswith(lines[0]), err[-3000:]
    return lines[0]


def _succeeds(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 0, (argv, code, err[-3000:])


def _max_items(train_cfg: TrainConfig) -> int:
    """``MIN_ITEMS``, or three items per test class (Omniglot: few-shot episodes need two of a class), or
    one batch of the preset's size, whichever is largest."""
    from infomax.data.datasets import load_split, official_splits

    test = load_split(train_cfg.data, official_splits(train_cfg.data)[1], train_cfg.data_root)
    return max(MIN_ITEMS, 3 * len(np.unique(test.labels)), train_cfg.batch_size * train_cfg.devices)


def _has_codes(encoder: Any) -> bool:
    """DIMCO's discrete codes: what the few-shot / retrieval protocols and ``infomax index`` read."""
    return "logprobs" in getattr(encoder, "layers", ())


def _is_autoencoder(method: Any) -> bool:
    """A decoder and a latent ``z``: what ``infomax generate`` trains its DDIM stage on."""
    return hasattr(method, "decoder") and "z" in getattr(method.encoder, "layers", ())


def _protocol_fits(protocol: str, run: Any) -> bool:
    """The few-shot and retrieval protocols need test classes unseen in training: a DIMCO run (its codes,
    on Omniglot or its held-out classes), any run on Omniglot or any run holding classes out (its
    ``holdout`` buffer): the continuous embedding alone."""
    needs_unseen = {"fewshot", "retrieval"}
    omniglot = (getattr(run, "config", None) or {}).get("train", {}).get("data") == "omniglot"
    held = getattr(run.method, "holdout", None)
    unseen = omniglot or (held is not None and held.numel() > 0)
    return _has_codes(run.method.encoder) or unseen or protocol not in needs_unseen


@pytest.mark.parametrize("name", CASES)
def test_preset_trains_and_every_command_works_or_says_why_not(name, tmp_path, capsys, monkeypatch):
    train_cfg, _ = _resolved(name)
    if train_cfg.data != "digits" and not os.environ.get("INFOMAX_DATA"):
        pytest.skip(f"{name} needs {train_cfg.data} (INFOMAX_DATA not set)")
    from infomax.evaluation import PROTOCOLS
    from infomax.run import load_run

    for protocol, fn in list(PROTOCOLS.items()):
        monkeypatch.setitem(PROTOCOLS, protocol, _tiny(fn))
    run_dir = tmp_path / "run"
    # a class-balanced preset on a few items per class: batches of 4 classes x 2 items fit
    balanced = (["--set", "batch_size=8", "--set", "batch_classes=4"] if train_cfg.sampler == "balanced"
                else [])
    _succeeds(["train", name, *TINY_TRAIN, "--set", f"max_items={_max_items(train_cfg)}", *balanced,
               "--out", str(run_dir)], capsys)
    report = (run_dir / "report.md").read_text()
    plots = re.findall(r"\]\((plots/[^)]+\.png)\)", report)
    assert "plots/probe.png" in plots and "plots/loss.png" in plots, report
    assert all((run_dir / p).is_file() for p in plots), plots
    run = load_run(run_dir)
    final = json.loads((run_dir / "metrics.json").read_text())["final"]["accuracy"]
    assert {"trained", "random", "supervised"} <= set(final[run.method.encoder.output_layer])

    layer = ["--layer", run.method.encoder.output_layer]
    failures = []
    for protocol in PROTOCOLS:
        argv = ["eval", str(run_dir), "--protocol", protocol, *layer, "--max-train", "60", "--threads", "1"]
        if protocol == "fewshot":
            argv += ["--n-way", "2", "--k-shot", "1"]
        try:
            if _protocol_fits(protocol, run):
                _succeeds(argv, capsys)
            else:
                _fails_with_one_line(argv, capsys)
        except AssertionError as e:
            failures.append(f"{protocol}: {e}")
    index = ["index", "build", str(run_dir), "--data", train_cfg.data, "--limit", "40",
             "--out", str(tmp_path / "codes.safetensors")]
    generate = ["generate", str(run_dir), "--set", "max_epochs=1", "--set", "limit_train_batches=2",
                "--steps", "2", "--n-samples", "4"]
    for argv, fits in ((index, _has_codes(run.method.encoder)), (generate, _is_autoencoder(run.method))):
        try:
            _succeeds(argv, capsys) if fits else _fails_with_one_line(argv, capsys)
        except AssertionError as e:
            failures.append(f"{argv[0]}: {e}")
    assert not failures, "\n".join(failures)  # every command was run; all that failed are listed


def test_fast_presets_cover_every_method_and_encoder():
    methods = {p.method for p in PRESETS.values()}
    assert {PRESETS[n].method for n in FAST} == methods
    assert {("moco", "nvae"), ("multiview", "realnvp"), ("multiview", "convnet")} <= {
        (PRESETS[n].method, getattr(_resolved(n)[1], "encoder", None)) for n in FAST}


def _protocols() -> dict[str, Any]:
    from infomax.evaluation import PROTOCOLS

    return PROTOCOLS


@pytest.mark.parametrize("protocol", list(_protocols()))
def test_tiny_settings_reach_every_costly_protocol(protocol):
    """A protocol with a training loop gets a tiny setting (else this suite would not fit ``make test``)."""
    params = set(inspect.signature(_protocols()[protocol]).parameters)
    loops = {"steps", "epochs", "n_episodes", "max_iter", "seeds"}
    assert params & loops <= set(TINY), sorted(params & loops - set(TINY))
