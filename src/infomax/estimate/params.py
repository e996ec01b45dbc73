"""The settings of :func:`~infomax.estimate.estimate_mi`: every option, its default and its valid range.

:class:`EstimateParams` is the one place each option is declared. ``estimate_mi`` takes its defaults from
the class attributes (``EstimateParams.max_steps`` is 4000) and builds one instance per call, so a bad
value raises a one-line :class:`~infomax.errors.UserError` before any data is read.

Example:
    >>> p = EstimateParams(bound="nwj", max_steps=300)
    >>> p.method, p.bound, p.max_steps, p.batch_size
    ('auto', 'nwj', 300, 256)
    >>> EstimateParams(batch_size=1)
    Traceback (most recent call last):
    ...
    infomax.errors.UserError: batch_size must be >= 2, got 1
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from infomax.errors import UserError

if TYPE_CHECKING:
    import torch

#: Estimators ``estimate_mi`` offers: name -> what is trained and what is reported.
ESTIMATOR_BOUNDS: dict[str, str] = {
    "smile": "SMILE(tau): reported clipped DV value, trained with the JSD gradient (Song & Ermon 2020)",
    "nwj": "NWJ lower bound (Nguyen, Wainwright & Jordan 2010)",
    "dv": "Donsker-Varadhan lower bound (MINE without the moving average)",
    "infonce": "InfoNCE lower bound, capped at log(batch size) (van den Oord et al. 2018)",
    "tuba": "TUBA with a learned baseline a(y) (Poole et al. 2019)",
    "jsd": "trained with Jensen-Shannon (Deep InfoMax), reported as NWJ on the shifted critic",
}
#: Estimator families ``estimate_mi`` offers: name -> what is reported.
METHODS: dict[str, str] = {
    "auto": "the largest of the Gaussian-copula MI, KSG on the rank-Gaussianized and on the standardized "
    "data (dx + dy <= 20), the radial KSG (KSG between the two sides' norms), the trained critic's value "
    "and, when dx + dy > 20, the critic's value on each side's canonical directions",
    "quick": "the largest of the Gaussian-copula MI, the two KSG readings (dx + dy <= 20) and the radial "
    "KSG: no critic, about a second",
    "critic": "the trained critic's held-out bound only (the bound option)",
    "ksg": "KSG (Kraskov et al. 2004, k = 5) on the rank-Gaussianized data only",
    "gaussian": "the bias-corrected Gaussian-copula MI only (exact for Gaussians under monotone maps)",
}
#: Critics ``estimate_mi`` can build (infomax.critics names).
ESTIMATOR_CRITICS: tuple[str, ...] = ("separable", "concat", "bilinear")
#: Input preprocessing options.
PREPROCESS: tuple[str, ...] = ("rank", "standardize", "none")
#: The critic's hidden activations (``infomax.critics._mlp.ACTIVATIONS``' names).
ACTIVATION_NAMES: tuple[str, ...] = ("gelu", "relu", "elu", "leaky_relu", "tanh", "softplus")

MIN_SAMPLES = 20  # below this nothing sensible can be split into train/validation/test

#: Held-out batches evaluated at least (whole random partitions of the test split; >= 30 keeps the
#: standard error itself stable: its relative noise is about 1 / sqrt(2 * 32) = 12.5%).
N_EVAL_BATCHES = 32


#: The separable critic's default hidden layers: four of 128. Deeper than (256, 256), about as fast, and
#: better at the norm-dependent rotations of the Beyond-Normal spirals (development seed 0 of
#: benchmarks/estimate/: 0.87-0.92 against 0.78-0.85 of a true 1.02 nats, with the radial feature).
SEPARABLE_HIDDEN = (128, 128, 128, 128)
#: The concat critic's default hidden layers.
CONCAT_HIDDEN = (256, 256)


@dataclass(frozen=True)
class EstimateParams:
    """Every option of :func:`~infomax.estimate.estimate_mi`, checked when the instance is made.

    Attributes:
        method: "auto" (default), "quick", "critic", "ksg" or "gaussian" (see ``METHODS``); the critic
            options below matter for "auto" and "critic" only.
        bound: "smile" (default), "nwj", "dv", "infonce", "tuba" or "jsd" (see ``ESTIMATOR_BOUNDS``).
        critic: "separable" (default, g(x)^T h(y)), "concat" (MLP on [x, y] for every pair; slower),
            or "bilinear" (x^T W y).
        tau: SMILE's clip level (None = plain DV); ignored by the other bounds. > 0.
        preprocess: "rank" (default: each column -> standard normal through its ranks, which keeps MI
            and tames long tails), "standardize" (z-score) or "none".
        batch_size: training batch (>= 2); each positive gets ``batch_size - 1`` negatives. InfoNCE's
            training value is capped at log(batch_size).
        max_steps: optimisation steps at most (>= 1).
        lr, weight_decay: Adam settings (lr > 0, weight_decay >= 0).
        hidden: critic hidden layer sizes (default None: (128, 128, 128, 128) for the separable critic,
            (256, 256) for the concat one); each >= 1.
        embed_dim: separable critic's embedding size (>= 1).
        activation: the separable and concat critics' hidden activation (default "gelu"; see
            ``ACTIVATION_NAMES``). GELU's smooth units read the norm-dependent rotations of the
            Beyond-Normal spirals better than ReLU (development seeds 0-1, the critic alone on the 3x3 and
            5x5 spirals: 0.90 of the truth against 0.86; BENCHMARKS.md, estimate).
        ema: decay of the moving average of the critic's weights that validation reads and the result
            keeps (Polyak averaging; 0 = the trained weights themselves). In [0, 1).
        radial: with ``preprocess="rank"``, append to each side of two or more columns its radial feature
            (:func:`~infomax.estimate.data.radial_feature`, the rank-Gaussianized norm of the robustly
            standardized row) to the critic's input: a function of the row, so the MI is unchanged, and a
            shared scale (Student-t) or a norm-dependent rotation (spirals) becomes easy to read.
        score_map: width of a learned scalar map the critic's scores pass through
            (:class:`~infomax.critics.ScoreMap`: s + phi(s), the identity at the start); 0 (default) =
            none. A separable critic cannot write log((1 - pi) r(x, y) + pi), the log ratio when a share
            pi of the pairs is independent; a scalar map of its score can. Opt-in: on bmi's 25 x 25 mixtures
            with 20% / 50% independent pairs (development seeds 0-1) ``score_map=16`` read 0.81-0.93 of
            the truth where the default read 0.70-0.90, but it made no difference on the 40 Beyond-Normal
            tasks (74 / 80 within 10% either way) at 1.7x the CPU time (BENCHMARKS.md, estimate).
        dropout: dropout after every hidden activation of the critic, in [0, 1) (0: none); active while
            training only (validation, the test reading and the diagnostics' held-out values use the
            whole network; the training values in ``history`` are read with dropout on).
        test_fraction, val_fraction: shares of the rows held out for the test and validation splits, each
            in (0, 1), together < 1.
        eval_every: steps between validation checks (>= 1).
        patience: validation checks without improvement before stopping (>= 1).
        eval_batch_size: held-out batch size (default None: max(batch_size, n_test // 10), at most
            n_test // 2); InfoNCE's held-out value is capped at log(eval_batch_size). >= 2.
        n_eval_batches: held-out batches to evaluate at least (default 32; rounded up to whole
            partitions). >= 2.
        seed: seeds the split, the batches, the critic's initialisation and the held-out partitions (the
            global RNG is left as it was).
        device: torch device for the critic; checked by :meth:`torch_device` when the estimate runs (it
            depends on the machine, not on the option).
        progress: show a tqdm progress bar on stderr.

    Raises:
        UserError: an unknown bound/critic/preprocess name or an option out of its range.
    """

    bound: str = "smile"
    critic: str = "separable"
    method: str = "auto"
    tau: float | None = 5.0
    preprocess: str = "rank"
    batch_size: int = 256
    max_steps: int = 4000
    lr: float = 5e-4
    weight_decay: float = 0.0
    hidden: tuple[int, ...] | None = None
    embed_dim: int = 32
    activation: str = "gelu"
    ema: float = 0.99
    radial: bool = True
    score_map: int = 0
    dropout: float = 0.0
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    eval_every: int = 100
    patience: int = 8
    eval_batch_size: int | None = None
    n_eval_batches: int = N_EVAL_BATCHES
    seed: int = 0
    device: str | torch.device = "cpu"
    progress: bool = True

    def __post_init__(self) -> None:
        named: tuple[tuple[str, str, Collection[str]], ...] = (
            ("method", self.method, METHODS),
            ("bound", self.bound, ESTIMATOR_BOUNDS),
            ("critic", self.critic, ESTIMATOR_CRITICS),
            ("preprocess", self.preprocess, PREPROCESS),
            ("activation", self.activation, ACTIVATION_NAMES),
        )
        for name, value, choices in named:
            if value not in choices:
                raise UserError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")
        for ok, msg in self._range_checks():
            if not ok:
                raise UserError(msg)

    def _range_checks(self) -> list[tuple[bool, str]]:
        """(holds, message) for every numeric option, in the order they are reported."""
        tau, lr, wd, hidden = self.tau, self.lr, self.weight_decay, self.hidden
        tf, vf, eb = self.test_fraction, self.val_fraction, self.eval_batch_size
        return [
            (tau is None or (math.isfinite(tau) and tau > 0), f"tau must be > 0 or None, got {tau}"),
            (self.batch_size >= 2, f"batch_size must be >= 2, got {self.batch_size}"),
            (self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}"),
            (math.isfinite(lr) and lr > 0, f"lr must be a positive number, got {lr}"),
            (math.isfinite(wd) and wd >= 0, f"weight_decay must be >= 0, got {wd}"),
            (0 < tf < 1, f"test_fraction must be in (0, 1), got {tf}"),
            (0 < vf < 1, f"val_fraction must be in (0, 1), got {vf}"),
            (tf + vf < 1, "test_fraction + val_fraction must be < 1"),
            (self.eval_every >= 1, f"eval_every must be >= 1, got {self.eval_every}"),
            (self.patience >= 1, f"patience must be >= 1, got {self.patience}"),
            (eb is None or eb >= 2, f"eval_batch_size must be >= 2, got {eb}"),
            (self.n_eval_batches >= 2, f"n_eval_batches must be >= 2, got {self.n_eval_batches}"),
            (self.embed_dim >= 1, f"embed_dim must be >= 1, got {self.embed_dim}"),
            (math.isfinite(self.ema) and 0 <= self.ema < 1, f"ema must be in [0, 1), got {self.ema}"),
            (hidden is None or all(h >= 1 for h in hidden), f"hidden sizes must be >= 1, got {hidden}"),
            (self.score_map >= 0, f"score_map must be >= 0, got {self.score_map}"),
            (
                math.isfinite(self.dropout) and 0 <= self.dropout < 1,
                f"dropout must be in [0, 1), got {self.dropout}",
            ),
        ]

    def as_record(self) -> dict[str, object]:
        """Every option as JSON-able values (``hidden`` a list, ``device`` its name), ``progress`` left out.

        Example:
            >>> r = EstimateParams(score_map=16, hidden=(64, 64)).as_record()
            >>> r["score_map"], r["hidden"], r["device"], "progress" in r
            (16, [64, 64], 'cpu', False)
        """
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "progress"}
        out["device"] = str(self.device)
        out["hidden"] = None if self.hidden is None else list(self.hidden)
        return out

    def torch_device(self) -> torch.device:
        """``device`` as a ``torch.device``; UserError if it is unknown or CUDA is asked for but absent."""
        import torch

        try:
            dev = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise UserError(f"unknown device {self.device!r}; use cpu or cuda") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UserError("device cuda requested but no CUDA device is available")
        return dev


def smile_hint(bound: str) -> str:
    """The advice appended to a warning about an unstable bound (empty for SMILE and InfoNCE)."""
    return "; bound='smile' is more stable" if bound in ("dv", "nwj", "tuba", "jsd") else ""
