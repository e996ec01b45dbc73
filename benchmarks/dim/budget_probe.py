"""Linear-probe accuracy after a fixed wall-clock training budget: DIM(L) vs DIM(G) vs baselines vs lightly.

For each dataset and budget (minutes of training wall time, measured by the engine's ``max_minutes``), the
rows are: the untrained (random) encoder, ``dim-l-noprior``, ``dim-g-noprior``, ``supervised`` (the same
encoder trained with labels, the ceiling) and lightly 1.6's SimCLR on the same encoder
(``lightly_simclr.py``, run with ``--lightly-python``, an environment of its own).
Every encoder is probed the same way:
``infomax.evaluation.PROTOCOLS["linear"]`` (multinomial logistic regression on standardized features, C
chosen on 10% carved from train) on ``fc`` (1024) by default, trained on the full official train split
(``val_fraction=0``: 50k for CIFAR-10, 60k for Fashion-MNIST) and scored on the 10k test split.

Writes ``OUT/budget_probe[-TAG].{csv,md}`` (one row per encoder, rewritten after each row) and
``OUT/budget_probe[-TAG].png``.

Example::

    python benchmarks/dim/budget_probe.py --datasets cifar10 fashion-mnist --budget-minutes 10 30 \\
        --lightly-python benchmarks/dim/.venv-lightly/bin/python

``--set KEY=VALUE`` (repeatable) changes a setting of the infomax rows, e.g. ``--set lr_schedule=cosine``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

#: The issue's reference figures (lightly SimCLR on CIFAR-10, fc probe, 2-core machine): minutes -> accuracy.
ISSUE_LIGHTLY_CIFAR = {10: 0.589, 30: 0.659}
ISSUE_FLOOR_CIFAR, ISSUE_SUPERVISED_10MIN = 0.469, 0.798


def probe(encoder, splits, layers: list[str], _unused: object = None) -> dict[str, float]:
    """``PROTOCOLS["linear"]`` test accuracy per layer on ``splits`` (already subsampled as asked)."""
    t0 = time.monotonic()
    out = {f"acc_{layer}": round(common.linear_probe(encoder, splits, layer), 4) for layer in layers}
    out["probe_s"] = round(time.monotonic() - t0, 1)
    return out


def lightly_row(args, data: str, minutes: float, splits, layers: list[str], tmp: Path) -> dict:
    """Train lightly's SimCLR in its own environment, load its encoder weights here, probe them."""
    from safetensors.torch import load_file

    from infomax.encoders.dim_conv import DIMConvEncoder

    weights = tmp / f"simclr-{data}-{minutes}.safetensors"
    cmd = [args.lightly_python, str(Path(__file__).with_name("lightly_simclr.py")), "--data", data,
           "--budget-minutes", str(minutes), "--out-weights", str(weights), "--seed", str(args.seed),
           "--threads", str(args.threads)] + (["--data-root", args.data_root] if args.data_root else [])
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        err = (res.stderr.strip().splitlines() or ["?"])[-1][:200]
        return {"encoder": "simclr-lightly", "status": f"failed: {err}"}
    train = json.loads(res.stdout.strip().splitlines()[-1])
    info = splits.info
    enc = DIMConvEncoder(info.channels, info.image_size, mean=info.mean, std=info.std)
    enc.load_state_dict(load_file(str(weights)))
    return {"encoder": "simclr-lightly", "steps": train["steps"], "train_s": train["elapsed_s"],
            "images_per_s": train["images_per_s"], **probe(enc, splits, layers),
            "status": f"ok (lightly {train['lightly']}, torch {train['torch']})"}


def infomax_row(args, preset: str, minutes: float, splits, psplits, layers: list[str], tmp: Path) -> dict:
    overrides = {"data": splits.info.name, "seed": args.seed, "val_fraction": 0.0, **args.overrides}
    method, metrics = common.train(preset, splits, tmp / f"{preset}-{minutes}", minutes, overrides)
    tr = metrics["train"]
    bs = common.resolve_preset(preset)[0].batch_size
    return {"encoder": preset, "steps": tr["steps"], "train_s": tr["elapsed_s"],
            "images_per_s": round(tr["steps"] * bs / max(tr["elapsed_s"], 1e-9), 1),
            **probe(method.encoder, psplits, layers), "status": "ok"}


def _cmp(acc: dict, a: str, b: str) -> str:
    if acc.get(a) is None or acc.get(b) is None:
        return f"{a} vs {b}: not measured"
    return f"{a} {'>' if acc[a] > acc[b] else '<='} {b} ({acc[a]:.4f} vs {acc[b]:.4f})"


