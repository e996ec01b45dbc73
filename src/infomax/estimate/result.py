"""The result of ``estimate_mi``: :class:`MIEstimate`, its one-line reading and its JSON form.

Example:
    >>> e = MIEstimate(mi_nats=0.5, stderr_nats=0.02, bound="smile", critic="separable", n_train=700,
    ...                n_val=100, n_test=200, dependence="detected")
    >>> print(e.headline())
    I(X;Y) = 0.5000 +/- 0.0200 nats (0.7213 +/- 0.0289 bits)
    >>> e.to_dict()["ceiling_nats"], e.to_dict()["train_mi_nats"]  # JSON: non-finite floats become None
    (None, None)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MIEstimate:
    """Result of :func:`~infomax.estimate.estimate_mi`.

    Attributes:
        mi_nats: held-out estimate of I(X; Y) in nats: the mean of the bound over ``n_eval_batches``
            random held-out batches of ``eval_batch_size`` rows. Read it with the flags: ``saturated``
            (InfoNCE at its ceiling: the MI is probably higher), ``reliable`` False (says little about the
            MI), ``deterministic`` (the MI is infinite; this is a lower bound).
        method: the estimator family option ("auto", "quick", "critic", "ksg", "gaussian").
        chosen: which estimate ``mi_nats`` is: "gaussian", "ksg" (on the ranks), "ksg_scaled" (on the
            standardized data, Euclidean within each side), "radial", "critic" or "projected" (the largest
            one in "auto").
        estimates: every estimator's value (nats) that took part, e.g. ``{"gaussian": .., "ksg": ..,
            "radial": .., "critic": ..}``.
        interval_nats, interval_bits: the 90% interval (low, high): the noise of ``mi_nats`` (+/- 1.645
            stderr) and, above it, the spread between the estimators as an allowance for their low bias
            (``infomax.estimate.nonparam.combine``). With one estimator it covers the noise only.
        stderr_nats: standard error of ``mi_nats`` from the held-out sampling noise ONLY (which test rows,
            which batches; see :func:`~infomax.estimate.heldout.heldout_estimate`), not the bias of the
            bound or of the critic.
        mi_bits, stderr_bits: the same in bits (nats / ln 2).
        bound, critic, preprocess: what was used.
        n_train, n_val, n_test: sizes of the three splits.
        batch_size, eval_batch_size: training batch and held-out batch sizes.
        n_eval_batches: held-out batches evaluated (whole random partitions of the test split, >= 32).
        steps, best_step: optimisation steps run, and the step of the restored (best validation) critic.
        converged: early stopping triggered; False when training ran into ``max_steps`` (or diverged) first.
        train_mi_nats, val_mi_nats: the bound on the training batches (mean of the last evaluation window)
            and on the validation split at ``best_step``.
        saturated: InfoNCE sits near its ceiling ``ceiling_nats`` = log(eval batch size); the true MI is
            probably higher than ``mi_nats``.
        reliable: False when the critic does not generalize (it memorizes its training pairs, or reads far
            below zero held out): ``mi_nats`` then says little about the MI, a value near or below zero does
            not mean independence, and ``warnings`` says why and what to do.
        deterministic: Y is an exact function of X (found by
            :func:`~infomax.estimate.relations._exact_relation`): the MI of continuous data is then
            infinite and ``mi_nats`` only a lower bound limited by the sample.
        dependence: what the result supports: ``"detected"``, ``"none detected"`` (a reliable estimate
            within noise of zero or below, and no strongly correlated column pair), ``"inconclusive"``
            or ``"deterministic"``.
        pair_check: the most rank-correlated (x column, y column) pair: ``{"x_column", "y_column",
            "rank_correlation", "gaussian_mi_nats" (-0.5 log(1 - r^2), that pair's MI under a Gaussian
            copula), "significant" (beyond what independent columns show)}``; None when too costly.
        seconds: wall time.
        warnings: human-readable problems (divergence, saturation, overfitting, few samples, ...).
        note: what ``stderr_nats`` covers and which way the bound is biased, in one paragraph.
        history: one dict per validation check: ``{"step", "train", "val", "val_objective"}`` (nats);
            early stopping keeps the critic with the best ``val_objective`` (the held-out training objective).
        options: every option the estimate was made with, defaults included (``EstimateParams``' fields
            but ``progress``, e.g. ``{"method": "auto", "score_map": 0, "activation": "gelu", ...}``), so
            a saved result says how to reproduce it.
    """

    mi_nats: float
    stderr_nats: float
    bound: str
    critic: str
    n_train: int
    n_val: int
    n_test: int
    mi_bits: float = field(init=False)
    stderr_bits: float = field(init=False)
    method: str = "critic"
    chosen: str = "critic"
    estimates: dict[str, float] = field(default_factory=dict)
    interval_nats: tuple[float, float] | None = None
    interval_bits: tuple[float, float] | None = field(init=False)
    preprocess: str = "rank"
    batch_size: int = 0
    eval_batch_size: int = 0
    n_eval_batches: int = 0
    steps: int = 0
    best_step: int = 0
    converged: bool = True
    train_mi_nats: float = float("nan")
    val_mi_nats: float = float("nan")
    saturated: bool = False
    ceiling_nats: float | None = None
    reliable: bool = True
    deterministic: bool = False
    dependence: str = ""
    pair_check: dict[str, Any] | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    note: str = ""
    history: list[dict[str, float]] = field(default_factory=list, repr=False)
    options: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.mi_bits = self.mi_nats / math.log(2.0)
        self.stderr_bits = self.stderr_nats / math.log(2.0)
        if self.interval_nats is None:  # the noise-only 90% interval of the value
            z = 1.6448536269514722
            self.interval_nats = (self.mi_nats - z * self.stderr_nats, self.mi_nats + z * self.stderr_nats)
        self.interval_nats = (float(self.interval_nats[0]), float(self.interval_nats[1]))
        self.interval_bits = (self.interval_nats[0] / math.log(2.0), self.interval_nats[1] / math.log(2.0))

    def to_dict(self, history: bool = False) -> dict[str, Any]:
        """Plain JSON-able dict (non-finite floats become None); ``history=True`` keeps the curve."""
        d = asdict(self)
        if not history:
            d.pop("history")
        return {k: _json_safe(v) for k, v in d.items()}

    def headline(self) -> str:
        """The one-line result, worded so that a flagged estimate is not read as the MI."""
        value = f"{self.mi_nats:.4f} +/- {self.stderr_nats:.4f} nats"
        if self.deterministic:
            return (
                "I(X;Y) = inf for continuous data (Y is an exact function of X); the estimator reads "
                f"{value}, a lower bound limited by the sample"
            )
        if not self.reliable:
            return (
                f"I(X;Y): no reliable estimate (held-out value {value}; the critic does not generalize "
                "from this sample, see the warnings)"
            )
        rel = ">=" if self.saturated else "="
        return f"I(X;Y) {rel} {value} ({self.mi_bits:.4f} +/- {self.stderr_bits:.4f} bits)"

    def __str__(self) -> str:
        s = (
            f"{self.headline()} [{self.bound}, {self.critic} critic, n_train={self.n_train}, "
            f"n_test={self.n_test}, dependence: {self.dependence}]"
        )
        s += "".join(f"\nwarning: {w}" for w in self.warnings)
        return s + (f"\nnote: {self.note}" if self.note else "")


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_json_safe(u) for u in v]
    if isinstance(v, dict):
        return {k: _json_safe(u) for k, u in v.items()}
    return v
