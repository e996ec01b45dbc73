"""``estimate_mi``: the user-facing mutual-information estimator, one stage per module.

Trains a critic ``T(x, y)`` on a training split of paired samples by maximizing a variational bound,
stops early on a validation split, and reports the bound on a held-out test split with a standard error,
in nats and bits.

What the standard error covers: only the sampling noise of the held-out estimate (which test rows were
drawn, and how they were grouped into batches), measured on many (>= 32) random held-out batches; see
:func:`heldout_estimate`. It does NOT cover the bias of the bound: NWJ, DV, InfoNCE and TUBA are lower
bounds, and a critic limited by few samples or too few steps makes them lower still, so the true MI can
sit many standard errors above ``mi_nats``. The result's ``note`` says so, and its ``warnings`` name the
known causes (few samples, overfitting, the step limit, an MI beyond what the data can show).

The default ``method="auto"`` (issue 20) reports the largest of four to six readings of the MI: the
bias-corrected Gaussian-copula MI and KSG (:mod:`~infomax.estimate.nonparam`, on the rank-Gaussianized
data), KSG on the data as given, each column standardized, Euclidean within each side (both KSG
readings only for dx + dy <= 20, the second up to 20,000 rows), the radial KSG (KSG between each side's
norm, a lower bound by the data-processing inequality that holds all of a shared-scale dependence such as
Student-t's; when dx + dy > 2), the trained critic's held-out value described below (left out when it does not
generalize) and, when dx + dy > 20 and the rows allow it, the same critic trained on each side's canonical
directions (:mod:`~infomax.estimate.projection`; a critic on a few inputs generalizes where one on every
column memorizes). Each reads low where it fails, so the largest is the best single reading; the 90% interval
``interval_nats`` adds, above the noise of that value, the spread between the readings other than the
radial one (``nonparam.combine``). ``method="critic"`` reports the critic alone; ``"quick"`` skips it.

The critic's defaults are chosen to hold up beyond Gaussians:

- every input column is mapped to a standard normal through its ranks (``preprocess="rank"``, a
  Gaussian copula transform). MI is invariant under invertible elementwise maps, so this loses nothing
  and removes long tails (Student-t, log-normal, cubes) that otherwise wreck the critic's training;
- the bound is SMILE with tau = 5 (Song & Ermon 2020), whose variance stays bounded at high MI, unlike
  NWJ/DV (exponential in the MI) and InfoNCE (pinned at log N). SMILE is not a bound: as the MI nears
  tau it is biased (we saw +1.4 nats at a true 6 nats), and the result then carries a warning;
- a separable critic ``g(x)^T h(y)`` (four hidden layers of 128, 32-d embeddings; Poole et al. 2019)
  scoring every pair in a batch of 256, so each positive has 255 negatives during training and each
  held-out batch (>= 256 pairs) supplies tens of thousands of negative pairs;
- each side of two or more columns also gets its radial feature (the rank-Gaussianized norm of the
  robustly standardized row) as one more input column (``radial=True``): a function of the row, so the MI
  is unchanged, but a shared scale or a norm-dependent rotation (the Beyond-Normal spirals) is then easy to
  read;
- optionally (``score_map=N``; off by default: 1.7x the CPU time) the critic's scores pass through a
  learned scalar map, s + phi(s) (:class:`~infomax.critics.ScoreMap`): a separable score cannot write the
  log ratio of a sample in which a share of the pairs is independent, a scalar function of one can;
- validation reads, and the result keeps, a moving average of the critic's weights (``ema=0.99``), which
  generalizes better than the last iterate from a few thousand samples.

InfoNCE is never reported as a plain MI value where it sits near its ceiling log N (N = held-out batch
size): the result is flagged ``saturated`` with a warning that the true MI is probably higher. A
diverging estimate (non-finite values, DV/NWJ exploding) is a warning in the result, never hidden.

Results that would mislead are flagged rather than reported plainly:

- a critic that memorizes its training pairs (few samples for the dimension: the training value far above
  the held-out one, or a held-out value far below zero) makes ``reliable`` False. Its held-out value,
  near zero or negative, is then no evidence of independence; the warning says the sample is too small for
  the dimension and what to do;
- an exact deterministic relation (X against itself, a duplicated column, an invertible elementwise or
  linear map), found by cheap checks on the data, sets ``deterministic``: the MI of a continuous variable
  with a function of itself is infinite, and any estimate is a lower bound limited by the sample;
- ``pair_check`` reads the most rank-correlated pair of one X column and one Y column: a dependence that a
  failing critic misses is still reported;
- ``dependence`` says in one word what the result supports: ``detected``, ``none detected`` (only from a
  critic that generalizes), ``inconclusive`` or ``deterministic``.

The package reads as the pipeline ``estimate_mi`` runs, one concept per module:
``params`` (:class:`EstimateParams`: every option, its default and its check) -> ``data`` (input checks,
preprocessing, the train/validation/test split) -> ``relations`` (an exact relation, the strongest column
pair) -> ``nonparam`` (the critic-free estimators and how readings combine) -> ``training`` (the critic,
trained with early stopping; ``projection``: the canonical directions the projected critic reads) ->
``heldout`` (the held-out estimate and its standard error) -> ``diagnostics`` (reliability, dependence,
warnings) -> ``result`` (:class:`MIEstimate`).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2000, 2)); y = 0.9 * x + 0.44 * rng.standard_normal((2000, 2))
    >>> est = estimate_mi(x, y, max_steps=300, progress=False)  # true MI: 1.66 nats
    >>> est.bound, est.critic, est.n_test
    ('smile', 'separable', 400)
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import Tensor

from infomax.errors import UserError
from infomax.estimate.data import Prepared, Split, prepare, resplit, split_rows, with_radial
from infomax.estimate.diagnostics import Diagnosis, diagnose
from infomax.estimate.heldout import Evaluation, HeldOut, evaluate, heldout_estimate, note
from infomax.estimate.nonparam import (
    KSG_MAX_DIMS,
    SCALED_KSG_MAX_ROWS,
    combine,
    gaussian_copula_mi,
    ksg_mi,
    radial_mi,
    scaled_ksg_mi,
)
from infomax.estimate.params import (
    ACTIVATION_NAMES,
    ESTIMATOR_BOUNDS,
    ESTIMATOR_CRITICS,
    METHODS,
    MIN_SAMPLES,
    N_EVAL_BATCHES,
    PREPROCESS,
    EstimateParams,
)
from infomax.estimate.projection import canonical_projection
from infomax.estimate.relations import Relations, find_relations
from infomax.estimate.result import MIEstimate
from infomax.estimate.training import Trained, train_critic

__all__ = [
    "ACTIVATION_NAMES",
    "ESTIMATOR_BOUNDS",
    "ESTIMATOR_CRITICS",
    "METHODS",
    "MIN_SAMPLES",
    "N_EVAL_BATCHES",
    "PREPROCESS",
    "EstimateParams",
    "HeldOut",
    "MIEstimate",
    "estimate_mi",
    "heldout_estimate",
]

_P = EstimateParams  # the defaults below are its class attributes: each option is declared once, there


def estimate_mi(
    x: np.ndarray | Tensor,
    y: np.ndarray | Tensor,
    bound: str = _P.bound,
    critic: str = _P.critic,
    *,
    method: str = _P.method,
    tau: float | None = _P.tau,
    preprocess: str = _P.preprocess,
    batch_size: int = _P.batch_size,
    max_steps: int = _P.max_steps,
    lr: float = _P.lr,
    weight_decay: float = _P.weight_decay,
    hidden: tuple[int, ...] | None = _P.hidden,
    embed_dim: int = _P.embed_dim,
    activation: str = _P.activation,
    ema: float = _P.ema,
    radial: bool = _P.radial,
    score_map: int = _P.score_map,
    dropout: float = _P.dropout,
    test_fraction: float = _P.test_fraction,
    val_fraction: float = _P.val_fraction,
    eval_every: int = _P.eval_every,
    patience: int = _P.patience,
    eval_batch_size: int | None = _P.eval_batch_size,
    n_eval_batches: int = _P.n_eval_batches,
    seed: int = _P.seed,
    device: str | torch.device = _P.device,
    progress: bool = _P.progress,
) -> MIEstimate:
    """Estimate the mutual information I(X; Y) from paired samples with a trained critic.

    The n rows are shuffled (``seed``) into train / validation / test splits. The critic is trained
    with Adam on random training batches, maximizing ``bound`` over the (batch, batch) score matrix
    (positives on the diagonal, every other pair a negative; SMILE follows the JSD gradient as in Song &
    Ermon's code). Every ``eval_every`` steps the training objective is computed on the validation split;
    the critic with the best value is kept and training stops after ``patience`` checks without
    improvement (or at ``max_steps``, which adds a "did not converge" warning). The reported value is the
    mean of the bound over at least ``n_eval_batches`` random batches of ``eval_batch_size`` held-out test
    rows (whole random partitions of the test split), and ``stderr_nats`` is the standard error of
    :func:`heldout_estimate`: ``std(batch values) * sqrt(n_test / (n_test - eval_batch_size)) / sqrt(K)``
    with K = n_test // eval_batch_size batches per partition.

    ``stderr_nats`` covers the sampling noise of the held-out estimate only (which test rows, which
    batches). It does not cover the bias of the estimator: the lower bounds (NWJ, DV, InfoNCE, TUBA) and
    SMILE below its clip level read LOW when the critic is limited by few samples or steps, and no
    estimator from n samples can show much more than log(n) nats (McAllester & Stratos 2020); the
    result's ``note`` and ``warnings`` say this where it applies.

    Args:
        x: (n, dx) or (n,) samples of X (numpy array, torch tensor or nested lists).
        y: (n, dy) or (n,) samples of Y, row i paired with row i of x.
        method: "auto" (default: the largest of the Gaussian-copula MI, KSG on the ranks and on the scaled
            data for dx + dy <= 20, the radial KSG and the critic), "quick" (no critic), "critic", "ksg" or
            "gaussian" (that one alone).
        bound, critic, tau, preprocess, batch_size, max_steps, lr, weight_decay, hidden, embed_dim,
            activation, ema, radial, score_map, dropout, test_fraction, val_fraction, eval_every, patience,
            eval_batch_size, n_eval_batches, seed, device, progress: the options, each documented with its
            default and valid range in :class:`EstimateParams` (bound: "smile", "nwj", "dv", "infonce",
            "tuba" or "jsd"; critic: "separable", "concat" or "bilinear"; preprocess: "rank", "standardize" or
            "none"; activation: "gelu", "relu", ...).

    Returns:
        :class:`MIEstimate` (``mi_nats``, ``mi_bits``, ``stderr_nats``, ``warnings``, ``history``, ...).

    Raises:
        UserError: mismatched sample counts, fewer than 20 samples, NaN/inf values, arrays with more than
            2 dimensions, an unknown bound/critic/preprocess name or a bad option value.

    Example:
        >>> import torch
        >>> from infomax.data.synthetic import sample_correlated_gaussian, mi_to_rho
        >>> g = torch.Generator().manual_seed(0)
        >>> x, y = sample_correlated_gaussian(5000, 5, mi_to_rho(1.0, 5), generator=g)
        >>> est = estimate_mi(x, y, progress=False)
        >>> abs(est.mi_nats - 1.0) < 0.15
        True
    """
    t0 = time.perf_counter()
    # params: every option checked (a UserError before any data is read)
    p = EstimateParams(
        method=method,
        bound=bound,
        critic=critic,
        tau=tau,
        preprocess=preprocess,
        batch_size=batch_size,
        max_steps=max_steps,
        lr=lr,
        weight_decay=weight_decay,
        hidden=hidden,
        embed_dim=embed_dim,
        activation=activation,
        ema=ema,
        radial=radial,
        score_map=score_map,
        dropout=dropout,
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        eval_every=eval_every,
        patience=patience,
        eval_batch_size=eval_batch_size,
        n_eval_batches=n_eval_batches,
        seed=seed,
        device=device,
        progress=progress,
    )
    # data: checked (n, d) inputs, preprocessed; what they show without a critic
    data = prepare(x, y, p.preprocess)
    rel = find_relations(data)
    # the critic-free estimators on the rank-Gaussianized data
    values: dict[str, tuple[float, float]] = {}
    if p.method in ("auto", "quick", "gaussian") and data.n > data.dims + 2:
        values["gaussian"] = gaussian_copula_mi(data.rank_x, data.rank_y)
    ksg_readings = p.method in ("auto", "quick") and data.dims <= KSG_MAX_DIMS
    if p.method == "ksg" or ksg_readings:
        values["ksg"] = ksg_mi(data.rank_x, data.rank_y, k=5, seed=p.seed)
    if ksg_readings and data.n <= SCALED_KSG_MAX_ROWS:
        values["ksg_scaled"] = scaled_ksg_mi(data.raw_x, data.raw_y, k=5, seed=p.seed)
    if p.method in ("auto", "quick") and data.dims > 2:
        values["radial"] = radial_mi(data.raw_x, data.raw_y, k=5, seed=p.seed)
    if p.method in ("quick", "ksg", "gaussian"):
        return _critic_free(p, data, rel, values, t0)
    gen = torch.Generator().manual_seed(p.seed)  # draws the split, then the training batches
    cx, cy = data.x, data.y  # what the critic reads: the preprocessed columns, and the radial features
    if p.radial and p.preprocess == "rank":
        cx, cy = with_radial(cx, data.raw_x), with_radial(cy, data.raw_y)
    split = split_rows(cx, cy, p.test_fraction, p.val_fraction, gen, p.torch_device())
    # training (the critic kept by early stopping), held-out (its bound on the test split, with the
    # standard error) and diagnostics (what the value supports, and the warnings)
    trained, ev, diag = _critic_stage(split, p, gen, data.n, data.dims, rel)
    # many dimensions, and rows enough for a canonical correlation analysis: the critic on the projections
    if (
        p.method == "auto"
        and p.preprocess == "rank"
        and data.dims > KSG_MAX_DIMS
        and split.n_train >= _PROJECTED_MIN_ROWS_PER_DIM * data.dims
        and rel.relation is None
    ):
        projected = _projected_critic(data, split, p, rel)
        if projected is not None:
            values["projected"] = projected
    # result: the largest estimate (the critic's alone when it does not generalize: then nothing is sure)
    ho = ev.heldout
    warnings = data.warnings + trained.warnings + ev.warnings + diag.warnings
    reliable, dependence = diag.reliable, diag.dependence
    left_out: tuple[float, ...] = ()
    others = {k: v for k, v in values.items() if math.isfinite(v[0])}
    # the radial KSG alone (the MI of one feature a side) is no stand-in for a critic that fails
    full = [k for k in others if k != "radial"]
    if rel.relation is not None or diag.saturated or (not diag.reliable and not full):
        values = {}  # the critic's reading, with its flags, is the result
    elif not diag.reliable:  # the critic memorizes its training pairs: the other estimators answer
        # the column-pair warning compares the pair with the critic's value, which is not reported here
        warnings = [w for w in warnings if not w.startswith("a single pair of columns")]
        warnings.append(
            "the critic's value is left out (it does not generalize from this sample); the result is the "
            f"{'/'.join(others)} estimate"
        )
        values, reliable, left_out = others, True, (ho.value,)
    else:
        values["critic"] = (ho.value, ho.stderr)
    chosen, mi, se, interval = combine(values, also_spread=left_out)
    if not chosen:
        values = {"critic": (ho.value, ho.stderr)}
        chosen, mi, se, interval = combine(values)
    if chosen != "critic" or "critic" not in values:
        dependence = "detected" if interval[0] > 0 or diag.dependence == "detected" else "none detected"
    return MIEstimate(
        mi_nats=mi,
        stderr_nats=se,
        bound=p.bound,
        critic=p.critic,
        n_train=split.n_train,
        n_val=split.n_val,
        n_test=split.n_test,
        method=p.method,
        chosen=chosen,
        estimates={k: v[0] for k, v in values.items()},
        interval_nats=interval,
        preprocess=p.preprocess,
        batch_size=trained.batch_size,
        eval_batch_size=ev.eval_batch_size,
        n_eval_batches=len(ho.batch_values),
        steps=trained.steps,
        best_step=trained.best_step,
        converged=trained.stopped_early,
        train_mi_nats=trained.train_mi,
        val_mi_nats=trained.best_val,
        saturated=diag.saturated,
        ceiling_nats=diag.ceiling,
        reliable=reliable,
        deterministic=rel.relation is not None,
        dependence=dependence,
        pair_check=rel.pair,
        seconds=time.perf_counter() - t0,
        warnings=warnings + _sample_size_warning(mi, data.n),
        note=note(p, split.n_test, ev) + _auto_note(chosen, values),
        history=trained.history,
        options=p.as_record(),
    )


def _projected_critic(
    data: Prepared, split: Split, p: EstimateParams, rel: Relations
) -> tuple[float, float] | None:
    """The critic's held-out (value, stderr) on each side's canonical directions (fit on the training rows)
    and radial feature (:mod:`~infomax.estimate.projection`), on ``split``'s rows; None when it does not
    generalize."""
    train = split.order[: split.n_train]
    wx, wy, _ = canonical_projection(data.x[train], data.y[train])
    px, py = with_radial(data.x @ wx, data.raw_x), with_radial(data.y @ wy, data.raw_y)
    reduced = resplit(split, px, py, p.torch_device())
    gen = torch.Generator().manual_seed(p.seed + _PROJECTED_SEED_OFFSET)
    _, ev, diag = _critic_stage(reduced, p, gen, data.n, px.shape[1] + py.shape[1], rel)
    return (ev.heldout.value, ev.heldout.stderr) if diag.reliable else None


def _critic_stage(
    split: Split, p: EstimateParams, gen: torch.Generator, n: int, dims: int, rel: Relations
) -> tuple[Trained, Evaluation, Diagnosis]:
    """Train a critic on ``split`` (batches drawn from ``gen``), evaluate it on the test rows and diagnose
    the value: the stages every critic reading goes through (``n`` samples, ``dims`` = dx + dy inputs)."""
    trained = train_critic(split, p, gen)
    ev = evaluate(trained, split, p)
    return trained, ev, diagnose(p, trained, ev, n, split.n_train, dims, rel)


_PROJECTED_SEED_OFFSET = 7919  # the projected critic's batches: a stream apart from the full critic's
_PROJECTED_MIN_ROWS_PER_DIM = 10  # fewer training rows per input dimension: sample CCA finds noise


#: The radial KSG reads one feature a side, far below the MI unless the dependence is a shared scale, so it
#: takes part in the maximum but not in the spread (``nonparam.combine``'s ``not_spread``).
_SPREAD_ASIDE = " other than the radial one"


def _auto_note(chosen: str, values: dict[str, tuple[float, float]]) -> str:
    """What the reported value is when several estimators took part (empty for the critic alone)."""
    if len(values) < 2:
        return ""
    return (
        f" The reported value is the {chosen} estimate, the largest of {', '.join(values)} (each reads low "
        "where it fails); stderr_nats is its sampling noise, and the 90% interval interval_nats adds, above "
        f"it, the spread between the estimators{_SPREAD_ASIDE if 'radial' in values else ''}."
    )


def _sample_size_warning(mi: float, n: int) -> list[str]:
    """A warning when the estimate nears what n samples can show at all (about log n nats)."""
    if math.isfinite(mi) and mi > 0.5 * math.log(n):
        return [
            f"the estimate {mi:.2f} nats is more than half of log(n) = {math.log(n):.2f} for n = {n} samples:"
            " "
            "a critic or KSG cannot show much more than log(n) nats from n samples (the true MI may be "
            "higher), and a larger Gaussian-copula value rests on the dependence being Gaussian after the "
            "rank transform; use more samples"
        ]
    return []


def _critic_free(
    p: EstimateParams, data: Prepared, rel: Relations, values: dict[str, tuple[float, float]], t0: float
) -> MIEstimate:
    """The result of ``method`` "quick", "ksg" or "gaussian": no split, no critic."""
    chosen, mi, se, interval = combine(values)
    warnings = list(data.warnings)
    if not chosen:
        raise UserError(
            f"no critic-free estimate for {data.n} samples of {data.dims} dimensions (the Gaussian-copula "
            "MI needs more samples than dimensions); use method 'auto' or 'critic'"
        )
    if rel.relation is not None:
        dependence = "deterministic"
    else:
        dependence = "detected" if interval[0] > 0 else "none detected"
    return MIEstimate(
        mi_nats=mi,
        stderr_nats=se,
        bound="",
        critic="",
        n_train=0,
        n_val=0,
        n_test=data.n,
        method=p.method,
        chosen=chosen,
        estimates={k: v[0] for k, v in values.items()},
        interval_nats=interval,
        preprocess="rank",
        converged=True,
        deterministic=rel.relation is not None,
        dependence=dependence,
        pair_check=rel.pair,
        seconds=time.perf_counter() - t0,
        warnings=warnings + _sample_size_warning(mi, data.n),
        note=(
            f"{METHODS[p.method]}. The 90% interval covers the sampling noise of the reported value and, "
            f"above it, the spread between the estimators{_SPREAD_ASIDE if 'radial' in values else ''} "
            "(their usual bias is low)."
        ),
        options=p.as_record(),
    )
