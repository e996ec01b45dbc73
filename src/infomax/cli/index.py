"""``infomax index``: build and search an exact DIMCO code index.

Examples::

    infomax index build runs/dimco-omniglot-20250101-120000 --data omniglot --split evaluation
    infomax index search runs/.../index-omniglot-evaluation.safetensors --queries omniglot:evaluation --k 5
    infomax index search INDEX --queries queries.npy --k 10 --json   # (Q, d, k) log-probabilities

``build`` encodes a dataset split with a trained DIMCO run, stores the packed argmax codes (and labels)
in a safetensors file. ``search`` ranks the index for each query by ``log p(code | query)`` exactly.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from infomax.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "index",
        help="build / search an exact DIMCO code index",
        description="Exact similarity search over packed DIMCO codes (faiss fast-scan + exact re-ranking).",
    )
    isub = p.add_subparsers(dest="index_command", metavar="ACTION", parser_class=type(p))
    isub.required = True

    b = isub.add_parser("build", help="encode a dataset split with a DIMCO run and index its codes")
    b.add_argument("run_dir", metavar="RUN_DIR")
    b.add_argument(
        "--data", required=True, help="dataset name (digits, mnist, fashion-mnist, cifar10, omniglot, ...)"
    )
    b.add_argument("--split", default=None, help="split to index (default: test; Omniglot: evaluation)")
    b.add_argument("--data-root", metavar="DIR", help="where datasets are (default: $INFOMAX_DATA / cache)")
    b.add_argument(
        "--out", metavar="INDEX", help="output file (default: RUN_DIR/index-<data>-<split>.safetensors)"
    )
    b.add_argument("--limit", type=int, help="index only the first N items")
    b.add_argument("--batch-size", type=int, default=256)
    b.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    b.set_defaults(func=run)

    s = isub.add_parser("search", help="rank an index for queries by log p(code | query)")
    s.add_argument("index", metavar="INDEX")
    s.add_argument(
        "--queries",
        required=True,
        help="a .npy of (Q, d, k) log-probabilities, or DATA[:SPLIT] to encode with the index's run",
    )
    s.add_argument(
        "--run", metavar="RUN_DIR", help="DIMCO run encoding DATA queries (default: the index's run)"
    )
    s.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    s.add_argument("--limit", type=int, help="use only the first N queries")
    s.add_argument("--data-root", metavar="DIR")
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--json", action="store_true", help="print the results as one JSON object")
    s.set_defaults(func=run)


# --- seams (tests replace these with stand-ins) -------------------------------------------------
def _load_run(run_dir: str) -> Any:
    from infomax.run import load_run

    return load_run(run_dir)


def _load_images(name: str, split: str, root: str | None, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    from infomax.data.datasets import load_split

    arrays = load_split(name, split, root, size=size)
    return arrays.images, arrays.labels


# ------------------------------------------------------------------------------------------------
def _default_split(name: str) -> str:
    return "evaluation" if name == "omniglot" else "test"


def _code_shape(run: Any, run_dir: str) -> tuple[int, int]:
    enc = getattr(run.method, "encoder", None)
    shape = getattr(enc, "code_shape", None)
    if shape is None or "logprobs" not in getattr(enc, "layers", ()):
        raise UserError(
            f"{run_dir} is not a DIMCO run (method {run.config.get('method')!r}); train one with dimco"
        )
    d, k = (int(v) for v in shape.tolist())
    return d, k


def encode_logprobs(run: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, d, k) float32 log-probabilities of uint8 images (N, C, H, W) under a DIMCO run."""
    from infomax.evaluation.features import extract_features

    d, k = _code_shape(run, "run")
    if batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    flat = extract_features(run.method.encoder, images, "logprobs", batch_size=batch_size)
    return flat.reshape(-1, d, k).astype(np.float32)


def _limit(n: int | None, what: str) -> None:
    if n is not None and n < 1:
        raise UserError(f"--limit must be >= 1 for {what}, got {n}")


