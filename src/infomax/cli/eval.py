"""``infomax eval RUN_DIR --protocol NAME``: evaluate a trained run's encoder, layer by layer.

Each result is written into the run's ``metrics.json`` under ``"eval/<protocol>/<layer>"`` and the
report is regenerated. By default a protocol sees the whole train split (the engine's final probe at
the end of ``infomax train`` uses a capped sample, see ``TrainConfig.final_probe_samples``);
``--max-train N`` fits on a stratified sample of N train images instead (the same fixed-seed sample as
the final probe), and ``--cs`` sets the C values the linear (or SVM) probe tries. Examples::

    infomax eval runs/demo-20250101-120000 --protocol knn
    infomax eval runs/demo-20250101-120000 --protocol mlp --layer fc --json
    infomax eval runs/cifar --protocol linear --max-train 10000 --cs 0.01,0.1
    infomax eval runs/cifar --protocol svm --layer conv

Each long phase (feature extraction per split, each probe fit, each MINE/NDM critic) shows a labelled
progress bar with an ETA on stderr when stderr is a terminal; ``--no-progress`` (or ``INFOMAX_PROGRESS=0``)
hides them, ``INFOMAX_PROGRESS=1`` shows them when stderr is redirected (see :mod:`infomax.progress`).
Features are computed once per (layer, split) in one call: with ``--layer all`` one pass of the encoder
over each split serves every layer (as long as they fit in 2 GiB).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from infomax.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained run (linear / MLP / kNN probes, ...)",
                       description="Evaluate a trained run's encoder with a protocol of infomax.evaluation; "
                                   "results go to RUN_DIR/metrics.json under eval/<protocol>/<layer>.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--protocol", default="linear", help="linear (default), svm, mlp, knn, ...")
    p.add_argument("--layer", default="all", help="an encoder layer (conv, fc, y, ...) or all (default)")
    p.add_argument("--data-root", metavar="DIR", help="where datasets are (default: as for training)")
    p.add_argument("--max-train", type=int, metavar="N",
                   help="fit on a stratified sample of N train images (default: all of them)")
    p.add_argument("--cs", metavar="C,C,...", help="linear / svm protocols: the C values tried, best on val "
                                                   "(default: the protocol's)")
    p.add_argument("--n-way", type=int, metavar="N", help="fewshot protocol: classes per episode (default 5)")
    p.add_argument("--k-shot", type=int, metavar="K", help="fewshot protocol: support items per class "
                                                          "(default 1)")
    p.add_argument("--rule", metavar="RULE",
                   help="fewshot protocol: how codes score a class: histogram (default: the share of the "
                        "class's support codes holding each symbol), codeword (the DIMCO paper's) or "
                        "mean-score")
    p.add_argument("--on", choices=("test", "holdout"), default="test",
                   help="fewshot / retrieval protocols: the unseen classes of the test split (default), or "
                        "holdout: the training-split items (train + val) of the run's holdout_classes, e.g. "
                        "background alphabets of Omniglot held out as a validation split")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: torch's choice; 1 is often fastest when shared)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars on stderr (default: shown when stderr is a terminal; "
                        "INFOMAX_PROGRESS=0/1 also decides)")
    p.set_defaults(func=run)


def protocols() -> dict[str, Any]:
    """``infomax.evaluation.PROTOCOLS``."""
    from infomax.evaluation import PROTOCOLS

    return PROTOCOLS


def holdout_splits(run: Any, splits: Any) -> Any:
    """``splits`` whose test split is the train + val items of the run's ``holdout_classes`` (labels and
    class names of the training split), so the few-shot / retrieval protocols evaluate on classes held out
    of training (a validation split of the training classes). UserError when the run held none out."""
    import dataclasses

    import numpy as np

    from infomax.data.arrays import ImageArrays
    from infomax.evaluation.fewshot_protocols import _holdout

    held = sorted(_holdout(run))
    if not held:
        raise UserError("this run held no classes out of training: train with --set holdout_classes=... "
                        "to evaluate --on holdout")
    parts = [splits.train, splits.val]
    keep = [np.isin(np.asarray(p.labels), held) for p in parts]
    images = np.concatenate([np.asarray(p.images)[k] for p, k in zip(parts, keep)])
    labels = np.concatenate([np.asarray(p.labels)[k] for p, k in zip(parts, keep)])
    test = ImageArrays(images, labels, list(splits.train.classes))
    return dataclasses.replace(splits, test=test)


def evaluate_run(
    run_dir: str,
    protocol: str,
    layer: str = "all",
    data_root: str | None = None,
    max_train: int | None = None,
    cs: tuple[float, ...] | None = None,
    n_way: int | None = None,
    k_shot: int | None = None,
    on: str = "test",
    rule: str | None = None,
) -> dict[str, Any]:
    """Run ``protocol`` on the chosen layer(s) of a run; record and return ``{"eval/<p>/<layer>": ...}``.

    ``max_train`` cuts the train split to a stratified sample (val and test whole); ``cs`` is passed to
    the protocol as ``Cs`` (the linear or SVM probe's C values). ``on="holdout"`` (fewshot / retrieval):
    evaluate on the training-split items of the run's ``holdout_classes`` instead of the test split (results
    under ``eval/<p>-holdout/<layer>``). ``rule`` (fewshot): how codes score a class
    (``infomax.dimco.fewshot.RULES``); a rule other than the default is kept under its own key."""
    from infomax.engine.evaluate import subsample_splits
    from infomax.evaluation.features import feature_cache
    from infomax.experiment import load_splits
    from infomax.progress import format_seconds, note
    from infomax.report import write_report
    from infomax.run import load_run, train_config_from, update_metrics

    if max_train is not None and max_train < 10:
        raise UserError(f"--max-train must be >= 10, got {max_train}")
    if cs is not None and (not cs or not all(c > 0 for c in cs)):
        raise UserError("--cs must be one or more positive numbers, e.g. 0.01,0.1")
    table = protocols()
    if protocol not in table:
        raise UserError(f"unknown protocol {protocol!r}; choose one of: {', '.join(table)}")
    if cs is not None and protocol not in ("linear", "svm"):
        raise UserError(f"--cs applies to the linear protocol only (or svm), not {protocol!r}")
    if (n_way is not None or k_shot is not None) and protocol != "fewshot":
        raise UserError(f"--n-way/--k-shot apply to the fewshot protocol only, not {protocol!r}")
    if rule is not None and protocol != "fewshot":
        raise UserError(f"--rule applies to the fewshot protocol only, not {protocol!r}")
    if rule is not None:
        from infomax.dimco.fewshot import check_rule

        check_rule(rule)
    if n_way is not None and n_way < 2:
        raise UserError(f"--n-way must be >= 2, got {n_way}")
    if k_shot is not None and k_shot < 1:
        raise UserError(f"--k-shot must be >= 1, got {k_shot}")
    run = load_run(run_dir)
    layers = tuple(run.method.encoder.layers)
    if layer != "all" and layer not in layers:
        raise UserError(f"unknown layer {layer!r}; this encoder has: {', '.join(layers)} (or all)")
    train_cfg = train_config_from(run.config)
    if data_root is not None:
        train_cfg.data_root = data_root
    if on not in ("test", "holdout"):
        raise UserError(f"--on must be test or holdout, got {on!r}")
    if on == "holdout" and protocol not in ("fewshot", "retrieval"):
        raise UserError(f"--on holdout applies to the fewshot and retrieval protocols only, not {protocol!r}")
    splits = subsample_splits(load_splits(train_cfg), max_train)
    if on == "holdout":
        splits = holdout_splits(run, splits)
    kw: dict[str, Any] = {} if cs is None else {"Cs": tuple(cs)}
    key = protocol
    if protocol == "fewshot":  # episodes of another shape are another measurement: keep both
        kw.update(n_way=n_way or 5, k_shot=k_shot or 1)
        key = f"fewshot-{kw['n_way']}w{kw['k_shot']}s"
        if rule is not None:
            from infomax.dimco.fewshot import DEFAULT_RULE

            kw["rule"] = rule
            key += "" if rule == DEFAULT_RULE else f"-{rule}"
    if on == "holdout":
        key += "-holdout"
    device = "cuda" if train_cfg.accelerator in ("gpu", "cuda") and _cuda() else "cpu"
    chosen = layers if layer == "all" else (layer,)
    sizes = f"{len(splits.train.labels)} train, {len(splits.val.labels)} val, {len(splits.test.labels)} test"
    note(f"eval {protocol} on {', '.join(chosen)} of {run_dir} ({device}; {sizes} images)")
    results = {}
    start = time.perf_counter()
    with feature_cache(chosen):  # one encoder pass per split serves every layer
        for i, name in enumerate(chosen, 1):
            t0 = time.perf_counter()
            results[f"eval/{key}/{name}"] = out = table[protocol](run, splits, name, device=device, **kw)
            headline = next(((k, v) for k, v in out.items() if k in HEADLINES and isinstance(v, float)), None)
            value = f": {headline[0]} {headline[1]:.4f}" if headline else ""
            note(f"[{i}/{len(chosen)}] {protocol} {name}{value} ({format_seconds(time.perf_counter() - t0)}; "
                 f"{format_seconds(time.perf_counter() - start)} so far)")
    update_metrics(run.run_dir, results)
    write_report(run.run_dir)
    return results


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


#: The figure summarised after each layer (the first of these a protocol returns).
HEADLINES = ("accuracy", "mi", "ndm", "ms_ssim", "precision@1", "codes_accuracy", "codes/mAP",
             "continuous_accuracy", "continuous/mAP")
#: Long strings shown under the table rather than in a cell.
NOTES = ("warning",)


def format_value(v: Any) -> str:
    """A number or text as printed: floats with 4 decimals (4 significant digits when tiny or huge),
    lists of numbers comma-separated.

    Example:
        >>> format_value(0.97643), format_value(2e-05), format_value([1, 2.5])
        ('0.9764', '2e-05', '1,2.5000')
    """
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e7 else f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ",".join(format_value(x) for x in v)
    return str(v)


def flatten_result(result: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``{name: printed value}`` of everything a protocol returned, nested dicts as ``outer/inner`` (the
    fine-tuning accuracies ``accuracy/1%``, ``accuracy/10%``...); lists of lists (the index grid of the
    neighbours protocol) are left to ``--json`` and ``metrics.json``."""
    out: dict[str, str] = {}
    for k, v in result.items():
        name = f"{prefix}{k}"
        if prefix == "" and k in ("protocol", "layer"):
            continue
        if isinstance(v, dict):
            out.update(flatten_result(v, f"{name}/"))
        elif isinstance(v, (list, tuple)) and any(isinstance(x, (list, tuple, dict)) for x in v):
            continue
        else:
            out[name] = format_value(v)
    return out


