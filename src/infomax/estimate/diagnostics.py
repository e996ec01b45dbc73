"""The diagnostics stage of ``estimate_mi``: what the held-out value supports, and the warnings that say so.

:func:`diagnose` reads the held-out estimate against the training history and the data checks of
:mod:`~infomax.estimate.relations`, and decides

- ``saturated``: InfoNCE within a nat of its ceiling log(batch) (the true MI is probably higher);
- ``reliable``: False when the critic does not generalize (:func:`_sample_limited`: it memorizes its
  training pairs, or reads below zero beyond noise), so the value says little about the MI;
- ``dependence``: one word, :func:`_verdict`;
- the warnings, in a fixed order: saturation, the step limit, a deterministic relation, a sample too small
  for the critic, a column pair far above the estimate, an MI beyond what the data can show (or SMILE near
  its clip level), then the quality checks (below zero, high variance, validation vs test, overfitting, a
  collapsed DV/NWJ/TUBA).

Example:
    >>> _verdict(mi=0.5, se=0.05, reliable=True, deterministic=False, pair_significant=False)
    'detected'
    >>> _verdict(mi=-0.4, se=0.05, reliable=False, deterministic=False, pair_significant=False)
    'inconclusive'
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from infomax.estimate.heldout import Evaluation
from infomax.estimate.params import EstimateParams, smile_hint
from infomax.estimate.relations import Relations
from infomax.estimate.training import Trained


class Diagnosis(NamedTuple):
    """:func:`diagnose`'s reading; the fields of the same names in ``MIEstimate``."""

    saturated: bool
    ceiling: float | None
    reliable: bool
    dependence: str
    warnings: list[str]


def diagnose(
    p: EstimateParams, trained: Trained, ev: Evaluation, n: int, n_train: int, dims: int, rel: Relations
) -> Diagnosis:
    """Flags and warnings for the held-out estimate ``ev`` of the critic ``trained`` (see the module).

    Args:
        p: the options; trained: the training stage; ev: the held-out stage.
        n: samples; n_train: training rows; dims: dx + dy input dimensions.
        rel: the exact relation and the column-pair check of the data.
    """
    bound, tau, eb, bs = p.bound, p.tau, ev.eval_batch_size, trained.batch_size
    history, best_step, relation, pair = trained.history, trained.best_step, rel.relation, rel.pair
    mi, se, train_last = ev.heldout.value, ev.heldout.stderr, trained.train_mi
    warnings: list[str] = []
    saturated, ceiling = False, None
    if bound == "infonce":
        ceiling = math.log(eb)
        train_ceiling = math.log(bs)
        # InfoNCE's bias grows as the MI nears log N: within 1 nat of the ceiling it is unreliable
        if mi > ceiling - 1.0 or train_last > train_ceiling - 1.0:
            saturated = True
            warnings.append(
                f"InfoNCE is pinned near its ceiling (held-out {mi:.3f} vs log N = {ceiling:.3f}; "
                f"training {train_last:.3f} vs log {bs} = {train_ceiling:.3f}): it is only a lower bound "
                "and the true MI is probably higher; use bound='smile' or larger batches"
            )
    limited = _sample_limited(history, best_step, mi, se)
    if not trained.stopped_early and not trained.diverged:
        advice = (
            "more steps would not help: the critic already memorizes its training pairs"
            if limited
            else "the estimate may be low: allow more steps (max_steps, CLI --steps)"
        )
        warnings.append(
            f"did not converge within {p.max_steps} steps (early stopping never triggered; best validation "
            f"at step {best_step}); {advice}"
        )
    if relation is not None:
        warnings.append(_deterministic_warning(relation, bound, n, eb))
    if limited:
        warnings.append(_sample_limited_warning(limited, n_train, dims))
    if relation is None and pair is not None:
        warnings.extend(_pair_warning(pair, mi, se))
    high = bound != "infonce" and math.isfinite(mi) and mi > math.log(eb) - 1.0
    if high:
        warnings.append(_high_mi_warning(bound, tau, mi, eb, n))
    elif bound == "smile" and tau is not None and math.isfinite(mi) and mi > tau - 1.0:
        warnings.append(
            f"the estimate ({mi:.2f} nats) is near or above SMILE's clip level tau={tau:g}, where SMILE is "
            "not a bound and is biased (either way); treat it as approximate, try a larger tau, and compare "
            "with bound='infonce' and a large batch (a lower bound)"
        )
    reliable = limited is None and math.isfinite(mi)
    dependence = _verdict(mi, se, reliable, relation is not None, bool(pair and pair["significant"]))
    if math.isfinite(mi):
        _quality_warnings(
            warnings, bound, mi, se, trained.best_val, history, best_step, dependence, limited is not None
        )
    return Diagnosis(saturated, ceiling, reliable, dependence, warnings)


