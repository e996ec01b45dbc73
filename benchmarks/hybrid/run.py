"""Hybrid vs autoencoder-only (alpha=1) vs MoCo-only (alpha=0) under one small CPU budget, one dataset.

For each row: train the representation (engine, ``max_minutes``), train the DDIM stage on its frozen
latent (``max_minutes``), then evaluate (linear probes on z and y, reconstruction MSE, interpolation
change, classifier-FD of 500 decoded DDIM samples; one feature classifier shared by all rows).
Writes ``results/<data>/results.json`` and ``results/<data>/table.md``; run dirs under ``--runs``.

    INFOMAX_DATA=... python benchmarks/hybrid/run.py --data fashion-mnist --rep-minutes 3 --ddim-minutes 1.5
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from infomax.config import TrainConfig
from infomax.data.datasets import load_dataset
from infomax.engine.fit import build_method, fit
from infomax.generative.evaluate import evaluate_hybrid, feature_classifier
from infomax.generative.stage import train_ddim_stage
from infomax.methods import hybrid

ROWS = {"hybrid (alpha=0.5)": 0.5, "autoencoder only (alpha=1)": 1.0, "MoCo-v2 only (alpha=0)": 0.0}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--rep-minutes", type=float, default=3.0)
    p.add_argument("--ddim-minutes", type=float, default=1.5)
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--probe-train", type=int, default=10000)
    p.add_argument("--n-generate", type=int, default=500)
    p.add_argument("--sample-steps", type=int, default=20)
    p.add_argument("--ddim-base", type=int, default=32)
    p.add_argument("--classifier-steps", type=int, default=300)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    p.add_argument("--runs", default="runs/hybrid-bench", help="where the run directories go")
    p.add_argument("--inception-weights", metavar="PATH", help="local pytorch-fid Inception weights "
                   "(pt_inception-2015-12-05-6726825d.pth or .safetensors): adds real FID per row")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out) / args.data
    out.mkdir(parents=True, exist_ok=True)
    splits = load_dataset(args.data)
    t0 = time.time()
    clf = feature_classifier(splits, steps=args.classifier_steps)
    # paths relative to the working directory: no machine's layout in the results
    rel = {k: os.path.relpath(v) if k in ("out", "runs") and os.path.isabs(v) else v
           for k, v in vars(args).items()}
    results = {"settings": rel, "classifier_s": round(time.time() - t0, 1), "rows": {}}
    for name, alpha in ROWS.items():
        run_dir = Path(args.runs) / args.data / f"alpha{alpha}"
        cfg = hybrid.Config(alpha=alpha, hidden=args.hidden)
        tc = TrainConfig(method="hybrid", data=args.data, batch_size=args.batch_size, max_epochs=100,
                         max_minutes=args.rep_minutes)
        t = time.time()
        # an existing run directory is continued (a finished one is only re-evaluated)
        m = fit(build_method("hybrid", cfg, splits.info, tc.seed), splits, tc, run_dir, "hybrid", cfg,
                resume=run_dir.is_dir(), progress=False)
        rep_s = time.time() - t
        t = time.time()
        stage = {"max_minutes": args.ddim_minutes, "max_epochs": 100, "batch_size": args.batch_size,
                 "base": args.ddim_base}
        if (run_dir / "ddim").is_dir():  # continuing a stage: only its limits may be given again
            stage = {k: stage[k] for k in ("max_minutes", "max_epochs")}
        st = train_ddim_stage(run_dir, stage, progress=False)
        ddim_s = time.time() - t
        table = evaluate_hybrid(run_dir, splits, clf, n_generate=args.n_generate, steps=args.sample_steps,
                                max_train=args.probe_train, inception_weights=args.inception_weights)
        results["rows"][name] = {"alpha": alpha, "rep_train": m["train"], "ddim_train": st["train"],
                                 "rep_s": round(rep_s, 1), "ddim_s": round(ddim_s, 1), **table}
        (out / "results.json").write_text(json.dumps(results, indent=2))
        print(name, json.dumps(results["rows"][name]), flush=True)
    lines = ["| row | probe z (%) | probe y (%) | MSE/pixel | MSE/image | interp change y | interp change "
             "y_hat | classifier-FD samples | classifier-FD recon | rep steps | DDIM steps |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["rows"].items():
        g, ic = r.get("generation", {}), r["interpolation_change"]
        rec, nan = r["reconstruction"], float("nan")
        lines.append(f"| {name} | {100 * r['probe']['z']:.1f} | {100 * r['probe']['y']:.1f} | "
                     f"{rec['mse_per_pixel']:.4f} | {rec['mse_per_image']:.1f} | "
                     f"{ic['y']:.4f} | {ic['y_hat']:.4f} | {g.get('classifier_fd', nan):.1f} | "
                     f"{g.get('classifier_fd_reconstructions', nan):.1f} | {r['rep_train']['steps']} | "
                     f"{r['ddim_train']['steps']} |")
    real = next(iter(results["rows"].values())).get("generation", {}).get("classifier_fd_real_val")
    lines.append(f"\nclassifier-FD between {args.n_generate} real test and as many real val images "
                 f"(the floor): {real:.1f}")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
