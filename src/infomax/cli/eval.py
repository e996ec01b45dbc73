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
"""

from __future__ import annotations

import argparse
import json
import sys
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
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: torch's choice; 1 is often fastest when shared)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.set_defaults(func=run)


def protocols() -> dict[str, Any]:
    """``infomax.evaluation.PROTOCOLS`` (a UserError if the evaluation module is unavailable)."""
    try:
        from infomax.evaluation import PROTOCOLS
    except ImportError as e:
        raise UserError(f"evaluation protocols are not available in this installation ({e})") from None
    return PROTOCOLS


def evaluate_run(
    run_dir: str,
    protocol: str,
    layer: str = "all",
    data_root: str | None = None,
    max_train: int | None = None,
    cs: tuple[float, ...] | None = None,
    n_way: int | None = None,
    k_shot: int | None = None,
) -> dict[str, Any]:
    """Run ``protocol`` on the chosen layer(s) of a run; record and return ``{"eval/<p>/<layer>": ...}``.

    ``max_train`` cuts the train split to a stratified sample (val and test whole); ``cs`` is passed to
    the protocol as ``Cs`` (the linear or SVM probe's C values)."""
    from infomax.cli.train import load_splits
    from infomax.engine.evaluate import subsample_splits
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
    splits = subsample_splits(load_splits(train_cfg), max_train)
    kw: dict[str, Any] = {} if cs is None else {"Cs": tuple(cs)}
    key = protocol
    if protocol == "fewshot":  # episodes of another shape are another measurement: keep both
        kw.update(n_way=n_way or 5, k_shot=k_shot or 1)
        key = f"fewshot-{kw['n_way']}w{kw['k_shot']}s"
    device = "cuda" if train_cfg.accelerator in ("gpu", "cuda") and _cuda() else "cpu"
    results = {f"eval/{key}/{name}": table[protocol](run, splits, name, device=device, **kw)
               for name in (layers if layer == "all" else (layer,))}
    update_metrics(run.run_dir, results)
    write_report(run.run_dir)
    return results


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def print_table(results: dict[str, Any]) -> None:
    """One row per layer, one column per scalar the protocol returned."""
    cols = list(dict.fromkeys(k for r in results.values() for k, v in r.items()
                              if isinstance(v, (int, float, str)) and k not in ("protocol", "layer")))
    rows = [[key.split("/", 2)[2]] + [_cell(r.get(c, "-")) for c in cols] for key, r in results.items()]
    header = ["layer"] + cols
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    protocol = next(iter(results)).split("/")[1] if results else ""
    print(f"protocol: {protocol}")
    for row in [header] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


def run(args: argparse.Namespace) -> int:
    from infomax.cli.train import set_threads

    set_threads(args.threads)
    cs = None
    if args.cs is not None:
        from infomax.config import coerce

        cs = coerce(args.cs, tuple[float, ...], "--cs")
    results = evaluate_run(args.run_dir, args.protocol, args.layer, args.data_root, args.max_train, cs,
                           args.n_way, args.k_shot)
    if args.json:
        json.dump(results, sys.stdout)
        print()
    else:
        print_table(results)
    return 0