def build_index(args: argparse.Namespace) -> dict[str, Any]:
    from infomax.dimco.codes import argmax_codes, code_bytes
    from infomax.dimco.index import CodeIndex

    _limit(args.limit, "build")
    run = _load_run(args.run_dir)
    d, k = _code_shape(run, args.run_dir)
    split = args.split or _default_split(args.data)
    size = getattr(run.info, "image_size", None)
    images, labels = _load_images(args.data, split, args.data_root, size)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    if len(images) == 0:
        raise UserError(f"{args.data}:{split} holds no images")
    logprobs = encode_logprobs(run, images, args.batch_size)
    index = CodeIndex(d, k)
    index.add(argmax_codes(logprobs))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", args.data)
    out = Path(args.out) if args.out else Path(args.run_dir) / f"index-{safe}-{split}.safetensors"
    if not out.parent.is_dir():
        raise UserError(f"output folder does not exist: {out.parent}")
    meta = {"run_dir": str(args.run_dir), "data": args.data, "split": split}
    index.save(out, labels=np.asarray(labels), metadata=meta)
    return {
        "index": str(out),
        "items": index.ntotal,
        "d": d,
        "k": k,
        "code_bits": index.code_bits,
        "bytes_per_item": code_bytes(d, k),
        "run_dir": str(args.run_dir),
        "data": args.data,
        "split": split,
    }


def _queries(
    args: argparse.Namespace, meta: dict[str, str], d: int, k: int
) -> tuple[np.ndarray, np.ndarray | None]:
    q = args.queries
    if q.endswith(".npy"):
        path = Path(q)
        if not path.is_file():
            raise UserError(f"query file not found: {path}")
        try:
            lp = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise UserError(f"{path} is not a plain numeric .npy array ({e})") from None
        return (lp[: args.limit] if args.limit else lp), None
    name, _, split = q.partition(":")
    run_dir = args.run or meta.get("run_dir")
    if not run_dir:
        raise UserError("--queries DATA needs --run RUN_DIR (the index does not name its run)")
    run = _load_run(run_dir)
    rd, rk = _code_shape(run, run_dir)
    if (rd, rk) != (d, k):
        raise UserError(
            f"the run {run_dir} makes codes with (d, k) = ({rd}, {rk}) but the index holds ({d}, {k})"
        )
    images, labels = _load_images(
        name, split or _default_split(name), args.data_root, getattr(run.info, "image_size", None)
    )
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    return encode_logprobs(run, images, args.batch_size), np.asarray(labels)


def search_index(args: argparse.Namespace) -> dict[str, Any]:
    from infomax.dimco.index import CodeIndex

    _limit(args.limit, "search")
    if args.k < 1:
        raise UserError(f"--k must be >= 1, got {args.k}")
    index, db_labels, meta = CodeIndex.load(args.index)
    lp, q_labels = _queries(args, meta, index.d, index.k)
    scores, ids = index.search(lp, args.k)
    out: dict[str, Any] = {
        "index": str(args.index),
        "queries": int(ids.shape[0]),
        "topk": int(ids.shape[1]),
        "ids": ids.tolist(),
        "scores": np.round(scores, 6).tolist(),
    }
    if db_labels is not None:
        out["labels"] = db_labels[ids].tolist()
        if q_labels is not None and (q_labels >= 0).all():
            out[f"precision@{ids.shape[1]}"] = float(np.mean(db_labels[ids] == q_labels[:, None]))
    return out


def run(args: argparse.Namespace) -> int:
    if args.index_command == "build":
        res = build_index(args)
        if args.json:
            print(json.dumps(res))
        else:
            print(
                f"indexed {res['items']} items of {res['data']}:{res['split']} -> {res['index']}\n"
                f"codes: d={res['d']} k={res['k']} ({res['code_bits']:g} bits, "
                f"{res['bytes_per_item']} bytes/item)"
            )
        return 0
    res = search_index(args)
    if args.json:
        print(json.dumps(res))
        return 0
    for i, (row, sc) in enumerate(zip(res["ids"], res["scores"])):
        items = "  ".join(f"{j}({s:.2f})" for j, s in zip(row, sc))
        print(f"query {i}: {items}")
    key = f"precision@{res['topk']}"
    if key in res:
        print(f"{key} = {res[key]:.4f}", file=sys.stderr)
    return 0