# ------------------------------------------------------------------------------------- the checks


def _sample_limited(history: list[dict[str, float]], best_step: int, mi: float, se: float) -> str | None:
    """Why the held-out estimate says little about the MI (a critic that does not generalize), or None.

    Any of: at the kept step the training value exceeds the held-out one by more than max(0.3, |mi|)
    nats (more than double); during training it runs more than max(2, 2 |validation|) nats above the
    validation value (memorizing); the held-out value is below zero beyond noise (a critic that
    generalizes cannot do worse than the constant one, which reads 0).
    """
    if not math.isfinite(mi):
        return "the held-out estimate is not finite"
    at_best = [h for h in history if h["step"] == best_step]
    if at_best and math.isfinite(at_best[0]["train"]) and at_best[0]["train"] - mi > max(0.3, abs(mi)):
        return (
            f"at the kept step it reads {at_best[0]['train']:.2f} nats on its training pairs but {mi:.3f} "
            "held out"
        )
    finite = [h for h in history if math.isfinite(h["train"]) and math.isfinite(h["val"])]
    gaps = [(h["train"] - h["val"], h) for h in finite if h["train"] - h["val"] > max(2, 2 * abs(h["val"]))]
    if gaps:
        h = max(gaps, key=lambda g: g[0])[1]
        return (
            f"it goes on to read {h['train']:.2f} nats on its training pairs while validation reads "
            f"{h['val']:.3f} (step {int(h['step'])})"
        )
    if mi < -0.1 and (not math.isfinite(se) or mi + 2 * se < 0):
        return f"the held-out value ({mi:.3f} nats) is below zero beyond noise, worse than a constant critic"
    return None


def _verdict(mi: float, se: float, reliable: bool, deterministic: bool, pair_significant: bool) -> str:
    """``dependence``: what the estimate (and the column-pair check) supports, in one word."""
    if deterministic:
        return "deterministic"
    if pair_significant or (reliable and math.isfinite(mi) and math.isfinite(se) and mi - 2 * se > 0):
        return "detected"
    if not reliable or not math.isfinite(mi):
        return "inconclusive"
    return "none detected"


# ----------------------------------------------------------------------------------- the warnings


def _high_mi_warning(bound: str, tau: float | None, mi: float, eb: int, n: int) -> str:
    clip = (
        f"; SMILE above its clip level tau={tau:g} is not a bound either, so the value is approximate"
        if bound == "smile" and tau is not None and mi > tau - 1.0
        else ""
    )
    return (
        f"the estimate ({mi:.2f} nats) is near or above what this data can show: log(held-out batch "
        f"{eb}) = {math.log(eb):.2f}, log(n = {n}) = {math.log(n):.2f} nats. Batch-based MI estimates are "
        "capped near log(n) (McAllester & Stratos 2020) or limited by what the critic can learn, so the "
        "true MI may be far above this value; more samples and larger batches raise the cap" + clip
    )


