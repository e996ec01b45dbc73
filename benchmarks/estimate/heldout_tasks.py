"""Coverage and error of ``estimate_mi`` defaults on known-MI tasks outside the Beyond-Normal suite.

Tasks (infomax.data.synthetic, N = 5,000): correlated Gaussians d = 1, 3, 10, 20 per side at true MI
0.5, 1, 2, 4 nats, and Student-t pairs (d = 2, 4; dof 3, 5; rho from mi_to_rho(1.0, d)). Writes a csv
and prints the summary (MAE, within 10%, coverage of the 90% interval, seconds per task).

    PYTHONPATH=src python benchmarks/estimate/heldout_tasks.py --seeds 0 --out benchmarks/estimate/results

With ``--dump DIR`` it estimates nothing and writes those tasks and harder ones (``--extended``: the
staircase's upper steps, 6 / 8 / 10 nats at d = 20; the dependence in 2 of 50 columns; D = 100 and 1,000
columns per side at 1 nat; the half-cube map y -> sign(y)|y|^1.5 of both sides) as
``DIR/n<N>/s<seed>/<task>.npz`` in ``dump_bmi.py``'s format (x, y, mi, name, task), so ``run.py``, the
peers' runners and ``report.py --suite`` take them exactly as they take the Beyond-Normal suite:

    PYTHONPATH=src python benchmarks/estimate/heldout_tasks.py --seeds 0 --extended --dump <cache>/own
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch
from report import within10  # this directory's report.py: the suite's hit rule


def tasks(extended: bool = False):
    from infomax.data.synthetic import mi_to_rho, student_t_mi

    for d in (1, 3, 10, 20):
        for mi in (0.5, 1.0, 2.0, 4.0):
            yield f"gauss-d{d}-mi{mi}", ("gauss", d, mi_to_rho(mi, d), None), mi
    for d in (2, 4):
        for dof in (3.0, 5.0):
            rho = mi_to_rho(1.0, d)
            yield f"student-d{d}-dof{dof:g}", ("student", d, rho, dof), student_t_mi(rho, d, dof)
    if not extended:
        return
    for mi in (6.0, 8.0, 10.0):  # the staircase's upper steps (2 and 4 nats are above)
        yield f"gauss-d20-mi{mi}", ("gauss", 20, mi_to_rho(mi, 20), None), mi
    sparse = [mi_to_rho(1.0, 2)] * 2 + [0.0] * 48  # two dependent column pairs, 48 independent ones
    yield "sparse-2of50-mi1.0", ("gauss", 50, sparse, None), 1.0
    for d in (100, 1000):
        yield f"gauss-d{d}-mi1.0", ("gauss", d, mi_to_rho(1.0, d), None), 1.0
    yield "halfcube-d3-mi1.0", ("halfcube", 3, mi_to_rho(1.0, 3), None), 1.0


def sample(spec, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from infomax.data.synthetic import sample_correlated_gaussian_np, sample_student_t

    kind, d, rho, dof = spec
    if kind == "gauss":
        return sample_correlated_gaussian_np(n, d, rho, seed=seed)
    if kind == "halfcube":  # an invertible map of each column: the MI is the Gaussian's
        x, y = sample_correlated_gaussian_np(n, d, rho, seed=seed)
        return np.sign(x) * np.abs(x) ** 1.5, np.sign(y) * np.abs(y) ** 1.5
    gen = torch.Generator().manual_seed(seed)
    x, y = sample_student_t(n, d, rho, dof, generator=gen, dtype=torch.float64)
    return x.numpy(), y.numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--method", default="auto")
    ap.add_argument("--out", help="directory for the csv (estimate mode)")
    ap.add_argument("--dump", help="write the tasks' samples here (dump_bmi.py's format); no estimates")
    ap.add_argument("--extended", action="store_true", help="add the harder tasks (see the module)")
    args = ap.parse_args()
    if args.dump:
        return dump(Path(args.dump), args.n, args.seeds, args.extended)
    if not args.out:
        ap.error("--out is required unless --dump is given")
    from infomax.estimate import estimate_mi

    torch.set_num_threads(1)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for name, spec, truth in tasks(args.extended):
            x, y = sample(spec, args.n, 1000 + seed)
            t0 = time.perf_counter()
            e = estimate_mi(x, y, method=args.method, seed=seed, progress=False)
            sec = time.perf_counter() - t0
            lo, hi = e.interval_nats
            rows.append({"task": name, "seed": seed, "truth": truth, "estimate": e.mi_nats, "low": lo,
                         "high": hi, "chosen": e.chosen, "seconds": round(sec, 2)})
            print(f"{name:24s} truth {truth:.3f} est {e.mi_nats:.3f} [{lo:.3f}, {hi:.3f}] {e.chosen} "
                  f"{sec:.1f}s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.method}{'_extended' if args.extended else ''}_s{args.seeds.replace(',', '-')}"
    with open(out / f"heldout_tasks_{tag}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    err = [abs(r["estimate"] - r["truth"]) for r in rows]
    cov = sum(r["low"] <= r["truth"] <= r["high"] for r in rows)
    within = sum(within10(r["estimate"], r["truth"]) for r in rows)
    print(f"tasks {len(rows)}  MAE {np.mean(err):.4f}  within 10% {within}  90% interval covers "
          f"{cov}/{len(rows)}  s/task {np.mean([r['seconds'] for r in rows]):.1f}")


def dump(out: Path, n: int, seeds: str, extended: bool) -> None:
    """Each task's samples (the estimate mode's: sampling seed 1000 + seed) as
    ``out/n<n>/s<seed>/<task>.npz``."""
    for seed in (int(s) for s in seeds.split(",")):
        d = out / f"n{n}" / f"s{seed}"
        d.mkdir(parents=True, exist_ok=True)
        for name, spec, truth in tasks(extended):
            x, y = sample(spec, n, 1000 + seed)
            tmp = d / f".{name}.tmp.npz"
            np.savez(tmp, x=np.asarray(x, np.float64), y=np.asarray(y, np.float64), mi=np.float64(truth),
                     name=np.str_(name), task=np.str_(name))
            os.replace(tmp, d / f"{name}.npz")
            print(seed, name, flush=True)


if __name__ == "__main__":
    main()
