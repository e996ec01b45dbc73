"""Run configuration: dataclasses that stop at the CLI.

A run is ``TrainConfig`` (engine and data settings) plus the method's own ``Config`` dataclass. The CLI's
``--set key=value`` assigns to a TrainConfig field when ``key`` names one, else to a method field; every
value is coerced to the field's declared type, and an unknown key or a bad value is a UserError.

A method's ``Config`` derives from :class:`MethodConfig` and declares every option that takes one of a set
of names with :func:`choice` (the allowed names come from the registries where there is one: ``BOUNDS``,
``CRITICS``, an encoder table). ``MethodConfig.validate()`` checks those names, then the method's own range
checks (``check()``); ``infomax.engine.fit.check_settings`` calls it before any data is loaded or any file
written, and each method's ``build`` calls it again.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Config(MethodConfig):
    ...     bound: str = choice("infonce", ("infonce", "nwj"))
    >>> Config(bound="nce").validate()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    infomax.errors.UserError: unknown bound 'nce' for ...; choose one of: infonce, nwj
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from infomax.errors import UserError

#: The values of ``TrainConfig.sampler``: how the engine forms training batches.
SAMPLERS = ("random", "balanced")
#: Steps whose median absolute loss sets the scale of the finite blow-up check (``diverge_factor``).
DIVERGE_EARLY_STEPS = 10


@dataclass
class TrainConfig:
    """Engine, data and run settings shared by every method.

    Optimiser: one Adam per parameter group with ``lr``, ``weight_decay`` and betas
    ``(adam_beta1, adam_beta2)`` (AMDIM, Bachman et al. 2019, uses (0.8, 0.999); torch's default is
    (0.9, 0.999)). ``lr_schedule``: ``constant`` (default) or ``cosine``, a decay from ``lr`` to 0 over
    the run, whose length is ``max_epochs`` or the ``max_minutes`` budget, whichever ends it first (see
    ``infomax.engine.schedule``); with a cosine schedule neither limit may change when the run is resumed.

    Evaluation during and after training (the engine's, not ``infomax eval``'s, which runs the full
    protocol unless told otherwise):

    - ``probe_every``: every N epochs (0 = never), a cheap online linear probe of every encoder layer,
      fit on ``probe_samples`` stratified train images and scored on (at most ``probe_samples``) val
      images, logged as ``probe/linear_acc/<layer>`` (see ``infomax.engine.online_probe``); its time
      counts towards ``max_minutes``;
    - ``final_probe_samples``: the final linear probe fits on at most this many train images, a stratified
      sample with a fixed seed (``None`` = the whole train split); val and test are never subsampled;
    - ``final_probe_cs``: the inverse regularisation strengths C tried by the final probe (best on val);
    - ``final_knn``: also a weighted kNN probe (k=20, cosine) per layer on the same sample (``final_knn``
      in ``metrics.json``); kNN is more sensitive to the geometry of a representation than a linear probe.
      Where no test class is a training class (Omniglot) the final evaluation is few-shot episodes and
      the kNN probe is not run (a note in ``final_evaluation`` and on stderr says so);
    - ``baselines``: also probe an untrained encoder and a supervised one trained with the same budget
      (``--no-baselines`` sets it to False).

    - ``final_eval_minutes``: a wall-clock cap on the whole final evaluation (the supervised baseline's
      training and the probes). None (default) = half of ``max_minutes`` when the run has a budget, else no
      cap. The supervised baseline trains for at most half of this cap (and at most ``max_epochs``); the
      probes use the rest, one layer at a time (every encoder on a layer, the output layer first) and skip
      the layers left when the cap is reached (recorded as ``skipped_layers``). So
      ``--max-minutes M`` takes about 1.5 M minutes in all.

    ``max_minutes`` bounds training; the final evaluation comes on top, within ``final_eval_minutes`` (its
    time is recorded in ``metrics.json``, ``final_evaluation``).

    ``max_items``: use at most this many items of each split (train, val and test; None = all), a
    stratified sample with a fixed seed (class proportions kept, original order), e.g. ``--set
    max_items=300`` for a quick trial or a smoke test of a preset on a real dataset. The image statistics
    (``mean``/``std``) stay those of the whole train split. ``infomax eval`` reads the same capped splits.

    ``precision`` and ``channels_last`` choose how the CPU computes, not what: ``bf16-mixed`` (bfloat16
    autocast) and ``channels_last`` (weights and batches in NHWC memory layout, for the convolutions) made
    a training step 1.5-2.4x faster on a CPU with AVX-512 BF16 (``benchmarks/dim/cpu_kernels.py``); the
    numbers change in their last bits (bf16: rounding), so a run keeps the setting it started with. bf16
    is not yet safe: one of three ``dim-l-cross`` CIFAR-10 seeds diverged under it; with DIM's
    ``score_clip=20`` the same seed trains (one seed, BENCHMARKS.md "CPU execution modes"). On a CPU without
    native bfloat16 the engine notes that bf16 will be slower, not faster.

    ``sampler``: the training batches: ``random`` (default; shuffled, see
    ``infomax.engine.sampler.EpochBatchSampler``) or ``balanced``: ``batch_classes`` (P) classes x
    ``batch_size // batch_classes`` (K) items of each per batch (``ClassBalancedBatchSampler``), for
    supervised metric or code learning (DIMCO, ProtoNet), where a random batch of many classes holds few
    pairs of the same class. The data must have P classes with at least K training items.

    ``ema``: the decay of an exponential moving average of the method's weights (Polyak averaging; 0 =
    off, the default). With ``ema`` > 0 the run exports, evaluates and hands back the averaged weights
    instead of the last ones; training itself, its checkpointed raw weights and the online probe are
    unchanged. The decay of step t (1, 2, ...) is ``min(ema, (1 + t) / (10 + t))``, so a short run is not
    dominated by the initial weights; float buffers (BatchNorm's running statistics) are averaged too.
    e.g. ``ema=0.999`` averages over about the last 1,000 steps.

    ``diverge_factor``: a finite blow-up stops training like a NaN does: a step whose main loss is more than
    ``diverge_factor`` times the loss scale of the run's first ``DIVERGE_EARLY_STEPS`` steps (the median
    absolute loss, at least 1) away from zero. Default 1000: a loss that went from -0.5 to 1e6 (seen under
    bf16) stops the run with the last good checkpoint; 0 turns the check off.

    ``threads``: torch CPU threads (``--threads``; None = torch's default), applied when the run starts
    and again when it is resumed (the thread count can change the last bits of CPU results).

    Every setting, these included, is stored in the run's ``config.json`` and reused by ``--resume``.

    Example:
        >>> cfg = TrainConfig(max_epochs=5, adam_beta1=0.8)
        >>> cfg.validate()
    """

    method: str = "dim"
    data: str = "digits"
    data_root: str | None = None
    seed: int = 0
    batch_size: int = 64
    lr: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    max_epochs: int = 20
    max_minutes: float | None = None
    num_workers: int = 0
    val_fraction: float = 0.1
    max_items: int | None = None
    limit_train_batches: int | None = None
    accelerator: str = "cpu"
    devices: int = 1
    precision: str = "32-true"
    channels_last: bool = False
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    probe_every: int = 0  # epochs between online linear-probe evaluations (0 = only at the end)
    probe_samples: int = 2000
    final_probe_samples: int | None = 10000
    final_probe_cs: tuple[float, ...] = (0.01, 0.1)
    final_knn: bool = False
    final_eval_minutes: float | None = None
    baselines: bool = True
    threads: int | None = None
    sampler: str = "random"
    batch_classes: int = 16
    diverge_factor: float = 1000.0
    ema: float = 0.0

    def validate(self) -> None:
        _check(self.diverge_factor == 0 or self.diverge_factor > 1,
               f"diverge_factor must be 0 (off) or > 1; got {self.diverge_factor}")
        _check(self.ema == 0 or 0.0 < self.ema < 1.0, f"ema must be 0 (off) or in (0, 1); got {self.ema}")
        _check(self.batch_size >= 2, "batch_size must be >= 2 (contrastive bounds and BatchNorm need pairs)")
        _check(self.seed >= 0, "seed must be a non-negative integer")
        _check(self.precision in ("32-true", "32", "16-mixed", "bf16-mixed", "64-true"),
               f"precision must be one of 32-true, 16-mixed, bf16-mixed, 64-true; got {self.precision!r}")
        _check(self.accelerator in ("cpu", "gpu", "cuda", "auto"),
               f"accelerator must be cpu, gpu, cuda or auto; got {self.accelerator!r}")
        if self.accelerator in ("gpu", "cuda"):
            import torch

            _check(torch.cuda.is_available(), f"accelerator={self.accelerator}: no CUDA device is available")
        _check(self.lr > 0 and math.isfinite(self.lr), "lr must be a positive finite number")
        from infomax.engine.schedule import SCHEDULES

        _check(self.lr_schedule in SCHEDULES,
               f"lr_schedule must be one of {', '.join(SCHEDULES)}; got {self.lr_schedule!r}")
        _check(math.isfinite(self.weight_decay) and self.weight_decay >= 0,
               "weight_decay must be a finite number >= 0")
        _check(self.max_epochs >= 1, "max_epochs must be >= 1")
        _check(self.max_minutes is None or (self.max_minutes > 0 and math.isfinite(self.max_minutes)),
               "max_minutes must be a finite number > 0 (or none for no budget)")
        _check(self.final_eval_minutes is None
               or (self.final_eval_minutes > 0 and math.isfinite(self.final_eval_minutes)),
               "final_eval_minutes must be a finite number > 0 (or none: half of max_minutes)")
        _check(self.limit_train_batches is None or self.limit_train_batches >= 1,
               "limit_train_batches must be >= 1 (or none for whole epochs)")
        _check(0.0 <= self.val_fraction < 1.0, "val_fraction must be in [0, 1)")
        _check(self.max_items is None or self.max_items >= 2,
               "max_items must be >= 2 (or none for every item of each split)")
        _check(self.num_workers >= 0, "num_workers must be >= 0")
        _check(self.devices >= 1, "devices must be >= 1")
        _check(self.sampler in SAMPLERS,
               f"sampler must be one of {', '.join(SAMPLERS)}; got {self.sampler!r}")
        if self.sampler == "balanced":
            _check(self.batch_classes >= 2 and self.batch_size % self.batch_classes == 0
                   and self.batch_size // self.batch_classes >= 2,
                   f"sampler=balanced: batch_size ({self.batch_size}) must be batch_classes "
                   f"({self.batch_classes}, >= 2) x an items-per-class count >= 2")
        _check(self.threads is None or self.threads >= 1,
               "threads must be >= 1 (or none for torch's default)")
        for name in ("adam_beta1", "adam_beta2"):
            _check(0.0 <= getattr(self, name) < 1.0, f"{name} must be in [0, 1)")
        _check(self.probe_every >= 0, "probe_every must be >= 0 (0 = no online probe)")
        _check(self.probe_samples >= 10, "probe_samples must be >= 10")
        _check(self.final_probe_samples is None or self.final_probe_samples >= 10,
               "final_probe_samples must be >= 10 (or none for the whole train split)")
        _check(len(self.final_probe_cs) >= 1 and all(c > 0 and math.isfinite(c) for c in self.final_probe_cs),
               "final_probe_cs must be one or more positive numbers, e.g. 0.01,0.1")


#: What :func:`choice` accepts: the allowed names (a registry dict gives its keys), or a function of the
#: config returning them (None: not checkable before the data or another run is loaded).
Choices = Iterable[str] | Callable[[Any], Iterable[str] | None]


def choice(default: str, choices: Choices) -> Any:
    """A string option of a method's ``Config`` that takes one of ``choices`` (checked by
    :meth:`MethodConfig.validate`); the one place the option's allowed values are declared.

    Example:
        >>> from infomax.bounds import BOUNDS
        >>> @dataclass
        ... class Config(MethodConfig):
        ...     bound: str = choice("infonce", BOUNDS)
        >>> allowed_values(Config(), "bound")[:2]
        ('infonce', 'nwj')
    """
    return field(default=default, metadata={"choices": choices})


def choice_fields(cls: type) -> tuple[str, ...]:
    """Names of the fields of dataclass ``cls`` declared with :func:`choice`, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if "choices" in f.metadata)


