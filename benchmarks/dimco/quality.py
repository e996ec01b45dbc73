"""Few-shot and retrieval quality of a trained DIMCO run: codes vs continuous embeddings of the same backbone.

Omniglot: classes of the evaluation alphabets (never seen in training). Other datasets: the test split
restricted to the run's ``holdout_classes``.

    .venv/bin/infomax train dimco-omniglot --max-epochs 2 --no-baselines --out runs/dimco-omni
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dimco/quality.py runs/dimco-omni --layer fc

Writes ``benchmarks/dimco/results/quality-<data>.md`` (override with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--layer", default="fc", help="continuous baseline: this backbone feature")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument(
        "--queries", type=int, default=1000, help="retrieval queries (all items are the database)"
    )
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from infomax.cli.index import encode_logprobs
    from infomax.data.datasets import load_split
    from infomax.dimco.fewshot import evaluate_fewshot
    from infomax.dimco.retrieval import evaluate_retrieval
    from infomax.evaluation.features import extract_features
    from infomax.run import load_run

    run = load_run(args.run_dir)
    data = run.config["train"]["data"]
    holdout = tuple(run.config["method_config"].get("holdout_classes") or ())
    if data == "omniglot":
        arrays = load_split("omniglot", "evaluation", args.data_root, size=run.info.image_size)
        images, labels = arrays.images, arrays.labels
    else:
        arrays = load_split(data, "test", args.data_root, size=run.info.image_size)
        keep = np.isin(arrays.labels, holdout) if holdout else np.ones(len(arrays.labels), bool)
        images, labels = arrays.images[keep], arrays.labels[keep]
    t0 = time.perf_counter()
    lp = encode_logprobs(run, images)
    emb = extract_features(run.method.encoder, images, args.layer)
    d, k = lp.shape[1:]
    rows = []
    for n_way in (5, 20):
        if len(np.unique(labels)) < n_way:
            continue
        r = evaluate_fewshot(
            lp, labels, emb, n_way=n_way, k_shot=1, n_query=5, n_episodes=args.episodes, seed=0
        )
        rows.append(
            (
                f"{n_way}-way 1-shot accuracy (%)",
                r["dimco_acc"],
                r["dimco_ci95"],
                r["proto_acc"],
                r["proto_ci95"],
            )
        )
    ret = evaluate_retrieval(lp, labels, emb, ks=(1, 5), max_queries=args.queries, seed=0)
    for m in ("precision@1", "precision@5", "mAP"):
        rows.append((f"retrieval {m} (%)", ret[f"codes/{m}"], None, ret[f"continuous/{m}"], None))
    lines = [
        f"Run `{args.run_dir.name}` ({data}; method config {json.dumps(run.config['method_config'])}); "
        f"evaluated on {len(labels)} images of {len(np.unique(labels))} "
        f"{'unseen' if data == 'omniglot' or holdout else 'TRAINING (no holdout_classes)'} classes in "
        f"{time.perf_counter() - t0:.0f} s.",
        "",
        f"| metric | codes (d={d}, k={k}: {d * np.log2(k):g} bits) | continuous `{args.layer}` "
        f"({emb.shape[1]} float32 = {emb.shape[1] * 32} bits) |",
        "| --- | ---: | ---: |",
    ]
    for name, a, ca, b, cb in rows:
        fa = f"{100 * a:.1f}" + (f" ± {100 * ca:.1f}" if ca is not None else "")
        fb = f"{100 * b:.1f}" + (f" ± {100 * cb:.1f}" if cb is not None else "")
        lines.append(f"| {name} | {fa} | {fb} |")
    lines.append("")
    lines.append(f"Few-shot: {args.episodes} episodes, 5 queries per class, 95% CI; same episodes for both.")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"quality-{data}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