def verdicts(rows: list[dict], layer: str) -> list[str]:
    """One line per (data, budget, DIM(L) variant): against DIM(G), lightly's SimCLR and the random encoder.

    Example:
        >>> verdicts([{"data": "d", "budget_min": 0, "encoder": "random", "acc_fc": 0.4},
        ...           {"data": "d", "budget_min": 10, "encoder": "dim-l-cosine", "acc_fc": 0.5}], "fc")[0]
        'd, 10 min, fc: dim-l-cosine vs dim-g-noprior: not measured; dim-l-cosine vs simclr-lightly: not \
measured; dim-l-cosine > random (0.5000 vs 0.4000)'
    """
    out = []
    key = f"acc_{layer}"
    for (data, minutes) in dict.fromkeys((r["data"], r["budget_min"]) for r in rows if r["budget_min"]):
        acc = {r["encoder"]: r.get(key) for r in rows
               if r["data"] == data and r["budget_min"] in (minutes, 0)}
        for local in (e for e in acc if e.startswith("dim-l")):
            out.append(f"{data}, {minutes} min, {layer}: " + "; ".join(
                _cmp(acc, local, b) for b in ("dim-g-noprior", "simclr-lightly", "random")))
    return out


def _plot(rows: list[dict], layer: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = f"acc_{layer}"
    datas = list(dict.fromkeys(r["data"] for r in rows))
    fig, axes = plt.subplots(1, len(datas), figsize=(5 * len(datas), 3.5), squeeze=False)
    for ax, data in zip(axes[0], datas):
        for enc in dict.fromkeys(r["encoder"] for r in rows):
            pts = sorted((r["budget_min"], r[key]) for r in rows
                         if r["data"] == data and r["encoder"] == enc and r.get(key) is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=enc)
        ax.set_title(f"{data}: linear probe on {layer}")
        ax.set_xlabel("training budget (min, shared CPU)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", "--data", nargs="+", default=["fashion-mnist", "cifar10"])
    p.add_argument("--data-root", default=None)
    p.add_argument("--budget-minutes", type=float, nargs="+", default=[10.0, 30.0])
    p.add_argument("--encoders", nargs="+",
                   default=["random", "dim-l-noprior", "dim-g-noprior", "supervised", "simclr-lightly"])
    p.add_argument("--layers", nargs="+", default=["fc"])
    p.add_argument("--lightly-python", default=None, help="python of the lightly environment")
    p.add_argument("--probe-max-train", type=int, default=None,
                   help="probe on a random subset of N train items (default: all)")
    p.add_argument("--probe-max-test", type=int, default=None, help="score on N random test items")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=common.RESULTS)
    p.add_argument("--tag", default="", help="suffix of the output file names (budget_probe-TAG.*)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the infomax rows, as `infomax train --set` (e.g. lr_schedule=cosine)")
    args = p.parse_args(argv)
    bad = [kv for kv in args.sets if "=" not in kv]
    if bad:
        p.error(f"--set takes KEY=VALUE, got {bad[0]!r}")
    args.overrides = dict(kv.split("=", 1) for kv in args.sets)
    stem = "budget_probe" + (f"-{args.tag}" if args.tag else "")
    common.set_threads(args.threads)
    rows: list[dict] = []
    up0 = common.uptime_line()

    def save() -> None:
        notes = [f"training budgets {args.budget_minutes} min per row (engine max_minutes; lightly: its own "
                 f"loop's wall clock), torch threads {args.threads}, seed {args.seed}, infomax settings "
                 f"{args.overrides or 'as in the presets'}",
                 "probe: PROTOCOLS['linear'] on standardized features, C from (0.01, 0.1, 1) on 10% of "
                 "the probe's train items, refit on them, test accuracy; probe train items: "
                 f"{args.probe_max_train or 'all'} (random subset of the official train split), test: "
                 f"{args.probe_max_test or 'all'} of the official test split",
                 f"issue 3 reference (CIFAR-10, fc, not measured here): lightly SimCLR "
                 f"{ISSUE_LIGHTLY_CIFAR}, "
                 f"random floor {ISSUE_FLOOR_CIFAR}, supervised 10 min {ISSUE_SUPERVISED_10MIN}",
                 f"uptime at start: {up0}", f"uptime at end: {common.uptime_line()}"]
        notes += verdicts(rows, args.layers[0])
        common.write_table(rows, args.out / stem, "Linear probe after a wall-clock budget", notes)

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        for data in args.datasets:
            splits = common.load_splits(data, args.data_root, val_fraction=0.0)
            psplits = common.eval_splits(splits, args.probe_max_train, None, args.probe_max_test, args.seed)
            for minutes in args.budget_minutes:
                for enc in args.encoders:
                    c0 = common.cpu_conditions()
                    if enc == "random":
                        if minutes != args.budget_minutes[0]:
                            continue
                        row = {"encoder": "random", "steps": 0,
                               **probe(common.untrained("dim-l-noprior", splits, args.seed).encoder, psplits,
                                       args.layers, args.probe_max_train), "status": "ok"}
                    elif enc == "simclr-lightly":
                        if not args.lightly_python:
                            continue
                        row = lightly_row(args, data, minutes, psplits, args.layers, tmp)
                    else:
                        row = infomax_row(args, enc, minutes, splits, psplits, args.layers, tmp)
                    c1 = common.cpu_conditions()
                    rows.append({"data": data, "budget_min": minutes if enc != "random" else 0, **row,
                                 "load_1m_start": c0["load_1m"], "load_1m_end": c1["load_1m"]})
                    print(rows[-1], flush=True)
                    save()
    _plot(rows, args.layers[0], args.out / f"{stem}.png")
    print(open(args.out / f"{stem}.md").read())
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