def format_table(results: dict[str, Any]) -> list[str]:
    """The lines ``infomax eval`` prints: the protocol, then one row per number (nested values flattened,
    see :func:`flatten_result`) and one column per layer, then any warnings."""
    protocol = next(iter(results)).split("/")[1] if results else ""
    layers = [key.split("/", 2)[2] for key in results]
    flat = [flatten_result(r) for r in results.values()]
    names = [n for n in dict.fromkeys(n for f in flat for n in f) if n not in NOTES]
    rows = [["metric", *layers]] + [[n, *(f.get(n, "-") for f in flat)] for n in names]
    widths = [max(len(x) for x in col) for col in zip(*rows)]
    lines = [f"protocol: {protocol}"]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in rows]
    lines += [f"{n} ({layer}): {f[n]}" for layer, f in zip(layers, flat) for n in NOTES if n in f]
    return lines


def print_table(results: dict[str, Any]) -> None:
    """Print :func:`format_table` to stdout."""
    for line in format_table(results):
        print(line)


def run(args: argparse.Namespace) -> int:
    from infomax.cli.train import set_threads
    from infomax.progress import progress_scope

    set_threads(args.threads)
    cs = None
    if args.cs is not None:
        from infomax.config import coerce

        cs = coerce(args.cs, tuple[float, ...], "--cs")
    with progress_scope(False if args.no_progress else None):
        results = evaluate_run(args.run_dir, args.protocol, args.layer, args.data_root, args.max_train, cs,
                               args.n_way, args.k_shot, args.on, args.rule)
    if args.json:
        json.dump(results, sys.stdout)
        print()
    else:
        print_table(results)
    return 0
