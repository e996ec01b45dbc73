"""Representation quality per CPU budget: every contender and the peers, the same probes, 3 seeds per cell.

For each dataset, wall-clock budget (minutes of training) and contender, train ``--seeds`` times (one
training seed each) and probe every encoder the same way: ``PROTOCOLS["linear"]`` (logistic regression on
standardized features, C chosen on 10% carved from train, refit, test accuracy) and ``PROTOCOLS["knn"]``
(weighted cosine kNN, k 20), on the full official train / test splits unless ``--probe-max-*`` says
otherwise (smoke runs only). The layer is ``fc`` where the encoder has it (the DIM encoder, which the
peers share), else the encoder's output layer (AMDIM, CPC). ``--layers fc conv`` probes each trained encoder
on each layer listed (one training, one cell per layer; a layer other than ``fc`` names its cells
``<contender>@<layer>``; an encoder without the layer is probed on its output layer, as for ``fc``). Only
missing cells are written: a layer added later trains that seed again, so its cell and the older ones of
the same seed come from different trainings.

Contenders (``--contenders``): infomax presets trained by the library's engine with ``max_minutes``
(``dim-l``, ``dim-l-cross``, ``dim-l-cross-cifar``, ``amdim`` with its preset's own optimiser, Adam 2e-4 and
betas (0.8, 0.999), ``moco``, ``cpc``, ``hybrid``, ``supervised``), ``random`` (the untrained DIM encoder
at that seed; ``random-cpc`` and ``random-hybrid``, outside the default table, are those presets' untrained
networks), and the peers ``simclr-lightly``, ``byol-lightly``, ``mocov2-lightly`` (``lightly_peers.py`` in a
separate environment given by ``--lightly-python``; same DIM encoder; skipped, and said so in the table,
without it).

Resumable: each (dataset, budget, contender, seed) cell is one JSON file under ``OUT/cells/``, written
atomically when its probes finish; a cell already there is skipped. Every invocation first times the bare
DIM encoder's training step on this machine (``calibration.csv``, appended: the machine's speed in the
same session as the cells it ran), then runs what is missing, then rewrites ``OUT/budget.{md,csv,png}``
from all cells (``--report-only``: only that). Verdicts use the project's claims rule
(``infomax.evaluation.claims``: >= 3 seeds a side, a gap beyond two standard errors of the seed-to-seed
spread); every comparison is equal in wall-clock time, not in steps (the step counts are in the table).

Model selection (``--select``, issue 21's "choose on a validation split carved from train, report test
once"): the train split loses a fixed-seed 10% (``infomax.data.load_dataset``'s val split, 5,000 CIFAR-10
items); training and the probes' fit use the rest, the probes score the carved 10%, and the test split is
never read. ``--set KEY=VALUE`` (repeatable) changes an infomax contender's settings as ``infomax train
--set`` does and ``--tag NAME`` names the variant (its cells are ``<contender>+<NAME>``); cells go to
``results-select/`` unless ``--out`` says otherwise. A setting chosen there is then run once on the test
split by the plain command.

Example (the full table; about 3 x 11 x 2 x (10 + 30) minutes of training plus probes)::

    INFOMAX_DATA=... python benchmarks/budget/run.py --datasets cifar10 fashion-mnist --minutes 10 30 \\
        --seeds 0 1 2 --threads 2 --lightly-python /path/to/venv-lightly/bin/python
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "dim"))
import common  # noqa: E402

from infomax.config import parse_set  # noqa: E402
from infomax.errors import UserError  # noqa: E402
from infomax.evaluation import claims  # noqa: E402

RESULTS = HERE / "results"
SELECT = HERE / "results-select"
INFOMAX = ["dim-l", "dim-l-cross", "dim-l-cross-cifar", "amdim", "moco", "cpc", "hybrid", "supervised"]
PEERS = {"simclr-lightly": "simclr", "byol-lightly": "byol", "mocov2-lightly": "mocov2"}
DEFAULT = ["random", *INFOMAX, *PEERS]
#: Untrained baselines (the preset's network at its initial weights for that seed): ``random`` is the DIM
#: encoder every table row shares; ``random-cpc`` / ``random-hybrid`` (outside the default table) ask
#: whether CPC's and the hybrid's training helps their own network, whose layer the probes read.
UNTRAINED = {"random": "dim-l-noprior", "random-cpc": "cpc", "random-hybrid": "hybrid"}
KNOWN = [*DEFAULT, *(u for u in UNTRAINED if u not in DEFAULT)]
#: The contender listed first in the verdict lines (then the best of each cell, then the rest).
REFERENCE = "dim-l-cross"


def cell_path(out: Path, data: str, minutes: float, contender: str, seed: int) -> Path:
    """``OUT/cells/<data>/<minutes>min/<contender>/seed<seed>.json``.

    Example:
        >>> cell_path(Path("o"), "cifar10", 10.0, "dim-l", 2).as_posix()
        'o/cells/cifar10/10min/dim-l/seed2.json'
    """
    return out / "cells" / data / f"{minutes:g}min" / contender / f"seed{seed}.json"


def cell_name(contender: str, tag: str | None, layer: str = "fc") -> str:
    """A cell's contender name: the preset's, ``<preset>+<tag>`` for a ``--set`` variant, and ``@<layer>``
    after it when the probes read a layer other than ``fc``.

    Example:
        >>> cell_name("dim-l-cross", "bf16"), cell_name("moco", None), cell_name("dim-l", "b", "conv")
        ('dim-l-cross+bf16', 'moco', 'dim-l+b@conv')
    """
    name = f"{contender}+{tag}" if tag else contender
    return name if layer == "fc" else f"{name}@{layer}"


def write_json(path: Path, obj: dict) -> None:
    """Atomic: a temporary file in the same folder, then rename (a killed run leaves no half cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def select_splits(data: str):
    """The model-selection splits: train = the official train split less its fixed-seed 10% (the library's
    val split), val = empty (the probes carve C's split from train, as on the full table), test = that 10%.
    The official test split is not part of it."""
    import numpy as np

    from infomax.data.datasets import DataSplits

    s = common.load_splits(data, None, val_fraction=0.1)
    return DataSplits(s.train, s.train.subset(np.zeros(0, np.int64)), s.val, s.info)


def calibrate(splits, threads: int, steps: int = 20, batch: int = 64) -> dict:
    """ms per training step (forward, backward, Adam) of the bare DIM encoder on ``batch`` images."""
    import torch

    from infomax.encoders.dim_conv import DIMConvEncoder

    info = splits.info
    torch.manual_seed(0)
    enc = DIMConvEncoder(info.channels, info.image_size, mean=info.mean, std=info.std)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    x = torch.rand(batch, info.channels, info.image_size, info.image_size)
    times = []
    for i in range(steps + 3):
        t0 = time.perf_counter()
        loss = enc(x)["fc"].pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 3:  # warm-up steps not counted
            times.append(time.perf_counter() - t0)
    c = common.cpu_conditions()
    return {"time_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "data": info.name,
            "threads": threads, "batch": batch, "steps": steps,
            "ms_per_step_median": round(1e3 * statistics.median(times), 2), "load_1m": c["load_1m"]}


def _layer(encoder, layer: str) -> str | None:
    from infomax.errors import UserError
    from infomax.evaluation.features import check_layer

    try:
        return check_layer(encoder, layer)
    except UserError:
        return None  # the encoder's output layer


def probe(encoder, psplits, layer: str = "fc") -> dict:
    """Linear and kNN test accuracy on the encoder's ``layer`` (or output layer where it has none)."""
    from infomax.evaluation import PROTOCOLS

    encoder.eval()
    layer = _layer(encoder, layer)
    t0 = time.monotonic()
    lin = PROTOCOLS["linear"](encoder, psplits, layer)
    knn = PROTOCOLS["knn"](encoder, psplits, layer)
    return {"layer": lin.get("layer", layer), "linear": round(float(lin["accuracy"]), 4),
            "knn": round(float(knn["accuracy"]), 4), "probe_s": round(time.monotonic() - t0, 1)}


def train_infomax(preset: str, data: str, minutes: float, seed: int, splits, tmp: Path,
                  overrides: dict | None = None) -> tuple:
    method, metrics = common.train(preset, splits, tmp / f"{preset}-{minutes:g}-{seed}", minutes,
                                   {"data": data, "seed": seed, "val_fraction": 0.0, **(overrides or {})})
    tr = metrics["train"]
    return encoder_of(method, preset), {"steps": tr["steps"], "train_s": round(tr["elapsed_s"], 1)}


def encoder_of(method, preset: str):
    """The network a method's probes read: its ``.encoder`` (or ``.backbone``)."""
    encoder = getattr(method, "encoder", None) or getattr(method, "backbone", None)
    if encoder is None:
        raise SystemExit(f"error: preset {preset!r} has no .encoder to probe")
    return encoder


def train_peer(args, peer: str, data: str, minutes: float, seed: int, splits, tmp: Path) -> tuple:
    from safetensors.torch import load_file

    from infomax.encoders.dim_conv import DIMConvEncoder

    weights = tmp / f"{peer}-{data}-{minutes:g}-{seed}.safetensors"
    cmd = [args.lightly_python, str(HERE / "lightly_peers.py"), "--method", PEERS[peer], "--data", data,
           "--budget-minutes", str(minutes), "--out-weights", str(weights), "--seed", str(seed),
           "--threads", str(args.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        err = (res.stderr.strip().splitlines() or ["?"])[-1][:300]
        raise RuntimeError(f"{peer} failed: {err}")
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    info = splits.info
    enc = DIMConvEncoder(info.channels, info.image_size, mean=info.mean, std=info.std)
    enc.load_state_dict(load_file(str(weights)))
    return enc, {"steps": rec["steps"], "train_s": rec["elapsed_s"],
                 "peer": f"lightly {rec['lightly']}, torch {rec['torch']}, {rec['recipe']}",
                 "first_loss": rec.get("first_loss"), "final_loss": rec.get("final_loss")}


def run_cell(args, data: str, minutes: float, contender: str, seed: int, splits, psplits, tmp: Path,
             calib: dict, layers: list[str]) -> dict[str, dict]:
    """Train (or build) one contender for one seed, probe it on each of ``layers``, and return
    ``{layer: the cell's record}``."""
    c0 = common.cpu_conditions()
    if contender in UNTRAINED:
        preset = UNTRAINED[contender]
        enc, tr = encoder_of(common.untrained(preset, splits, seed), preset), {"steps": 0, "train_s": 0.0}
    elif contender in PEERS:
        enc, tr = train_peer(args, contender, data, minutes, seed, splits, tmp)
    else:
        enc, tr = train_infomax(contender, data, minutes, seed, splits, tmp, args.overrides)
    cells = {}
    for layer in layers:
        res = probe(enc, psplits, layer)
        c1 = common.cpu_conditions()
        cells[layer] = _record(args, data, minutes, cell_name(contender, args.tag, layer), seed, tr, res,
                               calib, c0, c1)
    return cells


def _record(args, data: str, minutes: float, name: str, seed: int, tr: dict, res: dict, calib: dict,
            c0: dict, c1: dict) -> dict:
    return {"data": data, "minutes": minutes, "contender": name, "seed": seed, **tr, **res,
            "scored_on": "val (10% carved from train)" if args.select else "test",
            "overrides": args.overrides,
            "threads": args.threads, "probe_max_train": args.probe_max_train,
            "probe_max_test": args.probe_max_test, "calibration_ms_per_step": calib["ms_per_step_median"],
            "calibration_time_utc": calib["time_utc"], "load_1m_start": c0["load_1m"],
            "load_1m_end": c1["load_1m"],
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def load_cells(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*/*/*/seed*.json"))]


def _mean_sd(v: list[float]) -> str:
    if not v:
        return ""
    m = 100 * statistics.fmean(v)
    return f"{m:.1f}" if len(v) < 2 else f"{m:.1f} ± {100 * statistics.stdev(v):.1f}"


def summarize(cells: list[dict]) -> tuple[list[dict], list[str]]:
    """One row per (data, minutes, contender): seeds, linear and kNN mean ± sd over seeds (points), mean
    steps; and the verdict lines (claims rule on the per-seed linear, then kNN, accuracies; every pair of
    contenders once, ``REFERENCE`` and the cell's best first; then each contender against itself at the
    next shorter budget).

    Example:
        >>> cs = [{"data": "d", "minutes": 1, "contender": c, "seed": s, "linear": a + s / 100, "knn": 0.5,
        ...        "steps": 10} for c, a in (("dim-l-cross", 0.70), ("random", 0.40)) for s in range(3)]
        >>> summarize(cs)[1][0]
        'd, 1 min, linear: dim-l-cross vs random: beats: +30 +- 0.816 (2 SE = 1.63; 3 vs 3 seeds)'
    """
    rows, lines = [], []
    keys = list(dict.fromkeys((c["data"], c["minutes"]) for c in cells))
    for data, minutes in keys:
        by: dict[str, list[dict]] = {}
        for c in cells:
            if (c["data"], c["minutes"]) == (data, minutes):
                by.setdefault(c["contender"], []).append(c)
        order = [c for c in DEFAULT if c in by] + [c for c in by if c not in DEFAULT]
        for name in order:
            cs = sorted(by[name], key=lambda c: c["seed"])
            rows.append({"data": data, "minutes": minutes, "contender": name,
                         "seeds": ",".join(str(c["seed"]) for c in cs),
                         "linear": _mean_sd([c["linear"] for c in cs]),
                         "knn": _mean_sd([c["knn"] for c in cs]),
                         "steps": round(statistics.fmean(c["steps"] for c in cs)),
                         "layer": cs[0].get("layer", "")})
        acc = {m: {n: [100 * c[m] for c in by[n]] for n in order} for m in ("linear", "knn")}
        best = max(order, key=lambda n: statistics.fmean(acc["linear"][n]))
        # every pair once, the reference and the cell's best first: each claim the docs make is written here
        ranked = list(dict.fromkeys([r for r in (REFERENCE, best) if r in by] + order))
        for metric in ("linear", "knn"):
            for i, a in enumerate(ranked):
                for b in ranked[i + 1:]:
                    verdict = str(claims.compare(acc[metric][a], acc[metric][b]))
                    lines.append(f"{data}, {minutes:g} min, {metric}: {a} vs {b}: {verdict}")
    # each contender against itself at the next shorter budget: what the extra minutes bought
    for data in dict.fromkeys(d for d, _ in keys):
        per: dict[str, dict[float, list[dict]]] = {}
        for c in cells:
            if c["data"] == data:
                per.setdefault(c["contender"], {}).setdefault(c["minutes"], []).append(c)
        for name, at in per.items():
            budgets = sorted(at)
            for short, long in zip(budgets, budgets[1:]):
                for metric in ("linear", "knn"):
                    verdict = claims.compare([100 * c[metric] for c in at[long]],
                                             [100 * c[metric] for c in at[short]])
                    lines.append(f"{data}, {name}, {metric}: {long:g} vs {short:g} min: {verdict}")
    return rows, lines


def plot(cells: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datas = list(dict.fromkeys(c["data"] for c in cells))
    names = list(dict.fromkeys(c["contender"] for c in cells))  # numbered once: one style per contender
    fig, axes = plt.subplots(1, max(1, len(datas)), figsize=(7 * max(1, len(datas)), 4), squeeze=False)
    for ax, data in zip(axes[0], datas):
        for i, name in enumerate(names):  # up to 20 distinct colours, markers cycling beside them
            pts = {}
            for c in cells:
                if c["data"] == data and c["contender"] == name:
                    pts.setdefault(c["minutes"], []).append(100 * c["linear"])
            if not pts:  # no cell of this contender on this dataset
                continue
            xs = sorted(pts)
            ms = [statistics.fmean(pts[x]) for x in xs]
            es = [statistics.stdev(pts[x]) / math.sqrt(len(pts[x])) if len(pts[x]) > 1 else 0 for x in xs]
            ax.errorbar(xs, ms, yerr=es, marker="osD^v"[i % 5], color=plt.get_cmap("tab20")(i % 20),
                        capsize=3, label=name)
        ax.set_title(f"{data}: linear probe (mean ± s.e. over seeds)")
        ax.set_xlabel("training budget (minutes, 2-core CPU)")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))  # beside the axes, off the points
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(out: Path) -> None:
    cells = load_cells(out)
    if not cells:
        print(f"no cells under {out / 'cells'} yet", file=sys.stderr)
        return
    rows, lines = summarize(cells)
    cal_path = out / "calibration.csv"
    cal = cal_path.read_text().strip().splitlines()[1:] if cal_path.exists() else []
    notes = [
        "linear: PROTOCOLS['linear'] (standardized features, C on 10% carved from train, test once); knn: "
        "PROTOCOLS['knn'] (cosine, k 20, T 0.07); mean ± sample sd over training seeds, in %",
        "every comparison is equal in wall-clock time, not in steps (steps = mean optimiser steps)",
        "verdicts: infomax.evaluation.claims (>= 3 seeds a side; beyond two standard errors of the "
        "difference across seeds); fewer seeds -> 'not enough seeds'",
        "probe sizes per cell are in cells/*.json (probe_max_train / probe_max_test; null = full split)",
        f"calibration (bare DIM encoder step, this machine, each session): {len(cal)} records in "
        "calibration.csv",
        *(["MODEL SELECTION (--select): every accuracy here is on the 10% validation split carved from "
           "train, the test split never read; variants <contender>+<tag>, their settings in cells/*.json "
           "(overrides)"]
          if any(c.get("scored_on", "test") != "test" for c in cells) else []),
        *lines,
    ]
    common.write_table(rows, out / "budget", "Representation quality per CPU budget", notes)
    plot(cells, out / "budget.png")
    print((out / "budget.md").read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["cifar10", "fashion-mnist"])
    p.add_argument("--minutes", type=float, nargs="+", default=[10.0, 30.0])
    p.add_argument("--contenders", nargs="+", default=DEFAULT)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lightly-python", default=None, help="python of the lightly environment (peers)")
    p.add_argument("--probe-max-train", type=int, default=None,
                   help="smoke runs only: probe on N train items")
    p.add_argument("--probe-max-test", type=int, default=None, help="smoke runs only: score N test items")
    p.add_argument("--select", action="store_true",
                   help="model selection: train on 90%% of train, score on the other 10%%, never read test")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the infomax contenders (as infomax train --set); repeatable")
    p.add_argument("--tag", default=None, help="the variant's name: its cells are <contender>+<tag>")
    p.add_argument("--layers", nargs="+", default=["fc"],
                   help="probe each trained encoder on these layers (cells <contender>@<layer> but fc)")
    p.add_argument("--out", type=Path, default=None, help="default: results/ (results-select/ with --select)")
    p.add_argument("--report-only", action="store_true", help="rewrite the table and plot from the cells")
    args = p.parse_args(argv)
    args.out = args.out or (SELECT if args.select else RESULTS)
    try:
        args.overrides = parse_set(args.sets)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.overrides and not args.tag:
        print("error: --set needs --tag (the variant's cells must not mix with the preset's)",
              file=sys.stderr)
        return 2
    if args.overrides and any(c in PEERS or c in UNTRAINED for c in args.contenders):
        print("error: --set applies to infomax contenders only", file=sys.stderr)
        return 2
    from infomax.encoders.dim_conv import DIMConvEncoder

    # the DIM encoder's layers, which every row but AMDIM and CPC shares
    known_layers = DIMConvEncoder.layers
    bad = [layer for layer in args.layers if layer not in known_layers]
    if bad:
        print(f"error: unknown layer(s) {', '.join(bad)}; --layers takes {', '.join(known_layers)} (the DIM "
              "encoder's; an encoder without one is probed on its output layer)", file=sys.stderr)
        return 2
    unknown = [c for c in args.contenders if c not in KNOWN]
    if unknown:
        print(f"error: unknown contender(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}",
              file=sys.stderr)
        return 2
    if args.report_only:
        report(args.out)
        return 0
    import torch

    common.set_threads(args.threads)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        for data in args.datasets:
            splits = select_splits(data) if args.select else common.load_splits(data, None, val_fraction=0.0)
            psplits = common.eval_splits(splits, args.probe_max_train, None, args.probe_max_test, 0)
            calib = calibrate(splits, args.threads)
            cal_path = args.out / "calibration.csv"
            head = not cal_path.exists()
            with open(cal_path, "a") as f:
                if head:
                    f.write(",".join(calib) + "\n")
                f.write(",".join(str(v) for v in calib.values()) + "\n")
            print(f"calibration {data}: {calib['ms_per_step_median']} ms/step", flush=True)
            for minutes in args.minutes:
                for contender in args.contenders:
                    if contender in PEERS and not args.lightly_python:
                        print(f"skip {contender}: no --lightly-python", file=sys.stderr)
                        continue
                    for seed in args.seeds:
                        paths = {layer: cell_path(args.out, data, minutes,
                                                  cell_name(contender, args.tag, layer), seed)
                                 for layer in args.layers}
                        missing = [layer for layer, path in paths.items() if not path.exists()]
                        if not missing:
                            continue  # resumable: done in an earlier invocation
                        try:
                            cells = run_cell(args, data, minutes, contender, seed, splits, psplits, tmp,
                                             calib, missing)
                        except (RuntimeError, UserError) as e:  # e.g. AMDIM needs 32x32 inputs
                            print(f"error: {data} {minutes:g} min {contender} seed {seed}: {e}",
                                  file=sys.stderr)
                            continue
                        for layer, cell in cells.items():
                            write_json(paths[layer], cell)
                            print(json.dumps(cell), flush=True)
    report(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
