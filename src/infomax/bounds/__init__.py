"""MI bounds: pure functions of a critic score matrix ``scores`` (N, M), ``scores[i, j] = T(x_i, y_j)``,
positives on the diagonal unless a boolean ``pos_mask`` (N, M) says otherwise; scalar results in nats.

Contrastive bounds share the options ``pos_mask``, ``n_negatives`` (use only n sampled negatives per
positive), ``chunk_size`` (row blocks, O(N) autograd memory) and ``generator`` (RNG for the sampling).
``scores`` may also be a :class:`ScoreRows` (critic + inputs) so chunks are scored on demand; see
:func:`chunked`.

``BOUNDS`` maps names to the bounds on a score matrix, each called as ``fn(scores, **kw)``.

Example:
    >>> import torch
    >>> from infomax.bounds import BOUNDS
    >>> s = torch.randn(8, 8)
    >>> bool(BOUNDS["infonce"](s) <= torch.log(torch.tensor(8.0)))
    True
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from infomax.bounds._reduce import ScoreRows
from infomax.bounds.barber_agakov import barber_agakov, gaussian_log_likelihood, hybrid_bound
from infomax.bounds.chunked import chunked
from infomax.bounds.discrete import discrete_mi, pairwise_independence
from infomax.bounds.dv import dv
from infomax.bounds.infonce import infonce
from infomax.bounds.interpolated import interpolated_nce
from infomax.bounds.jsd import jsd
from infomax.bounds.mine import MINE
from infomax.bounds.nwj import nwj
from infomax.bounds.smile import smile
from infomax.bounds.train_report import train_report
from infomax.bounds.tuba import tuba

#: name -> bound ``fn(scores, **kw) -> scalar`` (nats).
BOUNDS: dict[str, Callable[..., Tensor]] = {
    "infonce": infonce,
    "nwj": nwj,
    "dv": dv,
    "tuba": tuba,
    "smile": smile,
    "jsd": jsd,
    "interpolated": interpolated_nce,
}

__all__ = [
    "BOUNDS",
    "MINE",
    "ScoreRows",
    "barber_agakov",
    "chunked",
    "discrete_mi",
    "gaussian_log_likelihood",
    "hybrid_bound",
    "interpolated_nce",
    "dv",
    "infonce",
    "jsd",
    "nwj",
    "pairwise_independence",
    "smile",
    "train_report",
    "tuba",
]