def allowed_values(cfg: Any, name: str) -> tuple[str, ...] | None:
    """The names field ``name`` of ``cfg`` may take (None: unrestricted, or not checkable yet)."""
    spec = next(f for f in dataclasses.fields(cfg) if f.name == name).metadata.get("choices")
    if callable(spec):
        spec = spec(cfg)
    return None if spec is None else tuple(spec)


class MethodConfig:
    """Base of every method's ``Config`` dataclass: ``validate()`` checks each :func:`choice` field against
    its allowed names, then calls ``check()``, the method's own range checks (override it)."""

    def validate(self) -> None:
        """Raise :class:`UserError` (one line) for an unknown name or an out-of-range value."""
        method = type(self).__module__.rsplit(".", 1)[-1]
        for name in choice_fields(type(self)):
            names, value = allowed_values(self, name), getattr(self, name)
            if names is not None and value not in names:
                raise UserError(f"unknown {name} {value!r} for {method}; choose one of: "
                                f"{', '.join(names) or '(none available)'}")
        self.check()

    def check(self) -> None:
        """Range checks of the method's other options (UserError); none by default."""


@dataclass
class Preset:
    """A named experiment: one ``infomax train NAME`` command."""

    description: str
    method: str
    overrides: dict[str, Any] = field(default_factory=dict)


