"""``infomax index``: build and search an exact DIMCO code index.

Examples::

    infomax index build runs/dimco-omniglot-20250101-120000 --data omniglot --split evaluation
    infomax index search runs/.../index-omniglot-evaluation.safetensors --queries omniglot:evaluation --k 5
    infomax index search INDEX --queries queries.npy --k 10 --json   # (Q, d, k) log-probabilities

``build`` encodes a dataset split with a trained DIMCO run, stores the packed argmax codes (and labels,
class names, data and split) in a safetensors file. ``search`` ranks the index for each query by
``log p(code | query)`` exactly.

When the queries are the indexed items themselves (``--queries`` names the indexed DATA:SPLIT), each query's
own item is left out of its results: an item is not its own neighbour, and counting it would put precision@1
near 1 whatever the codes are worth. Labels are compared by class *name*, so queries from another split
(MNIST train against an index of MNIST test) are scored in the same label space, and splits with disjoint
classes (Omniglot background against evaluation) get no precision at all rather than a meaningless one.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
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
        help="a .npy of (Q, d, k) log-probabilities, or DATA[:SPLIT] to encode with the index's run "
        "(DATA may be folder:PATH, e.g. folder:photos:test)",
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


def _load_images(
    name: str, split: str, root: str | None, size: int | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images uint8 (N, C, H, W), labels int64 (N,), class names) of a dataset split."""
    from infomax.data.datasets import load_split

    arrays = load_split(name, split, root, size=size)
    return arrays.images, arrays.labels, list(arrays.classes)


# ------------------------------------------------------------------------------------------------
def _default_split(name: str) -> str:
    from infomax.data.datasets import official_splits

    return official_splits(name)[1]  # the test split: "evaluation" for omniglot


def data_and_split(spec: str) -> tuple[str, str]:
    """``DATA[:SPLIT]`` -> (DATA, SPLIT), the split defaulting to the dataset's test split.

    DATA may carry a colon itself (``folder:PATH``, whose split is then a third part).

    Example:
        >>> data_and_split("omniglot"), data_and_split("omniglot:background")
        (('omniglot', 'evaluation'), ('omniglot', 'background'))
        >>> data_and_split("folder:photos"), data_and_split("folder:photos:train")
        (('folder:photos', 'test'), ('folder:photos', 'train'))
        >>> data_and_split("mnist:val")
        Traceback (most recent call last):
        ...
        infomax.errors.UserError: unknown split 'val' of mnist; choose one of: train, test
    """
    from infomax.data.datasets import official_splits
    from infomax.data.sources import SOURCES

    head, colon, tail = spec.rpartition(":")
    if not colon:
        return spec, _default_split(spec)
    source = SOURCES.get(head.partition(":")[0])
    if source is None:  # not a dataset name: the loader says so
        return head, tail
    if source.param and (":" not in head or tail not in source.splits):  # folder:PATH, no split
        return spec, _default_split(spec)
    if tail not in official_splits(head):
        raise UserError(f"unknown split {tail!r} of {head}; choose one of: {', '.join(source.splits)}")
    return head, tail


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
    images, labels, classes = _load_images(args.data, split, args.data_root, size)
    split_items = len(images)
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
    # the index holds items 0..ntotal-1 of this split, in order: what search needs to know a query's own item
    meta = {
        "run_dir": str(args.run_dir),
        "data": args.data,
        "split": split,
        "split_items": str(split_items),
        "classes": json.dumps([str(c) for c in classes]),
    }
    index.save(out, labels=np.asarray(labels), metadata=meta)
    return {
        "index": str(out),
        "items": index.ntotal,
        "split_items": split_items,
        "d": d,
        "k": k,
        "code_bits": index.code_bits,
        "bytes_per_item": code_bytes(d, k),
        "run_dir": str(args.run_dir),
        "data": args.data,
        "split": split,
    }


