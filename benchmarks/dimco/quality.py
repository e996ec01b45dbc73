"""Few-shot and retrieval quality of DIMCO runs: codes vs continuous embeddings of the same backbone.

Evaluated on the test items of classes never seen in training (Omniglot: the evaluation alphabets;
other datasets: the run's ``holdout_classes``), exactly as ``infomax eval --protocol fewshot|retrieval``
does (the same functions, features extracted once here). Several runs sharing one frozen backbone
(``frozen_run``, compressing a continuous embedding) give one table: a row per code size, a row per
continuous layer of the backbone, and the share of the continuous quality the codes keep.

    OMP_NUM_THREADS=1 INFOMAX_DATA=<data> .venv/bin/python benchmarks/dimco/quality.py RUN [RUN ...] \\
        --layers fc y --settings 5x1 20x1 --name omniglot

Writes ``benchmarks/dimco/results/quality-<name>.md`` and ``.json`` (override the folder with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from compare import fewshot_row, retrieval_row  # this folder's compare.py (the script's own directory)

from infomax.dimco.fewshot import DEFAULT_RULE, RULES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--layers", nargs="+", default=["fc"], help="continuous baselines: backbone features")
    ap.add_argument("--settings", nargs="+", default=["5x1", "20x1"], help="N-way x K-shot episodes")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--rule", default=DEFAULT_RULE, choices=RULES,
                    help="how the codes score a class (infomax.dimco.fewshot.dimco_predict)")
    ap.add_argument("--n-query", type=int, default=15, help="queries per class in an episode")
    ap.add_argument(
        "--queries", type=int, default=1000, help="retrieval queries (all items are the database)"
    )
    ap.add_argument("--ks", nargs="+", type=int, default=[1, 10])
    ap.add_argument("--name", default=None, help="table name (default: the dataset)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from infomax.dimco.codes import code_bits, code_bytes
    from infomax.evaluation.features import extract_features
    from infomax.evaluation.fewshot_protocols import code_shape, unseen_test_items
    from infomax.experiment import load_splits
    from infomax.run import load_run, train_config_from

    settings = [tuple(int(v) for v in s.lower().split("x")) for s in args.settings]
    ks = tuple(args.ks)
    rows: list[dict] = []
    continuous_done: set[tuple[str, str]] = set()
    t0 = time.perf_counter()
    data_name = None
    for run_dir in args.runs:
        run = load_run(run_dir)
        cfg = train_config_from(run.config)
        if args.data_root:
            cfg.data_root = args.data_root
        data_name = data_name or cfg.data
        splits = load_splits(cfg)
        mc = run.config["method_config"]
        images, labels, unseen = unseen_test_items(run, splits)
        d, k = code_shape(run.method.encoder)
        lp = extract_features(run.method.encoder, images, "logprobs").reshape(-1, d, k)
        backbone = mc.get("frozen_run") or str(run_dir)
        reps = [("codes", f"codes d={d} k={k} ({code_bits(d, k):g} bits)", code_bytes(d, k), None)]
        for layer in args.layers:
            if (backbone, layer) in continuous_done:
                continue
            continuous_done.add((backbone, layer))
            emb = extract_features(run.method.encoder, images, layer)
            reps.append(
                ("continuous", f"continuous `{layer}` ({emb.shape[1]} float32)", 4 * emb.shape[1], emb)
            )
        for kind, label, nbytes, emb in reps:
            row = {
                "run": run_dir.name,
                "kind": kind,
                "representation": label,
                "bytes": int(nbytes),
                "frozen_backbone": mc.get("frozen_run") is not None,
                "n_items": len(labels),
                "n_classes": len(unseen),
            }
            fits = [(n_way, k_shot) for n_way, k_shot in settings if n_way <= len(unseen)]
            codes = lp if kind == "codes" else None
            row.update(fewshot_row(codes, labels, emb, fits, args.episodes, args.n_query, args.rule))
            row.update(retrieval_row(codes, labels, emb, ks, args.queries))
            rows.append(row)
            print(json.dumps(row), flush=True)
    name = args.name or data_name
    fs_cols = [f"{n}-way {k}-shot" for n, k in settings if any(f"{n}-way {k}-shot" in r for r in rows)]
    ret_cols = [f"precision@{k}" for k in ks] + [f"recall@{ks[-1]}", "mAP"]
    header = ["representation", "bytes/item"] + [f"{c} (%)" for c in fs_cols] + [f"{c} (%)" for c in ret_cols]
    lines = [
        f"`{name}`: {rows[0]['n_items']} test images of {rows[0]['n_classes']} classes never seen in "
        f"training; {args.episodes} episodes ({args.n_query} queries per class, 95% CI, the same episodes "
        f"for every row); retrieval: {args.queries} random queries, each ranking all other items. "
        f"{time.perf_counter() - t0:.0f} s.",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
    ]
    for r in rows:
        cells = [r["representation"], str(r["bytes"])]
        cells += [f"{100 * r[c][0]:.1f} ± {100 * r[c][1]:.1f}" if c in r else "-" for c in fs_cols]
        cells += [f"{100 * r[c]:.1f}" for c in ret_cols]
        lines.append("| " + " | ".join(cells) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"quality-{name}.md").write_text("\n".join(lines) + "\n")
    (args.out / f"quality-{name}.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
