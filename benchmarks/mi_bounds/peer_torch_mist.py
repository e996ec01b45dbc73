"""The torch-mist peer on the staircase; run by ``run.py`` with the peer venv's python (``.venv-peer``).

Same tasks and settings as run.py: infomax's sampler (PYTHONPATH=src) draws identical batches from the
same seed; Adam at the same learning rate; separable critic hidden_dims [256, 256, 32] (two hidden
layers of 256, 32-d output), joint ("concat") critic hidden_dims [256]; all other batch items as
negatives (``neg_samples=-1``). torch-mist has no plain DV estimator; its MINE (DV with the moving-
average gradient correction, gamma 0.9) is "mine", compared with run.py's "mine". Argument: one JSON
config; it runs the estimators of ``cfg["estimators"]`` that torch-mist has (default: all) for every seed
of ``cfg["seeds"]`` (or the single ``cfg["seed"]``): torch.manual_seed(seed), data from seed + 1.

The estimate of a step is the bound on that step's batch before the update (run.py's default: the value
of the training forward), or after it with ``cfg["estimate_after_step"]``. torch-mist 0.2.17 caches the
critic's positive scores (``unnormalized_log_ratio`` is a ``cached_method`` keyed on equal x, y) and
drops that cache only from a module backward hook, which ``est.loss(x, y).backward()`` never fires; so a
``mutual_information(x, y)`` after the update would combine the positives' scores of the critic *before*
the update with the negatives' scores after it, and one before ``loss`` would hand ``loss`` positives
computed without gradients. This script drops the cache (``delete_cache_hook``) before every call;
every results directory except ``results-seeds`` was recorded before this and carries the mixed estimate.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import torch
from torch_mist.estimators.discriminative import factories as F
from torch_mist.utils.caching import delete_cache_hook

# infomax's own sampler, loaded from its file: the infomax.data package needs numpy 2, torch-mist numpy 1.
_SYN = Path(__file__).resolve().parents[2] / "src" / "infomax" / "data" / "synthetic.py"
_spec = importlib.util.spec_from_file_location("_infomax_synthetic", _SYN)
_syn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_syn)
mi_to_rho, sample_correlated_gaussian = _syn.mi_to_rho, _syn.sample_correlated_gaussian

ESTIMATORS = {
    "infonce": lambda kw: F.infonce(**kw),
    "nwj": lambda kw: F.nwj(**kw),
    "mine": lambda kw: F.mine(**kw),
    "tuba": lambda kw: F.tuba(**kw),
    "jsd": lambda kw: F.js(**kw),
    "smile_1": lambda kw: F.smile(tau=1.0, **kw),
    "smile_5": lambda kw: F.smile(tau=5.0, **kw),
    "smile_inf": lambda kw: F.smile(tau=1e30, **kw),
}


def main() -> None:
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(1)
    d, spl, levels = cfg["dim"], cfg["steps_per_level"], cfg["levels"]
    results = []
    raw = Path(cfg["raw"])
    names = [n for n in cfg.get("estimators", ESTIMATORS) if n in ESTIMATORS]
    seeds = cfg.get("seeds", [cfg.get("seed", 0)])
    after = bool(cfg.get("estimate_after_step", False))
    runs = [(b, c, t, n, s) for b, c, t in cfg["configs"] for n in names for s in seeds]  # run.py's order
    for batch, critic, task, name, seed in runs:
        make = ESTIMATORS[name]
        path = raw / f"torch-mist_{task}_b{batch}_{critic}_{name}_spl{spl}_seed{seed}.json"
        if path.exists():  # finished by an earlier, interrupted run
            results.append({"seed": seed, **json.loads(path.read_text())})
            continue
        torch.manual_seed(seed)
        kw = {"x_dim": d, "y_dim": d, "neg_samples": -1}
        if critic == "separable":
            kw.update(critic_type="separable", hidden_dims=[256, 256, 32])
        else:
            kw.update(critic_type="joint", hidden_dims=[256])
        est = make(kw)
        opt = torch.optim.Adam(est.parameters(), lr=cfg["lr"])
        gen = torch.Generator().manual_seed(seed + 1)
        values = []
        sec = 0.0
        for step in range(spl * len(levels)):
            t0 = time.perf_counter()  # timed: sampling + loss + backward + step
            mi = levels[step // spl]
            x, y = sample_correlated_gaussian(
                batch,
                d,
                mi_to_rho(mi, d),
                generator=gen,
                transform="cube" if task == "cubic" else "identity",
            )
            untimed = 0.0
            if not after:  # the bound on this batch before the update (run.py's default protocol)
                te = time.perf_counter()
                delete_cache_hook(est)
                with torch.no_grad():
                    v = float(est.mutual_information(x, y))
                untimed = time.perf_counter() - te
            delete_cache_hook(est)  # see the module docstring: a stale cache would mix two critics
            loss = est.loss(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sec += time.perf_counter() - t0 - untimed
            if after:  # --estimate-after-step: the bound on the same batch after the update
                delete_cache_hook(est)
                with torch.no_grad():
                    v = float(est.mutual_information(x, y))
            values.append(v if v == v and abs(v) != float("inf") else None)
        sec /= spl * len(levels)
        r = {
            "task": task,
            "batch": batch,
            "critic": critic,
            "estimator": name,
            "seed": seed,
            "estimates": values,
            "sec_per_step": sec,
        }
        results.append(r)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(r))
        tmp.replace(path)
        print(
            f"torch-mist {task} b={batch} {critic} {name} seed {seed}: {1e3 * sec:.2f} ms/step",
            file=sys.stderr,
            flush=True,
        )
    with open(cfg["out"], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
