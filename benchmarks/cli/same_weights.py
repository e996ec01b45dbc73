"""Did a change alter training? Train presets for a few steps with two source trees, compare the weights.

Each preset trains ``--steps`` batches (batch 32, one thread, no baselines) once with each tree's
``src/`` on ``PYTHONPATH`` (e.g. a ``git worktree`` of the commit before a refactor, and this checkout);
the exported ``model.safetensors`` must be equal tensor for tensor (CPU results are bit-identical at the
same thread count).

Example::

    git worktree add /tmp/base a0d5733
    python benchmarks/cli/same_weights.py --base /tmp/base --new .
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: (preset, data): one per method and the DIM variants with their own terms.
PRESETS = [("dim-l-noprior", "digits"), ("dim-l-cross", "digits"), ("dim-lg-prior", "digits"),
           ("dim-l-coord", "digits"), ("moco", "digits"), ("hybrid", "digits"), ("dimco-fashion", "digits"),
           ("mv-mlp-bilinear-infonce", "digits"), ("cpc", "cifar10"), ("amdim", "cifar10")]


def train(tree: Path, preset: str, data: str, steps: int, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    cmd = [sys.executable, "-m", "infomax", "train", preset, "--data", data, "--max-epochs", "1", "--set",
           f"limit_train_batches={steps}", "--set", "batch_size=32", "--threads", "1", "--no-baselines",
           "--out", str(out)]
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="the tree before the change")
    ap.add_argument("--new", type=Path, default=Path("."), help="the tree after it")
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args(argv)
    import torch
    from safetensors.torch import load_file

    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for preset, data in PRESETS:
            runs = []
            for name, tree in (("base", args.base), ("new", args.new)):
                out = Path(tmp) / name / preset
                train(tree.resolve(), preset, data, args.steps, out)
                runs.append(load_file(str(out / "model.safetensors")))
            a, b = runs
            same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
            differ += not same
            print(f"{preset:28s} {'identical' if same else 'DIFFERENT'} ({len(a)} tensors)")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
