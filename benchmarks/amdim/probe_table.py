"""Linear and MLP probe accuracy on CIFAR-10 for AMDIM, its ablations, CPC and DIM(L), at a small CPU budget.

Every variant is one preset of ``infomax.methods.amdim`` / ``infomax.methods.cpc`` built with
``build(cfg, info)``, trained for ``--steps`` Adam steps (lr ``--lr``, batch ``--batch``) on CIFAR-10's train
split in a fixed order, then frozen; its representation (AMDIM: ``f1``; CPC / DIM(L): ``pooled``) is probed
with :class:`infomax.evaluation.LinearProbe` and :class:`infomax.evaluation.MLPProbe` fit on
``--probe-train`` random train images and scored on ``--probe-test`` random test images (fixed seed).
``random-*`` rows are the untrained encoders (step 0) of the same architectures.
Writes a CSV and a Markdown table.

    INFOMAX_DATA=/path/to/data python benchmarks/amdim/probe_table.py --steps 30 --batch 32 \
        --out benchmarks/amdim/results
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

from infomax.config import TrainConfig, apply_overrides
from infomax.data import load_dataset
from infomax.evaluation import LinearProbe, MLPProbe, extract_features
from infomax.methods import amdim, cpc

VARIANTS = {
    "random-amdim": (amdim, "amdim", 0),
    "amdim": (amdim, "amdim", None),
    "amdim-no-jitter": (amdim, "amdim-no-jitter", None),
    "amdim-no-gray": (amdim, "amdim-no-gray", None),
    "amdim-no-crop": (amdim, "amdim-no-crop", None),
    "amdim-single-scale": (amdim, "amdim-single-scale", None),
    "amdim-no-stabilize": (amdim, "amdim-no-stabilize", None),
    "amdim-strong-aug": (amdim, "amdim-strong-aug", None),
    "amdim-mixture": (amdim, "amdim-mixture", None),
    "random-patch": (cpc, "cpc", 0),
    "cpc": (cpc, "cpc", None),
    "cpc-dim-l": (cpc, "cpc-dim-l", None),
    "cpc-dim-l-multiglobal": (cpc, "cpc-dim-l-multiglobal", None),
}


def run_variant(name: str, splits, args) -> dict:
    module, preset, steps = VARIANTS[name]
    steps = args.steps if steps is None else steps
    cfg = module.Config()
    apply_overrides(TrainConfig(), cfg, module.PRESETS[preset].overrides)
    torch.manual_seed(args.seed)
    method = module.build(cfg, splits.info)
    main = method.param_groups()
    opts = {g: torch.optim.Adam(p, lr=args.lr) for g, p in main.items()}
    images = torch.as_tensor(splits.train.images)
    labels = torch.as_tensor(splits.train.labels)
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(images), generator=gen)
    t0 = time.perf_counter()
    last = {}
    method.train()
    done = 0
    while done < steps and (args.minutes is None or time.perf_counter() - t0 < 60 * args.minutes):
        start = (done * args.batch) % (len(order) - args.batch + 1)  # wraps around the epoch
        idx = order[start : start + args.batch]
        done += 1
        out = method((images[idx].float() / 255, labels[idx]))
        for i, (g, opt) in enumerate(opts.items()):
            opt.zero_grad(set_to_none=True)
            out["loss" if g == "main" else f"loss/{g}"].backward(retain_graph=i < len(opts) - 1)
            opt.step()
        last = {k: float(v.detach()) for k, v in out.items()}
    train_s = time.perf_counter() - t0
    enc = method.encoder.eval()
    rng = np.random.default_rng(args.seed)  # fixed random subsets (the splits are stored class by class)
    tr = rng.permutation(len(splits.train.labels))[: args.probe_train]
    te = rng.permutation(len(splits.test.labels))[: args.probe_test]
    xtr = extract_features(enc, splits.train.images[tr], batch_size=256)
    xte = extract_features(enc, splits.test.images[te], batch_size=256)
    ytr, yte = np.asarray(splits.train.labels)[tr], np.asarray(splits.test.labels)[te]
    lin = LinearProbe().fit(xtr, ytr).score(xte, yte)
    mlp = MLPProbe(epochs=args.mlp_epochs).fit(xtr, ytr).score(xte, yte)
    return {
        "variant": name,
        "steps": done,
        "train_s": round(train_s, 1),
        "mi_infonce": round(last.get("mi/infonce", float("nan")), 3),
        "online_linear_acc": round(last.get("probe/linear_acc", float("nan")), 3),
        "linear_acc": round(float(lin), 4),
        "mlp_acc": round(float(mlp), 4),
    }


def _uptime() -> str:
    import subprocess

    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=None,
                    help="Adam steps per variant (default 30; with --minutes: no step limit unless given)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall-clock training budget per variant (with --steps: whichever ends first)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--probe-train", type=int, default=2000)
    ap.add_argument("--probe-test", type=int, default=1000)
    ap.add_argument("--mlp-epochs", type=int, default=30)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/amdim/results"))
    args = ap.parse_args()
    if args.steps is None:
        args.steps = 30 if args.minutes is None else 10**9
    torch.set_num_threads(args.threads)
    uptime_start = _uptime()
    splits = load_dataset("cifar10", val_fraction=0.0, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.variants.split(","):
        rows.append(run_variant(name, splits, args))
        print(rows[-1], flush=True)
        with open(args.out / "probe_table.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    cols = list(rows[0])
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    budget = f"{args.minutes} min" if args.minutes else f"{args.steps} steps"
    md += ["", f"- {budget} of training per variant, batch {args.batch}, Adam lr {args.lr}, "
           f"torch threads {args.threads}, seed {args.seed}",
           f"- probes: {args.probe_train} random train / {args.probe_test} random test images "
           f"(linear; MLP {args.mlp_epochs} epochs)",
           f"- uptime at start: {uptime_start}", f"- uptime at end: {_uptime()}"]
    (args.out / "probe_table.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