def _pair_warning(pair: dict[str, Any], mi: float, se: float) -> list[str]:
    """A warning when one column pair alone shows far more dependence than the estimate."""
    margin = max(0.5, 3 * se) if math.isfinite(se) else 0.5
    if not pair["significant"] or (math.isfinite(mi) and pair["gaussian_mi_nats"] <= mi + margin):
        return []
    return [
        f"a single pair of columns (x column {pair['x_column']}, y column {pair['y_column']}) has rank "
        f"correlation {pair['rank_correlation']:.3f}: under a Gaussian copula that pair alone carries about "
        f"{pair['gaussian_mi_nats']:.2f} nats, far above the estimate ({mi:.3f} nats); I(X;Y) is at least "
        "the MI of any pair of its columns, so the estimate misses dependence that is there"
    ]


def _sample_limited_warning(why: str, n_train: int, dims: int) -> str:
    head = (
        f"the sample is too small for the dimension ({n_train} training pairs for {dims} input dimensions): "
        if n_train < 10 * dims
        else f"the critic does not generalize from {n_train} training pairs: "
    )
    return (
        head + f"the critic memorizes rather than learns ({why}). The held-out value says little about the "
        "MI: the true MI may be far higher, and a value near or below zero does NOT mean independence. "
        "To get a usable estimate, reduce the dimension (e.g. PCA to a few dozen components per variable; "
        "the MI of such projections is a lower bound on I(X;Y)), give more samples (many more than the "
        "dimension), or try a smaller critic (CLI --hidden 64)"
    )


def _deterministic_warning(relation: str, bound: str, n: int, eb: int) -> str:
    cap = (
        f"InfoNCE cannot exceed log(held-out batch {eb}) = {math.log(eb):.2f} nats"
        if bound == "infonce"
        else "batch-based bounds cannot show much more than that (McAllester & Stratos 2020)"
    )
    return (
        f"X and Y are deterministically related: {relation}, e.g. X against itself or a duplicated column. "
        "The mutual information of a continuous variable with an exact function of itself is infinite, so "
        "the reported value is only a lower bound, limited by the sample to at most about "
        f"log n = {math.log(n):.2f} nats; {cap}"
    )


def _quality_warnings(
    warnings: list[str],
    bound: str,
    mi: float,
    se: float,
    best_val: float,
    history: list[dict[str, float]],
    best_step: int,
    dependence: str,
    limited: bool,
) -> None:
    if mi < 0 and dependence == "none detected":  # only a critic that generalizes can say so
        warnings.append(
            f"the estimate is below zero ({mi:.3f} nats) but within noise of 0: no dependence detected (the "
            "critic found none it could generalize; this does not prove independence)"
        )
    if math.isfinite(se) and se > max(0.1, 0.1 * abs(mi)):
        warnings.append(f"high variance: standard error {se:.3f} nats" + smile_hint(bound))
    if math.isfinite(best_val) and abs(best_val - mi) > max(
        0.25, 0.2 * abs(mi), 4 * se if math.isfinite(se) else 0
    ):
        warnings.append(
            f"validation ({best_val:.3f}) and test ({mi:.3f}) estimates disagree: the estimate is unstable"
            + smile_hint(bound)
        )
    at_best = [h for h in history if h["step"] == best_step]
    if not limited and at_best and at_best[0]["train"] > mi + max(0.3, 0.3 * abs(mi)):
        warnings.append(
            f"the critic overfits (training {at_best[0]['train']:.3f} vs held-out {mi:.3f} nats): "
            "more samples would raise the estimate"
        )
    vals = [h["val"] for h in history]
    if bound in ("dv", "nwj", "tuba") and len(vals) >= 3 and math.isfinite(best_val):
        drop = best_val - min(v for v in vals[vals.index(best_val) :])
        if drop > max(1.0, 0.5 * abs(best_val)):
            warnings.append(
                f"the {bound} validation estimate collapsed by {drop:.2f} nats after step {best_step} "
                "(divergence); reporting the critic from before it" + smile_hint(bound)
            )
