"""``report.md`` and its PNG plots for a run directory (matplotlib, Agg backend: no display needed).

- ``plots/loss.png``: every logged training scalar against the step (from the CSV logs; a resumed run's
  logs are merged, later values winning for a repeated step);
- ``plots/probe.png``: linear-probe test accuracy per layer, trained encoder beside the baselines.

Example:
    >>> write_report("runs/demo-20250101-120000")  # doctest: +SKIP
    PosixPath('runs/demo-20250101-120000/report.md')
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from infomax.run import LOG_DIR, PLOT_DIR, REPORT, atomic_path, read_config, read_metrics


def read_logs(run_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """Logged scalars ``{name: [(step, value), ...]}`` sorted by step, merged over ``logs/version_*``.

    A resumed run restarts from its last checkpoint, so steps logged after that checkpoint by the killed
    process appear again; the later version's value is kept (on the CPU the two are identical anyway).
    """
    series: dict[str, dict[int, float]] = {}
    versions = sorted((Path(run_dir) / LOG_DIR).glob("version_*/metrics.csv"),
                      key=lambda p: int(p.parent.name.split("_")[-1]) if p.parent.name[8:].isdigit() else 0)
    for path in versions:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if not row.get("step"):
                    continue
                step = int(float(row["step"]))
                for key, value in row.items():
                    if key in ("step", "epoch") or value in (None, ""):
                        continue
                    try:
                        series.setdefault(key, {})[step] = float(value)
                    except ValueError:
                        continue
    return {k: sorted(v.items()) for k, v in series.items()}


def plot_losses(logs: dict[str, list[tuple[int, float]]], path: Path) -> Path | None:
    """One panel per logged per-step scalar (``loss`` first); None if nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in logs if not k.startswith("epoch/")]
    keys = sorted(keys, key=lambda k: (k != "loss", k))[:8]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        steps, values = zip(*logs[key])
        ax.plot(steps, values, lw=1.0, label="step")
        if f"epoch/{key}" in logs:
            es, ev = zip(*logs[f"epoch/{key}"])
            ax.plot(es, ev, "o-", ms=3, lw=1.2, label="epoch mean")
            ax.legend(fontsize=7)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def plot_probe(accuracy: dict[str, dict[str, float]], path: Path) -> Path | None:
    """Grouped bars: accuracy per layer (x) for each encoder (trained, random, supervised)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(accuracy)
    names = list(dict.fromkeys(n for layer in layers for n in accuracy[layer]))
    if not layers or not names:
        return None
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(4.0, 1.6 + 1.4 * len(layers)), 3.4))
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(layers))]
        ys = [100 * accuracy[layer].get(name, math.nan) for layer in layers]
        bars = ax.bar(xs, ys, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(layers)), layers)
    ax.set_ylabel("linear probe test accuracy (%)")
    ax.set_ylim(0, 108)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(names), frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def accuracy_table(accuracy: dict[str, dict[str, float]]) -> list[str]:
    """Markdown rows: one per layer, one column per encoder, accuracies in percent."""
    names = list(dict.fromkeys(n for layer in accuracy for n in accuracy[layer]))
    rows = ["| layer | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for layer, accs in accuracy.items():
        rows.append(f"| {layer} | " + " | ".join(
            f"{100 * accs[n]:.2f}" if n in accs else "-" for n in names) + " |")
    return rows


def write_report(run_dir: str | Path) -> Path:
    """Write ``plots/*.png`` and ``report.md`` for a run directory; returns the report's path."""
    run_dir = Path(run_dir)
    config, metrics = read_config(run_dir), read_metrics(run_dir)
    lines = [f"# infomax run: {config.get('preset') or config['method']}", ""]
    train = config["train"]
    lines += ["## Configuration", "",
              f"- method: `{config['method']}`"
              + (f" (preset `{config['preset']}`)" if config.get("preset") else ""),
              f"- data: `{train.get('data')}` ({config['data_info'].get('image_size')}px, "
              f"{config['data_info'].get('num_classes')} classes)",
              f"- batch size {train.get('batch_size')}, lr {train.get('lr')}, seed {train.get('seed')}, "
              f"max epochs {train.get('max_epochs')}, max minutes {train.get('max_minutes')}",
              "- method settings: " + ", ".join(f"`{k}={v}`" for k, v in config["method_config"].items()), ""]
    t = metrics.get("train")
    if t:
        lines += ["## Training", "",
                  f"{t['epochs_completed']} epochs, {t['steps']} steps, {t['elapsed_s']:.1f} s of training; "
                  f"stopped by {t['stopped_by']}.", ""]
    loss_png = plot_losses(read_logs(run_dir), run_dir / PLOT_DIR / "loss.png")
    if loss_png:
        lines += ["![training curves](plots/loss.png)", ""]
    final = metrics.get("final")
    if final and final.get("accuracy"):
        lines += ["## Linear probe (test accuracy, %)", ""] + accuracy_table(final["accuracy"]) + [""]
        if plot_probe(final["accuracy"], run_dir / PLOT_DIR / "probe.png"):
            lines += ["![probe accuracy per layer](plots/probe.png)", ""]
    evals = {k: v for k, v in metrics.items() if k.startswith("eval/")}
    if evals:
        lines += ["## Later evaluations", "", "| key | result |", "|---|---|"]
        for key, value in evals.items():
            if isinstance(value, dict):
                flat = {k: v for k, v in value.items() if not isinstance(v, (dict, list))}
                shown = ", ".join(f"{k}={_fmt(v)}" for k, v in flat.items())
            else:
                shown = _fmt(value)
            lines.append(f"| {key} | {shown} |")
        lines.append("")
    path = run_dir / REPORT
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