def final_eval_budget(cfg: TrainConfig) -> float | None:
    """Seconds the final evaluation may take: ``final_eval_minutes``, else half of ``max_minutes``, else
    None (no cap).

    Example:
        >>> final_eval_budget(TrainConfig(max_minutes=10.0))
        300.0
    """
    minutes = cfg.final_eval_minutes
    if minutes is None and cfg.max_minutes is not None:
        minutes = 0.5 * cfg.max_minutes
    return None if minutes is None else 60.0 * minutes


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise UserError(msg)


def _base_types(tp: Any) -> list[Any]:
    """The concrete types a field annotation allows (``float | None`` -> [float, NoneType])."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(tp) for t in _base_types(a)]
    return [tp]


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Coerce a CLI string (or a preset value) to the annotated type ``tp``; UserError if impossible."""
    allowed = _base_types(tp)
    is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
    if is_none and type(None) in allowed:
        return None
    for t in allowed:
        if t is type(None):
            continue
        origin = typing.get_origin(t) or t
        try:
            if origin is bool:
                if isinstance(value, bool):
                    return value
                s = str(value).lower()
                if s in ("1", "true", "yes", "on"):
                    return True
                if s in ("0", "false", "no", "off"):
                    return False
                continue
            if origin is int:
                if isinstance(value, bool):
                    continue
                if isinstance(value, float) and not value.is_integer():
                    continue
                return int(str(value)) if isinstance(value, str) else int(value)
            if origin is float:
                v = float(value)
                if not math.isfinite(v):
                    continue
                return v
            if origin is str:
                return str(value)
            if origin is dict:
                parsed = json.loads(value) if isinstance(value, str) else value
                if not isinstance(parsed, dict):
                    continue
                return dict(parsed)
            if origin in (tuple, list):
                args = typing.get_args(t)
                items = value if isinstance(value, (list, tuple)) else [s for s in str(value).split(",") if s]
                inner = args[0] if args else str
                return origin(coerce(v, inner, key) for v in items)
        except (TypeError, ValueError):
            continue
    names = " or ".join(dict.fromkeys(_type_words(t) for t in allowed))
    raise UserError(f"bad value {value!r} for {key!r}: expected {names}")


