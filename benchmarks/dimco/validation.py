"""DIMCO settings compared on a validation split of the training classes (the run's ``holdout_classes``).

Every run must have been trained with ``holdout_classes`` (e.g. the last 5 Omniglot background alphabets,
labels 813-963); it is evaluated on the training-split items of those classes exactly as
``infomax eval RUN --protocol fewshot|retrieval --on holdout`` does (the same functions; 600 episodes,
15 queries per class, 95% CI; retrieval: leave-one-out, ``--queries`` random queries ranking all other
items), never on the test classes. Besides accuracy it reports what the codes look like on those unseen
classes: distinct codes among the items, items tied with the best-scoring item per retrieval query, the
mean per-dimension symbol entropy and the mean pairwise mutual information between dimensions (plug-in
estimate over random pairs of dimensions: redundancy of the code), and the median max symbol probability
(saturation).

    OMP_NUM_THREADS=1 INFOMAX_DATA=<data> python benchmarks/dimco/validation.py RUN [RUN ...] \\
        --labels "lambda 1" ... --name omniglot

Datasets with few classes hold the test classes out too (Fashion-MNIST: ``holdout_classes=3,...,9``, the
test classes 5-9 never trained on); ``--classes 3 4`` then evaluates on the validation classes alone, and
the episodes have min(5, classes) ways (20-way only with at least 20 classes).

``--data mnist`` evaluates on another dataset's test split instead, every class of it unseen (same image size
and channels as the training data): a validation of transfer to classes *unlike* the training ones, which
the training classes' own held-out items cannot give (Fashion-MNIST's classes 0-4 are all garments, the test
classes 5-9 shoes and bags; MNIST digits stand in for "unlike"), with the test classes still untouched.

``--k-shot 5 --rule codeword`` evaluates 5-shot episodes with another few-shot scoring rule (default: the
library's ``histogram``; the tables made before it became the default used ``codeword``).

Writes ``results/validation-NAME.md`` / ``.csv`` / ``.png`` (N-way K-shot accuracy of the codes per run).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from infomax.dimco.fewshot import DEFAULT_RULE, RULES


def code_statistics(logprobs: np.ndarray, n_pairs: int = 300, seed: int = 0) -> dict[str, float]:
    """Distinct codes, per-dimension symbol entropy, pairwise I between dimensions (nats), saturation.

    Example:
        >>> lp = np.log(np.array([[[0.9, 0.1], [0.9, 0.1]], [[0.2, 0.8], [0.2, 0.8]]]))  # dim 1 = dim 0
        >>> s = code_statistics(lp, n_pairs=4)
        >>> s["distinct_codes"], round(s["dim_entropy"], 4), round(s["pairwise_mi"], 4)  # both log 2
        (2, 0.6931, 0.6931)
    """
    n, d, k = logprobs.shape
    codes = logprobs.argmax(-1)
    distinct = len({c.tobytes() for c in codes})
    freq = np.stack([np.bincount(codes[:, i], minlength=k) for i in range(d)]) / n  # (d, k)
    h_dim = float(-(freq * np.log(np.where(freq > 0, freq, 1))).sum(1).mean())
    rng = np.random.default_rng(seed)
    mis = []
    for _ in range(n_pairs if d > 1 else 0):
        i, j = rng.choice(d, 2, replace=False)
        joint = np.zeros((k, k))
        np.add.at(joint, (codes[:, i], codes[:, j]), 1.0)
        joint /= n
        prod = np.outer(joint.sum(1), joint.sum(0))
        nz = joint > 0
        mis.append(float((joint[nz] * np.log(joint[nz] / prod[nz])).sum()))
    return {"distinct_codes": distinct, "dim_entropy": h_dim,
            "pairwise_mi": float(np.mean(mis)) if mis else 0.0,
            "median_max_prob": float(np.median(np.exp(logprobs.max(-1))))}


def top_ties(logprobs: np.ndarray, queries: int = 200, seed: int = 0) -> float:
    """Mean number of other items sharing the best similarity with a random query (1 = no tie)."""
    from infomax.dimco.codes import argmax_codes, similarity

    codes = argmax_codes(logprobs)
    q = np.sort(np.random.default_rng(seed).choice(len(codes), min(queries, len(codes)), replace=False))
    s = similarity(logprobs[q], codes)
    s[np.arange(len(q)), q] = -np.inf
    return float((s == s.max(1, keepdims=True)).sum(1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="DIMCO runs trained with holdout_classes")
    ap.add_argument("--labels", nargs="*", default=None, help="a row label per run (default: its folder)")
    ap.add_argument("--episodes", type=int, default=600)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--name", default="omniglot")
    ap.add_argument("--k-shot", type=int, default=1, help="support items per class in the episodes")
    ap.add_argument("--rule", default=DEFAULT_RULE, choices=RULES,
                    help="how the codes score a class (infomax.dimco.fewshot.dimco_predict)")
    ap.add_argument("--classes", nargs="*", type=int, default=None,
                    help="evaluate on these held-out labels only (default: every held-out class)")
    ap.add_argument("--data", default=None,
                    help="evaluate on this dataset's test split (every class unseen) instead of the holdout")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    torch.set_num_threads(1)
    labels = args.labels or [p.name for p in args.runs]
    if len(labels) != len(args.runs):
        ap.error(f"--labels: {len(labels)} labels for {len(args.runs)} runs")

    from infomax.cli.eval import holdout_splits
    from infomax.dimco.fewshot import evaluate_fewshot
    from infomax.dimco.retrieval import evaluate_retrieval
    from infomax.evaluation.fewshot_protocols import codes_and_embeddings
    from infomax.experiment import load_splits
    from infomax.run import load_run, read_metrics, train_config_from

    t0 = time.perf_counter()
    rows = []
    for run_dir, label in zip(args.runs, labels):
        run = load_run(run_dir)
        cfg = train_config_from(run.config)
        if args.data is None:
            data = codes_and_embeddings(run, holdout_splits(run, load_splits(cfg)), None)
        else:
            other = load_splits(dataclasses.replace(cfg, data=args.data, max_items=None))
            classes = np.unique(np.asarray(other.test.labels))
            data = codes_and_embeddings(run, other, None, unseen_classes=classes.tolist())
        lp, y, emb = data["logprobs"], data["labels"], data["embeddings"]
        if args.classes is not None:
            keep = np.isin(y, args.classes)
            if not keep.any():
                ap.error(f"--classes {args.classes}: none of them is held out of {run_dir}")
            lp, y, emb = lp[keep], y[keep], None if emb is None else emb[keep]
        n_cls = len(np.unique(y))
        ways = min(5, n_cls)
        shot, kw = args.k_shot, {"seed": 0, "rule": args.rule}
        f5 = evaluate_fewshot(lp, y, emb, ways, shot, 15, args.episodes, **kw)
        f20 = evaluate_fewshot(lp, y, None, 20, shot, 15, args.episodes, **kw) if n_cls >= 20 else None
        wide = {} if f20 is None else {f"codes 20-way {shot}-shot": (f20["dimco_acc"], f20["dimco_ci95"])}
        ret = evaluate_retrieval(lp, y, None, ks=(1,), max_queries=args.queries, seed=0)
        steps = int(read_metrics(run_dir).get("train", {}).get("steps", 0))
        rows.append({"setting": label, "steps": steps,
                     f"codes {ways}-way {shot}-shot": (f5["dimco_acc"], f5["dimco_ci95"]),
                     f"{data['layer']} prototypes {ways}-way {shot}-shot": (f5["proto_acc"],
                                                                            f5["proto_ci95"]),
                     **wide,
                     "P@1": ret["codes/precision@1"], "mAP": ret["codes/mAP"],
                     **code_statistics(lp), "top ties": top_ties(lp), "items": len(y),
                     "classes": len(np.unique(y))})
        print(rows[-1], flush=True)
    # every row's accuracy columns, in order (runs whose heads read different layers name their prototype
    # column after their layer: a row without a column shows "-")
    acc_cols = list(dict.fromkeys(c for r in rows for c in r if isinstance(r[c], tuple)))
    header = ["setting", "steps"] + [f"{c} (%)" for c in acc_cols] + [
        "P@1 (%)", "mAP (%)", "distinct codes", "items tied at top", "H(dim) (nats)", "I(dim; dim) (nats)",
        "median max p"]
    where = (f"training-split items of {rows[0]['classes']} held-out training classes" if args.data is None
             else f"test items of {rows[0]['classes']} classes of {args.data} (no training class)")
    lines = [f"`{args.name}` validation: {rows[0]['items']} {where}; {args.episodes} episodes (15 queries "
             f"per class, 95% CI, the same episodes for every row; codes scored by the {args.rule!r} rule); "
             f"retrieval: {args.queries} queries ranking all other items. "
             f"{time.perf_counter() - t0:.0f} s.", "",
             "| " + " | ".join(header) + " |", "| --- | " + " | ".join("---:" for _ in header[1:]) + " |"]
    for r in rows:
        cells = [r["setting"], str(r["steps"])]
        cells += [f"{100 * r[c][0]:.1f} ± {100 * r[c][1]:.1f}" if c in r else "-" for c in acc_cols]
        cells += [f"{100 * r['P@1']:.1f}", f"{100 * r['mAP']:.1f}", f"{r['distinct_codes']} / {r['items']}",
                  f"{r['top ties']:.2f}", f"{r['dim_entropy']:.2f}", f"{r['pairwise_mi']:.2f}",
                  f"{r['median_max_prob']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"validation-{args.name}.md").write_text("\n".join(lines) + "\n")
    keys = ["setting", "steps"] + acc_cols + ["P@1", "mAP", "distinct_codes", "top ties", "dim_entropy",
                                               "pairwise_mi", "median_max_prob"]
    with open(args.out / f"validation-{args.name}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys + [c + " ci95" for c in acc_cols])
        for r in rows:
            w.writerow([r[k][0] if isinstance(r.get(k), tuple) else r.get(k, "") for k in keys]
                       + [r[c][1] if c in r else "" for c in acc_cols])
    _plot(rows, args.out / f"validation-{args.name}.png")
    print("\n".join(lines))


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    y = np.arange(len(rows))
    col = next(c for c in rows[0] if c.startswith("codes ") and c.endswith("-shot"))
    acc = [100 * r[col][0] for r in rows]
    err = [100 * r[col][1] for r in rows]
    ax.barh(y, acc, xerr=err, color="tab:blue")
    ax.set_yticks(y, [r["setting"] for r in rows], fontsize=7)
    ax.set_xlim(min(acc) - 10, 100)
    ax.set_xlabel(f"{col} on held-out classes (%)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