@dataclass
class _Queries:
    """Query log-probabilities and where they came from."""

    logprobs: np.ndarray  # (Q, d, k)
    source: str  # "DATA:SPLIT" or the .npy path
    labels: np.ndarray | None = None  # (Q,)
    classes: list[str] | None = None
    data: str | None = None
    split: str | None = None
    run_dir: str | None = None


def _queries(args: argparse.Namespace, meta: dict[str, str], d: int, k: int) -> _Queries:
    q = args.queries
    if q.endswith(".npy"):
        path = Path(q)
        if not path.is_file():
            raise UserError(f"query file not found: {path}")
        try:
            lp = np.load(path, allow_pickle=False)
        except ValueError as e:
            raise UserError(f"{path} is not a plain numeric .npy array ({e})") from None
        return _Queries(lp[: args.limit] if args.limit else lp, str(path))
    name, split = data_and_split(q)
    run_dir = args.run or meta.get("run_dir")
    if not run_dir:
        raise UserError("--queries DATA needs --run RUN_DIR (the index does not name its run)")
    run = _load_run(run_dir)
    rd, rk = _code_shape(run, run_dir)
    if (rd, rk) != (d, k):
        raise UserError(
            f"the run {run_dir} makes codes with (d, k) = ({rd}, {rk}) but the index holds ({d}, {k})"
        )
    images, labels, classes = _load_images(name, split, args.data_root, getattr(run.info, "image_size", None))
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    lp = encode_logprobs(run, images, args.batch_size)
    return _Queries(lp, f"{name}:{split}", np.asarray(labels), list(classes), name, split, str(run_dir))


def _meta_classes(meta: dict[str, str]) -> list[str] | None:
    try:
        classes = json.loads(meta["classes"])
    except (KeyError, ValueError):
        return None
    return [str(c) for c in classes] if isinstance(classes, list) else None


