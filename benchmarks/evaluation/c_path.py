"""CPU time of the linear protocol's C selection on fixed features (no encoder): 10 classes, Gaussian class
clusters in D dims that overlap (not separable, as real features), N train / 1000 val / 2000 test, C in
(0.01, 0.1, 1). Run with PYTHONPATH set to each source tree in turn (before / after):

    PYTHONPATH=OLD/src python benchmarks/evaluation/c_path.py --label before
    PYTHONPATH=NEW/src python benchmarks/evaluation/c_path.py --label after
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def sample(rng: np.random.Generator, centres: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points (n, D) around random class centres, labels (n,)."""
    y = rng.integers(0, len(centres), n)
    return (centres[y] + rng.normal(size=(n, centres.shape[1]))).astype(np.float32), y


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--label", default="")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--dims", type=int, nargs="+", default=[64, 1024])
    args = p.parse_args()
    torch.set_num_threads(1)
    from infomax.evaluation.linear_probe import LinearProbe
    from infomax.evaluation.protocols import _c_selected

    LinearProbe(1.0, 5).fit(np.eye(4), np.arange(4) % 2)  # the one-time import of torch.optim's machinery
    for d in args.dims:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(10, d)) * 2.0 / np.sqrt(d)  # about 2.8 apart
        sizes = {"train": args.n, "val": 1000, "test": 2000}
        data = {name: sample(rng, centres, n) for name, n in sizes.items()}
        c0, w0 = time.process_time(), time.perf_counter()
        out = _c_selected("linear", lambda c: LinearProbe(c, 500), (0.01, 0.1, 1.0), "x", data)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        print(f"| {args.label} | {args.n} x {d} | {cpu:.1f} | {wall:.1f} | C={out['C']} "
              f"test {out['accuracy']:.4f} val {out['val_accuracy']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