def _type_words(tp: Any) -> str:
    """A field type in user terms: ``float`` -> "a finite number", ``tuple[int, ...]`` -> "a comma-separated
    list of integers"."""
    origin = typing.get_origin(tp) or tp
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner = _type_words(args[0]) if args else "text"
        plural = {"an integer": "integers", "a finite number": "finite numbers", "true or false": "booleans"}
        return f"a comma-separated list of {plural.get(inner, inner)}"
    words = {bool: "true or false", int: "an integer", float: "a finite number", str: "text",
             type(None): "none"}
    return words.get(origin, getattr(origin, "__name__", str(origin)))


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def apply_overrides(train: TrainConfig, method_cfg: Any, overrides: dict[str, Any]) -> None:
    """Assign ``overrides`` to ``train`` or ``method_cfg`` fields (in place), coercing types."""
    tfields = field_types(TrainConfig)
    mfields = field_types(type(method_cfg))
    for key, value in overrides.items():
        if key in tfields:
            setattr(train, key, coerce(value, tfields[key], key))
        elif key in mfields:
            setattr(method_cfg, key, coerce(value, mfields[key], key))
        else:
            valid = sorted(set(tfields) | set(mfields))
            raise UserError(f"unknown setting {key!r}; valid keys: {', '.join(valid)}")


def parse_set(items: list[str]) -> dict[str, str]:
    """Parse ``["key=value", ...]`` from ``--set``."""
    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out