def _same_run(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return a == b


def _precision(
    ids: np.ndarray,
    db_labels: np.ndarray,
    db_classes: list[str] | None,
    q: _Queries,
    same_split: bool,
    exclude: np.ndarray | None,
) -> tuple[float | None, int, str | None]:
    """(precision@K or None, queries it averages over, a note when it is not given or restricted).

    A hit is a result of the query's class. Labels are compared by class name (numbers of two splits
    need not mean the same class); a query is scored only if the index holds another item of its class.
    """
    q_labels = np.asarray(q.labels, dtype=np.int64)
    db_labels = np.asarray(db_labels, dtype=np.int64)
    if same_split:  # the very same label numbering
        q_key, db_key = q_labels, db_labels
        q_ok = q_labels >= 0
    elif db_classes is None or not q.classes:
        return None, 0, (
            f"no precision: the index file records no class names, so its labels cannot be compared with "
            f"those of {q.source} (rebuild the index with this version of infomax)"
        )
    else:
        names = {c: i for i, c in enumerate(db_classes)}  # query class name -> index label number
        q_key = np.array([names.get(q.classes[v], -2) if 0 <= v < len(q.classes) else -2 for v in q_labels])
        db_key = db_labels
        q_ok = q_key >= 0
        if not q_ok.any():
            return None, 0, (
                f"no precision: the queried classes ({q.source}) and the indexed ones share no class, so no "
                "result can be a hit"
            )
    top = int(max(db_key.max(initial=0), q_key.max(initial=0)))
    counts = np.bincount(db_key[db_key >= 0], minlength=top + 1)  # items per class in the index
    n_rel = np.where(q_ok, counts[np.clip(q_key, 0, None)], 0)
    if exclude is not None:  # the query's own item is not a relevant result
        n_rel = n_rel - ((exclude >= 0) & q_ok & (db_key[np.clip(exclude, 0, None)] == q_key))
    scored = q_ok & (n_rel > 0)
    if not scored.any():
        return None, 0, f"no precision: no query of {q.source} has another item of its class in the index"
    hits = db_key[ids[scored]] == q_key[scored][:, None]  # (Q', K)
    note = None
    if scored.sum() < len(q_labels):
        note = (
            f"precision over {int(scored.sum())} of {len(q_labels)} queries: the others are unlabelled or "
            "have no other item of their class in the index"
        )
    return float(hits.mean()), int(scored.sum()), note


def search_index(args: argparse.Namespace) -> dict[str, Any]:
    from infomax.dimco.index import CodeIndex

    _limit(args.limit, "search")
    if args.k < 1:
        raise UserError(f"--k must be >= 1, got {args.k}")
    index, db_labels, meta = CodeIndex.load(args.index)
    q = _queries(args, meta, index.d, index.k)
    indexed = f"{meta['data']}:{meta['split']}" if meta.get("data") and meta.get("split") else None
    notes: list[str] = []
    # queries from the indexed split are items of the index: query i is item i (the index is a prefix)
    same_split = q.data is not None and indexed == q.source
    exclude = None
    if same_split:
        qn = len(q.logprobs)
        exclude = np.where(np.arange(qn) < index.ntotal, np.arange(qn), -1)
    elif q.data is None:
        notes.append(
            f"queries from a file ({q.source}): if they are items of the index, each finds its own copy "
            "among its results"
        )
    if q.run_dir and meta.get("run_dir") and not _same_run(q.run_dir, meta["run_dir"]):
        notes.append(
            f"queries encoded with {q.run_dir}, but the index holds codes of {meta['run_dir']}: results are "
            "meaningful only if both are the same model"
        )
    scores, ids = index.search(q.logprobs, args.k, exclude=exclude)
    out: dict[str, Any] = {
        "index": str(args.index),
        "indexed": indexed,
        "index_items": index.ntotal,
        "queried": q.source,
        "queries": int(ids.shape[0]),
        "self_excluded": exclude is not None,
        "self_excluded_queries": int((exclude >= 0).sum()) if exclude is not None else 0,
        "topk": int(ids.shape[1]),
        "ids": ids.tolist(),
        "scores": np.round(scores, 6).tolist(),
    }
    if db_labels is not None:
        out["labels"] = db_labels[ids].tolist()
        if q.labels is not None:
            prec, n_scored, note = _precision(ids, db_labels, _meta_classes(meta), q, same_split, exclude)
            if prec is not None:
                out[f"precision@{ids.shape[1]}"] = prec
                out["precision_queries"] = n_scored
            if note:
                notes.append(note)
    elif q.labels is not None:
        notes.append("no precision: the index holds no labels")
    out["notes"] = notes
    return out


def _of(n: int, total: int) -> str:
    return f"all {n} items" if n == total else f"the first {n} of {total} items"


def run(args: argparse.Namespace) -> int:
    if args.index_command == "build":
        res = build_index(args)
        if args.json:
            print(json.dumps(res))
        else:
            print(
                f"indexed {_of(res['items'], res['split_items'])} of {res['data']}:{res['split']} -> "
                f"{res['index']}\n"
                f"codes: d={res['d']} k={res['k']} ({res['code_bits']:g} bits, "
                f"{res['bytes_per_item']} bytes/item in the file)"
            )
        return 0
    res = search_index(args)
    if args.json:
        print(json.dumps(res))
        return 0
    for i, (row, sc) in enumerate(zip(res["ids"], res["scores"])):
        items = "  ".join(f"{j}({s:.2f})" for j, s in zip(row, sc))
        print(f"query {i}: {items}")
    indexed = res["indexed"] or f"{res['index']} (data not recorded)"
    line = (
        f"indexed {indexed} ({res['index_items']} items); "
        f"queried {res['queried']} ({res['queries']} queries)"
    )
    m = res["self_excluded_queries"]
    if res["self_excluded"] and m == res["queries"]:
        line += ": the same items, each query's own item left out of its results"
    elif res["self_excluded"]:
        line += f": queries 0-{m - 1} are the indexed items, each left out of its own results"
    print(line, file=sys.stderr)
    key = f"precision@{res['topk']}"
    if key in res:
        print(
            f"{key} = {res[key]:.4f} (share of results of the query's class, over {res['precision_queries']} "
            "queries)",
            file=sys.stderr,
        )
    for note in res["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0
