"""Shows torch-mist 0.2.17's stale score cache, the reason ``peer_torch_mist.py`` drops it before every call.

Run with the peer's python (see README.md for ``.venv-peer``)::

    PYTHONPATH=src benchmarks/mi_bounds/.venv-peer/bin/python benchmarks/mi_bounds/check_peer_cache.py

For each of torch-mist's ``tuba``, ``mine`` and ``js`` estimators (separable critic, the staircase's first
level, 30 training steps) it prints the largest difference between the positive scores that
``unnormalized_log_ratio`` returns after an update (the cached ones) and the critic's scores recomputed
from the updated weights: non-zero means a ``mutual_information`` call after ``loss().backward();
opt.step()`` mixes two critics. The same after ``delete_cache_hook`` is printed as the check of the fix.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch_mist.estimators.discriminative import factories as F
from torch_mist.utils.caching import delete_cache_hook

_SYN = Path(__file__).resolve().parents[2] / "src" / "infomax" / "data" / "synthetic.py"
_spec = importlib.util.spec_from_file_location("_infomax_synthetic", _SYN)
_syn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_syn)


def stale_gap(name: str, drop_cache: bool, steps: int = 30, d: int = 20) -> float:
    torch.manual_seed(0)
    est = getattr(F, name)(x_dim=d, y_dim=d, neg_samples=-1, critic_type="separable",
                           hidden_dims=[256, 256, 32])
    opt = torch.optim.Adam(est.parameters(), lr=5e-4)
    gen = torch.Generator().manual_seed(1)
    gap = 0.0
    for _ in range(steps):
        x, y = _syn.sample_correlated_gaussian(64, d, _syn.mi_to_rho(2.0, d), generator=gen)
        loss = est.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if drop_cache:
            delete_cache_hook(est)
        with torch.no_grad():
            cached = est.unnormalized_log_ratio(x, y)
            fresh = est.critic(x, y)
        gap = float((cached.detach() - fresh).abs().max())
    return gap


def main() -> None:
    torch.set_num_threads(1)
    steps = 30
    for name in ("tuba", "mine", "js"):
        kept, dropped = stale_gap(name, False, steps), stale_gap(name, True, steps)
        print(f"{name}: max |cached - fresh| positive score after {steps} steps: "
              f"{kept:.4f} (cache kept), {dropped:.4f} (cache dropped)")


if __name__ == "__main__":
    main()
