"""DIMCO codes vs a continuous ProtoNet embedding vs post-hoc compression of it, same episodes.

For DIMCO runs (one per code length) and one ProtoNet run of the same backbone, on the test items of
classes never seen in training (Omniglot: the evaluation alphabets; Fashion-MNIST / CIFAR-10: the runs'
``holdout_classes``, which must be the same for every run): N-way K-shot accuracy over the same
episodes (``sample_episodes`` with one seed; settings with more ways than unseen classes are skipped) for

- each DIMCO run's codes (scored as ``infomax eval --protocol fewshot`` does, by ``--rule``: default the
  library's ``histogram``; ``codeword`` reproduces the tables made before it became the default);
- the ProtoNet embedding (float32, nearest prototype by squared Euclidean distance);
- that embedding compressed after training, at each bit budget B of the DIMCO runs: faiss product
  quantization (B/8 sub-quantizers of 8 bits, trained on the ProtoNet run's *training* images of its
  training classes only, never a held-out class; the decoded vectors used as embeddings) and binary
  hashing (sign of B Gaussian random projections; the +-1 vectors used as embeddings);

plus retrieval (precision@k, mAP, leave-one-out over the same items) for each. ``--feature-run RUN
--feature-layer fc`` adds the same three kinds of rows for another run's feature (e.g. the ``fc`` a DIMCO
run's code head reads: what post-hoc compression of that feature keeps at the codes' bits; PQ then needs
the layer's width divisible by B/8). The dataset is the runs'
(all runs must share it, and their unseen classes); ``--name`` defaults to it. Writes
``results/compare-NAME.md`` / ``.csv`` / ``.png`` (the plot: the first few-shot setting and mAP vs bits).

    OMP_NUM_THREADS=1 INFOMAX_DATA=<data> python benchmarks/dimco/compare.py --dimco RUN256 [RUN64 ...] \
        --protonet PROTO --settings 5x1 20x1 5x5 20x5 --name omniglot
    OMP_NUM_THREADS=1 INFOMAX_DATA=<data> python benchmarks/dimco/compare.py --dimco FM256 FM64 \
        --protonet FMPROTO --settings 5x1 5x5      # -> results/compare-fashion-mnist.*
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from infomax.dimco.fewshot import DEFAULT_RULE, RULES


def fewshot_row(lp, labels, emb, settings, episodes, n_query, rule=None):
    """``{"N-way K-shot": (accuracy, ci95)}`` of the codes ``lp`` (N, d, k) when ``emb`` is None, else of the
    prototypes of ``emb`` (N, D); one episode seed, so every row of a table sees the same episodes."""
    from infomax.dimco.fewshot import evaluate_fewshot

    out = {}
    for n_way, k_shot in settings:
        # codes or an embedding: the same seed gives the same episodes
        codes = lp if emb is None else None
        r = evaluate_fewshot(codes, labels, emb, n_way, k_shot, n_query, episodes, seed=0,
                             rule=rule or DEFAULT_RULE)
        key = "dimco" if emb is None else "proto"
        out[f"{n_way}-way {k_shot}-shot"] = (r[f"{key}_acc"], r[f"{key}_ci95"])
    return out


def retrieval_row(lp, labels, emb, ks, queries):
    """precision@k, recall@k and mAP of the codes ``lp`` when ``emb`` is None, else of ``emb`` by cosine."""
    from infomax.dimco.retrieval import evaluate_retrieval

    r = evaluate_retrieval(lp if emb is None else None, labels, emb, ks=ks, max_queries=queries, seed=0)
    return {k.split("/", 1)[1]: v for k, v in r.items()}  # codes/... or continuous/...


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dimco", nargs="+", type=Path, required=True, help="DIMCO runs (any code lengths)")
    ap.add_argument("--labels", nargs="+", default=None,
                    help="a row label per --dimco run (default: 'DIMCO codes d=D k=K', with the run's "
                         "folder where two runs share d and k)")
    ap.add_argument("--protonet", type=Path, required=True, help="a ProtoNet run of the same backbone")
    ap.add_argument("--bits", nargs="*", type=int, default=None,
                    help="post-hoc bit budgets (default: those of the DIMCO runs)")
    ap.add_argument("--settings", nargs="+", default=["5x1", "20x1", "5x5", "20x5"])
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--rule", default=DEFAULT_RULE, choices=RULES,
                    help="how the codes score a class (infomax.dimco.fewshot.dimco_predict)")
    ap.add_argument("--n-query", type=int, default=15)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ks", nargs="+", type=int, default=[1, 10])
    ap.add_argument("--pq-train", type=int, default=20000, help="training images used to train PQ")
    ap.add_argument("--feature-run", type=Path, default=None,
                    help="also the float / PQ / sign rows of this run's --feature-layer")
    ap.add_argument("--feature-layer", default="fc")
    ap.add_argument("--name", default=None, help="table name (default: the runs' dataset)")
    ap.add_argument("--data-root", default=None, help="data folder (default: INFOMAX_DATA)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    if args.labels is not None and len(args.labels) != len(args.dimco):
        ap.error(f"--labels needs one label per --dimco run ({len(args.dimco)}), got {len(args.labels)}")
    torch.set_num_threads(1)
    import faiss

    from infomax.dimco.codes import code_bits, code_bytes
    from infomax.evaluation.features import extract_features
    from infomax.evaluation.fewshot_protocols import code_shape, unseen_test_items
    from infomax.experiment import load_splits
    from infomax.run import load_run, train_config_from

    faiss.omp_set_num_threads(1)
    t0 = time.perf_counter()
    rows: list[dict] = []
    first = load_run(args.dimco[0])
    cfg = train_config_from(first.config)
    if args.data_root:
        cfg.data_root = args.data_root
    splits = load_splits(cfg)
    images, labels, unseen = unseen_test_items(first, splits)
    loaded = {args.dimco[0]: first}  # each run read once
    for other in [*args.dimco[1:], args.protonet, *([args.feature_run] if args.feature_run else [])]:
        if other not in loaded:
            loaded[other] = load_run(other)
        run = loaded[other]
        data = train_config_from(run.config).data
        if data != cfg.data or unseen_test_items(run, splits)[2] != unseen:
            ap.error(f"{other}: dataset {data!r} / unseen classes differ from {args.dimco[0]}'s "
                     f"({cfg.data!r}, {unseen}): compare runs of the same data and held-out classes")
    args.name = args.name or cfg.data
    settings = [tuple(int(v) for v in s.lower().split("x")) for s in args.settings]
    settings = [(n, k) for n, k in settings if n <= len(unseen)]
    bit_budgets = []
    runs = [loaded[run_dir] for run_dir in args.dimco]
    shapes = [code_shape(run.method.encoder) for run in runs]
    for i, (run_dir, run, (d, k)) in enumerate(zip(args.dimco, runs, shapes)):
        label = f"DIMCO codes d={d} k={k}" + (f" ({run_dir.name})" if shapes.count((d, k)) > 1 else "")
        label = args.labels[i] if args.labels else label
        lp = extract_features(run.method.encoder, images, "logprobs").reshape(-1, d, k)
        bits = code_bits(d, k)
        bit_budgets.append(int(bits))
        rows.append({"representation": label, "bits": bits, "bytes": code_bytes(d, k),
                     **fewshot_row(lp, labels, None, settings, args.episodes, args.n_query, args.rule),
                     **retrieval_row(lp, labels, None, tuple(args.ks), args.queries)})
        print(json.dumps(rows[-1]), flush=True)
    budgets = sorted(set(args.bits if args.bits is not None else bit_budgets))
    proto = loaded[args.protonet]
    sources = [(proto, proto.method.embed_layer, "ProtoNet")]
    if args.feature_run:
        feature_run = loaded[args.feature_run]
        name = f"{train_config_from(feature_run.config).method} run {args.feature_run.name}"
        sources.append((feature_run, args.feature_layer, name))
    for run, layer, name in sources:
        for row in float_rows(run, layer, name, images, labels, splits, budgets, settings, args):
            rows.append(row)
            print(json.dumps(rows[-1]), flush=True)
    fs_cols = [f"{n}-way {k}-shot" for n, k in settings]
    ret_cols = [f"precision@{k}" for k in args.ks] + ["mAP"]
    header = ["representation", "bits", "bytes/item"] + [f"{c} (%)" for c in fs_cols + ret_cols]
    lines = [f"`{args.name}`: {len(labels)} test images of {len(unseen)} classes never seen in training; "
             f"labels {unseen if len(unseen) <= 20 else '(the evaluation alphabets)'}; "
             f"{args.episodes} episodes ({args.n_query} queries per class, 95% CI, the same episodes for "
             f"every row); retrieval: {args.queries} queries, each ranking all other items. "
             f"{time.perf_counter() - t0:.0f} s.", "",
             "| " + " | ".join(header) + " |", "| --- | " + " | ".join("---:" for _ in header[1:]) + " |"]
    for r in rows:
        cells = [r["representation"], f"{r['bits']:g}", f"{r['bytes']:g}"]
        cells += [f"{100 * r[c][0]:.1f} ± {100 * r[c][1]:.1f}" for c in fs_cols]
        cells += [f"{100 * r[c]:.1f}" for c in ret_cols]
        lines.append("| " + " | ".join(cells) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"compare-{args.name}.md").write_text("\n".join(lines) + "\n")
    with open(args.out / f"compare-{args.name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["representation", "bits", "bytes"] + fs_cols + [c + " ci95" for c in fs_cols] + ret_cols)
        for r in rows:
            w.writerow([r["representation"], r["bits"], r["bytes"]] + [r[c][0] for c in fs_cols]
                       + [r[c][1] for c in fs_cols] + [r[c] for c in ret_cols])
    _plot(rows, [fs_cols[0], "mAP"], args.out / f"compare-{args.name}.png")
    print("\n".join(lines))


def float_rows(run, layer, name, images, labels, splits, budgets, settings, args) -> list[dict]:
    """Rows of ``run``'s float feature ``layer`` (``name `layer` float32``), then at each bit budget its faiss
    PQ (trained on the run's training images of its training classes) and sign random projection."""
    import faiss

    from infomax.evaluation.features import extract_features
    from infomax.evaluation.fewshot_protocols import _holdout

    def row(label, bits, nbytes, e):
        return {"representation": label, "bits": bits, "bytes": nbytes,
                **fewshot_row(None, labels, e, settings, args.episodes, args.n_query),
                **retrieval_row(None, labels, e, tuple(args.ks), args.queries)}

    emb = extract_features(run.method.encoder, images, layer).reshape(len(images), -1).astype(np.float32)
    dim = emb.shape[1]
    out = [row(f"{name} `{layer}` float32 ({dim}-d)", 32 * dim, 4 * dim, emb)]
    rng = np.random.default_rng(0)
    train_labels = np.asarray(splits.train.labels)
    # training classes only: the labels the run held out of training never train PQ (not the test
    # split's unseen labels: Omniglot's evaluation alphabets are numbered apart from the background ones)
    train_imgs = np.asarray(splits.train.images)[~np.isin(train_labels, sorted(_holdout(run)))]
    pick = rng.choice(len(train_imgs), min(args.pq_train, len(train_imgs)), replace=False)
    train_emb = extract_features(run.method.encoder, train_imgs[np.sort(pick)], layer)
    train_emb = train_emb.reshape(len(pick), -1).astype(np.float32)
    for bits in budgets:
        m = bits // 8
        if m >= 1 and dim % m == 0:
            pq = faiss.IndexPQ(dim, m, 8)
            pq.train(train_emb)
            out.append(row(f"{name} + faiss PQ (M={m} x 8 bits)", bits, bits / 8,
                           pq.sa_decode(pq.sa_encode(emb))))
        proj = np.random.default_rng(1).standard_normal((dim, bits)).astype(np.float32)
        out.append(row(f"{name} + sign random projection ({bits} bits)", bits, bits / 8, np.sign(emb @ proj)))
    return out


def _plot(rows, cols, path):
    """One panel per column (a few-shot setting: accuracy with its 95% CI; a retrieval metric) vs bits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(cols), figsize=(6 * len(cols), 4), squeeze=False)
    for ax, col in zip(axes[0], cols):
        groups: dict[str, list] = {}
        for r in rows:
            kind = r["representation"].split(" (")[0].split(" d=")[0].split(" `")[0]
            v = r[col] if isinstance(r[col], tuple) else (r[col], 0.0)
            groups.setdefault(kind, []).append((r["bits"], 100 * v[0], 100 * v[1]))
        for kind, pts in groups.items():
            pts.sort()
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o",
                        label=kind)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("bits per item")
        ax.set_ylabel(f"{col} {'accuracy ' if isinstance(rows[0][col], tuple) else ''}(%)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
