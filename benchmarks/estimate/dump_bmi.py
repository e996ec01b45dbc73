"""Dump the 40 Beyond-Normal tasks (bmi 0.1.3) as seeded samples + true MI, one .npz per task and seed.

Runs under a separate virtualenv that has ``benchmark-mi==0.1.3`` and JAX (never the project's), e.g.:

    python3 -m venv <venvs>/bmi
    <venvs>/bmi/bin/pip install "benchmark-mi==0.1.3" "jax[cpu]==0.4.26" "jaxlib==0.4.26" "numpy<2"
    <venvs>/bmi/bin/python benchmarks/estimate/dump_bmi.py --out <cache>/bmi --n 5000 --seeds 0,1,2

Each file ``<out>/n<N>/s<seed>/<task id>.npz`` holds ``x`` (N, dx), ``y`` (N, dy), ``mi`` (true MI, nats),
``name`` and ``task`` (strings). ``<out>/tasks.csv`` lists the tasks (id, name, dx, dy, true MI).

``--mixtures`` dumps instead the bmi package's mixture tasks, which are not among the 40 (Czyz et al.,
"On the properties and estimation of pointwise mutual information profiles", 2023): X and AI (1 x 1),
Galaxy and Waves (2 x 1), concentric Gaussians (3 x 1, 5 x 1) and sparse Gaussians with 20% / 50%
independent inliers (5 x 5, 25 x 25). Their true MI is bmi's Monte Carlo value (the mean pointwise MI
of 100,000 samples), listed in ``<out>/tasks-mixtures.csv``:

    <venvs>/bmi/bin/python benchmarks/estimate/dump_bmi.py --out <cache>/mixtures --n 5000 --seeds 0 \
        --mixtures
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="cache directory (outside the repository)")
    ap.add_argument("--n", type=int, default=5000, help="samples per task (default 5000)")
    ap.add_argument("--seeds", default="0", help="comma-separated sampling seeds (default 0)")
    ap.add_argument("--tasks", default="", help="comma-separated task ids (default: all 40)")
    ap.add_argument("--mixtures", action="store_true", help="the mixture tasks instead of the 40 (see above)")
    args = ap.parse_args()
    import bmi

    tasks = mixture_tasks() if args.mixtures else bmi.benchmark.BENCHMARK_TASKS
    ids = [t for t in args.tasks.split(",") if t] or list(tasks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ("tasks-mixtures.csv" if args.mixtures else "tasks.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "name", "dx", "dy", "mi"])
        for k, t in tasks.items():
            w.writerow([k, t.name, t.dim_x, t.dim_y, f"{t.mutual_information:.6f}"])
    for seed in (int(s) for s in args.seeds.split(",")):
        d = out / f"n{args.n}" / f"s{seed}"
        d.mkdir(parents=True, exist_ok=True)
        for k in ids:
            t = tasks[k]
            x, y = t.sample(args.n, seed=seed)
            tmp = d / f".{k}.tmp.npz"
            np.savez(tmp, x=np.asarray(x, np.float64), y=np.asarray(y, np.float64),
                     mi=np.float64(t.mutual_information), name=np.str_(t.name), task=np.str_(k))
            os.replace(tmp, d / f"{k}.npz")
            print(seed, k, flush=True)


def mixture_tasks() -> dict:
    """bmi's mixture tasks by id (their MI is a Monte Carlo value, computed when first asked for)."""
    from bmi.benchmark import tasks as T

    made = [
        T.task_x(),
        T.task_ai(),
        T.task_galaxy(),
        T.task_waves(),
        T.task_concentric_multinormal(dim_x=3),
        T.task_concentric_multinormal(dim_x=5),
        T.task_multinormal_sparse_w_inliers(5, 5, inlier_fraction=0.2),
        T.task_multinormal_sparse_w_inliers(5, 5, inlier_fraction=0.5),
        T.task_multinormal_sparse_w_inliers(25, 25, inlier_fraction=0.2),
        T.task_multinormal_sparse_w_inliers(25, 25, inlier_fraction=0.5),
    ]
    return {t.id: t for t in made}


if __name__ == "__main__":
    main()
