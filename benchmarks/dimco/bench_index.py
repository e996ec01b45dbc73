"""DIMCO code search vs exact float32 inner-product search, at a million items, in one run.

Measures memory per item and queries/s of

- ``CodeIndex`` (faiss IndexPQFastScan shortlist + certified exact re-rank) over N synthetic codes
  (d=64, k=16: 32 bytes per item), checking every answer against the brute-force reference;
- faiss ``IndexFlatIP`` over N x 512 float32 embeddings (2 KiB per item).

Run (threads limited; the machine is shared):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dimco/bench_index.py --n 1000000 --queries 200

Writes ``benchmarks/dimco/results/index.{csv,md}`` (override with ``--out``).

Real mode (``--run RUN``, see :func:`real_mode`): a trained DIMCO run's dataset, encoded, searched by the
code index and by faiss indexes over the same model's float features:

    OMP_NUM_THREADS=1 INFOMAX_DATA=<data> .venv/bin/python benchmarks/dimco/bench_index.py --run RUN \
        --threads 1 [--copies 8]

Writes ``results/index-real.{csv,md,png}`` (``index-real-x8.*`` with ``--copies 8``).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="database items")
    ap.add_argument("--queries", type=int, default=200, help="queries per timed batch")
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--dim", type=int, default=512, help="float embedding size for IndexFlatIP")
    ap.add_argument("--topk", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--verify", type=int, default=None, help="queries checked against brute force (default all)"
    )
    ap.add_argument("--noise", type=float, default=2.0, help="query logit noise around a database code")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="real mode: timed batches per index (best kept)")
    ap.add_argument("--run", type=Path, default=None,
                    help="real mode: a trained DIMCO run; encodes its dataset (every split) and searches it")
    ap.add_argument("--copies", type=int, default=1,
                    help="real mode: augmented copies of every image (random shifts of up to 2 px; 1 = none)")
    args = ap.parse_args()
    if args.run is not None:
        real_mode(args)
        return

    import faiss

    from infomax.dimco.index import CodeIndex, brute_force_search

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    n, q, d, k = args.n, args.queries, args.d, args.k

    # ---- codes: uniform random database; queries = noisy softmax around random database codes
    symbols = rng.integers(0, k, (n, d), dtype=np.uint8)
    t0 = time.perf_counter()
    index = CodeIndex(d, k, backend="fastscan")
    index.add(symbols)
    build_codes = time.perf_counter() - t0
    src = rng.integers(0, n, q)
    logits = 4.0 * np.eye(k, dtype=np.float32)[symbols[src]] + args.noise * rng.standard_normal(
        (q, d, k)
    ).astype(np.float32)
    lut = torch.log_softmax(torch.from_numpy(logits), -1).numpy()
    index.search(lut[: min(q, 8)], args.topk)  # warm-up
    index.stats = dict.fromkeys(index.stats, 0)
    t0 = time.perf_counter()
    scores, ids = index.search(lut, args.topk)
    t_codes = time.perf_counter() - t0
    stats = dict(index.stats)
    nv = q if args.verify is None else min(args.verify, q)
    t0 = time.perf_counter()
    ref_s, ref_i = brute_force_search(lut[:nv], symbols, args.topk)
    t_brute = time.perf_counter() - t0
    identical = bool(np.array_equal(ref_i, ids[:nv]) and np.array_equal(ref_s, scores[:nv]))
    hit_src = float(np.mean(ids[:, 0] == src))
    mem_codes = index.memory_bytes()
    del symbols

    # ---- float32 embeddings, exact inner product
    flat = faiss.IndexFlatIP(args.dim)
    chunk = 1 << 16
    t0 = time.perf_counter()
    for s in range(0, n, chunk):
        flat.add(rng.standard_normal((min(chunk, n - s), args.dim), dtype=np.float32))
    build_flat = time.perf_counter() - t0
    xq = rng.standard_normal((q, args.dim), dtype=np.float32)
    flat.search(xq[:8], args.topk)  # warm-up
    t0 = time.perf_counter()
    flat.search(xq, args.topk)
    t_flat = time.perf_counter() - t0
    mem_flat = n * args.dim * 4
    del flat

    rows = [
        {
            "index": f"DIMCO codes d={d} k={k} (IndexPQFastScan + exact re-rank)",
            "bytes_per_item": round(mem_codes / n, 2),
            "queries_per_s": round(q / t_codes, 1),
            "build_s": round(build_codes, 2),
            "identical_to_brute_force": f"{identical} ({nv} queries)",
        },
        {
            "index": f"float32 {args.dim}-d IndexFlatIP (exact)",
            "bytes_per_item": round(mem_flat / n, 2),
            "queries_per_s": round(q / t_flat, 1),
            "build_s": round(build_flat, 2),
            "identical_to_brute_force": "exact by construction",
        },
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    cond = (
        f"N={n:,}, {q} queries/batch, top-{args.topk}, {args.threads} thread(s) (faiss+torch), "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs (shared machine), "
        f"faiss {faiss.__version__}"
    )
    lines = [
        f"Conditions: {cond}",
        "",
        "| index | bytes/item | queries/s | build s | identical to brute force |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r['index']} | {r['bytes_per_item']} | {r['queries_per_s']} | {r['build_s']} | "
        f"{r['identical_to_brute_force']} |"
        for r in rows
    ]
    lines += [
        "",
        f"Speed-up {t_flat / t_codes:.1f}x at {mem_flat / mem_codes:.1f}x less memory. "
        f"Certification: {stats['rounds']} shortlist rounds, {stats['fallbacks']} of "
        f"{stats['queries']} queries fell back to a full exact scan. "
        f"Brute-force reference: {nv / t_brute:.2f} queries/s. "
        f"Top-1 = the query's source item for {hit_src:.1%} of queries.",
    ]
    (args.out / "index.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _shifted(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """A copy of uint8 images (N, C, H, W), image i rolled by ``shifts[i]`` = (dy, dx)."""
    out = np.empty_like(images)
    for i, (dy, dx) in enumerate(shifts):
        out[i] = np.roll(images[i], (int(dy), int(dx)), axis=(1, 2))
    return out


def real_mode(args: argparse.Namespace) -> None:
    """Search a real dataset encoded by a trained DIMCO run: codes vs the same model's float features.

    Database: every image of the run's dataset (train, val and test splits), plus ``copies - 1`` shifted
    copies. Queries: ``queries`` random database items, each excluded from its own results. Indexes:
    ``CodeIndex`` over the codes (exact by log p(code | query)); faiss ``IndexFlatIP`` over the
    L2-normalised float features the code head reads (``feature_layer``, float32, the exact float
    reference); ``IndexPQFastScan`` (4-bit sub-quantizers) and ``IndexBinaryFlat`` (sign of random
    projections) of those features at the codes' bytes per item. recall@k: the share of the float
    index's top-k ids an index returns in its top-k; label recall@k: its same-label items in the top-k
    over the float index's.
    """
    import faiss

    from infomax.dimco.codes import code_bytes
    from infomax.dimco.index import CodeIndex
    from infomax.evaluation.features import extract_features
    from infomax.experiment import load_splits
    from infomax.run import load_run, train_config_from

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    run = load_run(args.run)
    enc = run.method.encoder
    d, k = int(enc.d), int(enc.k)
    cfg = train_config_from(run.config)
    splits = load_splits(cfg)
    parts = [splits.train, splits.val, splits.test]
    base = np.concatenate([np.asarray(p.images) for p in parts])
    # the test split's labels are offset so that its classes (Omniglot: other alphabets) stay distinct
    offset = int(max(np.max(np.asarray(p.labels)) for p in parts[:2])) + 1
    base_labels = np.concatenate([np.asarray(parts[0].labels), np.asarray(parts[1].labels),
                                  np.asarray(parts[2].labels) + offset])
    # every random draw first (each copy's shifts: a random (dy, dx) in [-2, 2]^2 per image, then the
    # queries), so that the encoding below can keep only what the indexes need: the codes of all items,
    # the float features (preallocated, normalised in place) and the log-probabilities of the queries
    nb, topk = len(base), args.topk
    shifts = [rng.integers(-2, 3, (nb, 2)) for _ in range(1, args.copies)]
    n = nb * args.copies
    qids = np.sort(rng.choice(n, min(args.queries, n), replace=False))
    nq = len(qids)
    y = np.tile(base_labels, args.copies)
    t0 = time.perf_counter()
    codes = np.empty((n, d), np.uint8)
    lpq = np.empty((nq, d, k), np.float32)  # log p(code | query), row i for item qids[i]
    x = None
    for c in range(args.copies):
        imgs = base if c == 0 else _shifted(base, shifts[c - 1])
        lp_c = extract_features(enc, imgs, "logprobs").reshape(-1, d, k).astype(np.float32)
        codes[c * nb : (c + 1) * nb] = lp_c.argmax(-1)
        mine = (qids >= c * nb) & (qids < (c + 1) * nb)
        lpq[mine] = lp_c[qids[mine] - c * nb]
        del lp_c
        f = extract_features(enc, imgs, enc.feature_layer).astype(np.float32)
        if x is None:
            x = np.empty((n, f.shape[1]), np.float32)
        x[c * nb : (c + 1) * nb] = f / (np.linalg.norm(f, axis=1, keepdims=True) + 1e-12)
        del f, imgs
    encode_s = time.perf_counter() - t0
    dim = x.shape[1]

    def lp_of(q: np.ndarray) -> np.ndarray:  # the queries' log-probabilities, (len(q), d, k)
        return lpq[np.searchsorted(qids, q)]

    def timed_search(fn):
        fn(qids[: min(8, nq)])  # warm-up
        best = np.inf
        for _ in range(args.repeats):  # best of a few: the machine is shared
            t = time.perf_counter()
            ids = fn(qids)
            best = min(best, time.perf_counter() - t)
        return ids, nq / best

    def drop_self(ids: np.ndarray) -> np.ndarray:  # (Q, topk + 1) -> (Q, topk) without the query itself
        return np.stack([[j for j in row if j != qi][:topk] for row, qi in zip(ids, qids)])

    rows = []
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(x)
    build = time.perf_counter() - t
    ref, qps = timed_search(lambda q: drop_self(flat.search(x[q], topk + 1)[1]))
    rows.append((f"float32 `{enc.feature_layer}` {dim}-d IndexFlatIP (exact)", 4 * dim, build, qps, ref))

    t = time.perf_counter()
    index = CodeIndex(d, k, backend="fastscan")
    index.add(codes)
    build = time.perf_counter() - t
    (code_s, ids), qps = timed_search(lambda q: index.search(lp_of(q), topk, exclude=q))
    index.stats = dict.fromkeys(index.stats, 0)
    index.search(lpq, topk, exclude=qids)  # once more, untimed, for the certificate's statistics
    stats = dict(index.stats)
    rows.append((f"DIMCO codes d={d} k={k} (CodeIndex, exact)", index.memory_bytes() / n, build, qps, ids))
    # exactness: the same queries through the independent brute-force backend
    nv = min(nq, 50) if args.verify is None else min(args.verify, nq)
    brute = CodeIndex(d, k, backend="brute")
    brute.add(codes)
    t = time.perf_counter()
    ref_s, ref_i = brute.search(lpq[:nv], topk, exclude=qids[:nv])
    brute_qps = nv / (time.perf_counter() - t)
    identical = bool(np.array_equal(ref_i, ids[:nv]) and np.array_equal(ref_s, code_s[:nv]))
    del brute
    nbytes = code_bytes(d, k)  # the comparators get the packed code size (32 bytes for d=64, k=16)

    m = 2 * nbytes  # 4-bit sub-quantizers
    if dim % m == 0:
        t = time.perf_counter()
        pq = faiss.IndexPQFastScan(dim, m, 4, faiss.METRIC_INNER_PRODUCT)
        pq.train(x[rng.choice(n, min(n, 50_000), replace=False)])
        pq.add(x)
        build = time.perf_counter() - t
        ids, qps = timed_search(lambda q: drop_self(pq.search(x[q], topk + 1)[1]))
        rows.append((f"float -> IndexPQFastScan (M={m} x 4 bits)", nbytes, build, qps, ids))

    t = time.perf_counter()
    proj = rng.standard_normal((dim, 8 * nbytes)).astype(np.float32)
    bits = np.concatenate([np.packbits((x[i : i + 65536] @ proj) > 0, axis=1) for i in range(0, n, 65536)])
    binary = faiss.IndexBinaryFlat(8 * nbytes)
    binary.add(bits)
    build = time.perf_counter() - t
    ids, qps = timed_search(lambda q: drop_self(binary.search(bits[q], topk + 1)[1]))
    rows.append((f"float -> sign random projection, IndexBinaryFlat ({8 * nbytes} bits)", nbytes, build, qps,
                 ids))

    ref_same = (y[ref] == y[qids, None])  # (Q, topk)
    out = []
    for name, bpi, build, qps, ids in rows:
        same = y[ids] == y[qids, None]
        r = {"index": name, "bytes_per_item": round(float(bpi), 2), "build_s": round(build, 2),
             "queries_per_s": round(qps, 1)}
        for kk in (1, topk):
            r[f"recall@{kk}"] = round(float(np.mean([len(set(a[:kk]) & set(b[:kk])) / kk
                                                     for a, b in zip(ids, ref)])), 4)
            r[f"label_recall@{kk}"] = round(float(same[:, :kk].sum() / max(ref_same[:, :kk].sum(), 1)), 4)
            r[f"precision@{kk}"] = round(float(same[:, :kk].mean()), 4)
        # near-duplicates: the share of the top-k that are copies of the query's own image (item i of the
        # database is copy i // nb of image i % nb), and the label precision on the other images alone
        own = (ids % nb) == (qids[:, None] % nb)
        r[f"own_copies@{topk}"] = round(float(own.mean()), 4)
        other = same[~own].mean() if (~own).any() else float("nan")
        r[f"precision@{topk}_other_images"] = round(float(other), 4)
        out.append(r)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "index-real" if args.copies == 1 else f"index-real-x{args.copies}"
    with open(args.out / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)
    cols = list(out[0])[1:]
    lines = [f"Conditions: run `{args.run.name}` ({cfg.data}), N={n:,} items ({len(base):,} images x "
             f"{args.copies} cop{'y' if args.copies == 1 else 'ies'}; encoding {encode_s:.0f} s), "
             f"{nq} queries "
             f"(database items, self excluded), top-{topk}, {args.threads} thread(s), shared machine, "
             f"faiss {faiss.__version__}. recall@k vs the exact float index's ids; label_recall@k = "
             "same-label items in the top-k / the float index's; own_copies@k = the share of the top-k "
             "that are shifted copies of the query's own image; precision@k_other_images = the label "
             "precision of the other items of the top-k.", "",
             "| index | " + " | ".join(cols) + " |", "| --- | " + " | ".join("---:" for _ in cols) + " |"]
    lines += ["| " + " | ".join([r["index"]] + [str(r[c]) for c in cols]) + " |" for r in out]
    lines += ["", f"Codes vs float queries/s: {out[1]['queries_per_s'] / out[0]['queries_per_s']:.1f}x. "
              f"CodeIndex: {index.n_distinct:,} distinct codes for {n:,} items; per batch of {nq} queries "
              f"{stats['rounds']} shortlist round(s), {stats['retries']} query retries, {stats['fallbacks']} "
              f"queries fell back to the exact scan; identical to the brute-force backend (ids and scores) "
              f"on the first {nv} queries: {identical} (brute force: {brute_qps:.1f} queries/s)."]
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    _plot_real(out, args.out / f"{name}.png", f"{cfg.data}, N={n:,}, top-{topk}, 1 query batch of {nq}")
    print("\n".join(lines))


def _plot_real(rows: list[dict], path: Path, title: str) -> None:
    """Queries/s (log scale) and label recall@10 of every index, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["index"].split(" (")[0].replace("float -> ", "") for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.6 * len(rows) + 1.6))
    ys = np.arange(len(rows))[::-1]
    axes[0].barh(ys, [r["queries_per_s"] for r in rows], color="tab:blue")
    axes[0].set_xscale("log")
    qps = [r["queries_per_s"] for r in rows]
    axes[0].set_xlim(10 ** np.floor(np.log10(min(qps))), 2 * max(qps))
    axes[0].set_xlabel("queries/s (1 thread)")
    recall = [key for key in rows[0] if key.startswith("label_recall@") and not key.endswith("@1")][0]
    axes[1].barh(ys, [r[recall] for r in rows], color="tab:green")
    axes[1].set_xlim(0, 1)
    axes[1].set_xlabel(recall.replace("_", " ") + " (vs exact float neighbours)")
    for ax in axes:
        ax.set_yticks(ys)
        ax.set_yticklabels(names if ax is axes[0] else [""] * len(rows))
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


if __name__ == "__main__":
    main()
