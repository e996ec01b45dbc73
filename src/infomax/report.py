"""``report.md`` and its PNG plots for a run directory (matplotlib, Agg backend: no display needed).

- ``plots/loss.png``: every logged training scalar against the step (from the CSV logs; a resumed run's
  logs are merged, later values winning for a repeated step);
- ``plots/probe.png``: linear-probe test accuracy per layer, trained encoder beside the baselines, with the
  numbers of train / val / test images the final probe used;
- ``plots/online_probe.png``: the online linear probe's held-out accuracy per layer against the step
  (``probe/linear_acc/<layer>``, logged every ``probe_every`` epochs when that is > 0).

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

#: Logged online-probe accuracies: ``probe/linear_acc/<layer>`` (see ``infomax.engine.online_probe``).
ONLINE_PROBE_PREFIX = "probe/linear_acc/"

#: The end-of-training probes in ``metrics.json``: (key, report section title, what the probe is).
FINAL_PROBES = (
    ("final", "Linear probe", "Logistic regression on standardized features"),
    ("final_knn", "kNN probe", "Weighted kNN (k=20, cosine similarity, temperature 0.07)"),
)


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

    keys = [k for k in logs if not k.startswith(("epoch/", ONLINE_PROBE_PREFIX))]
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


def plot_online_probe(logs: dict[str, list[tuple[int, float]]], path: Path) -> Path | None:
    """One line per layer: the online probe's held-out accuracy (%) against the step; None if none logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in logs if k.startswith(ONLINE_PROBE_PREFIX)]
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    for key in keys:
        steps, values = zip(*logs[key])
        ax.plot(steps, [100 * v for v in values], "o-", ms=3, lw=1.2, label=key[len(ONLINE_PROBE_PREFIX):])
    ax.set_xlabel("step")
    ax.set_ylabel("online linear probe, val accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def final_title(key: str, final: dict[str, Any]) -> tuple[str, str]:
    """(section title, what was measured) of a ``metrics.json`` final block (``"final"``/``"final_knn"``).

    Example:
        >>> final_title("final", {"protocol": "fewshot", "n_way": 5, "k_shot": 1})[0]
        'Few-shot, 5-way 1-shot'
    """
    if final.get("protocol") == "fewshot":
        return (f"Few-shot, {final.get('n_way')}-way {final.get('k_shot')}-shot",
                "Nearest class mean of each layer's features (on a DIMCO code layer: the support code's "
                "log-probability), on test classes never seen in training (a probe fit on the training "
                "classes cannot score them)")
    return next((title, what) for k, title, what in FINAL_PROBES if k == key)


def final_probe_note(final: dict[str, Any]) -> str | None:
    """One sentence on what the final probe was fit and scored on (None for metrics without counts).

    Example:
        >>> final_probe_note({"n_train": 9, "n_train_available": 9, "n_val": 5, "n_test": 8, "cs": [0.1]})
        'fit on all 9 train images, C in {0.1} chosen on 5 val images, scored on 8 test images'
    """
    if final.get("protocol") == "fewshot":
        return (f"{final.get('episodes')} episodes with {final.get('n_query')} queries per class, drawn from "
                f"{final.get('n_test')} test images of {final.get('n_classes')} classes; 95% intervals "
                "in metrics.json")
    if "n_train" not in final:
        return None
    n, avail = final["n_train"], final.get("n_train_available", final["n_train"])
    train = (f"fit on {n} of {avail} train images (stratified sample, fixed seed)" if n < avail
             else f"fit on all {n} train images")
    cs = ", ".join(f"{c:g}" for c in final.get("cs", []))
    val = f", C in {{{cs}}} chosen on {final.get('n_val', 0)} val images" if cs else ""
    test = f"{final.get('n_test')} test images"
    if "n_test_available" in final:
        test = (f"{final.get('n_test')} of {final['n_test_available']} test images (a stratified sample: the "
                "final evaluation's time budget)")
    return f"{train}{val}, scored on {test}"


def plot_probe(accuracy: dict[str, dict[str, float]], path: Path,
               ylabel: str = "linear probe test accuracy (%)") -> Path | None:
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
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 108)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(names), frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _fmt(v: Any) -> str:
    """A value for a Markdown cell: floats to 4 significant digits, lists and dicts inline, None as -."""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items()) + "}"
    return "-" if v is None else str(v).replace("|", "\\|")


def evaluation_tables(evals: dict[str, Any]) -> list[str]:
    """Markdown for the ``eval/...`` results of ``metrics.json``: nothing is dropped.

    One summary table (a row per result, its scalar and list fields inline), then, for every result with
    nested dicts (e.g. the finetune protocol's ``{"accuracy": {"1%": ..., "10%": ...}, "n_labelled":
    {...}}``), a sub-table whose rows are those dicts and whose columns are their keys (deeper levels
    inline).

    Example:
        >>> evaluation_tables({"eval/finetune/y": {"accuracy": {"1%": 0.5}, "steps": 10}})[2:5]
        ['| eval/finetune/y | steps=10 |', '', '#### eval/finetune/y']
    """
    lines = ["| key | result |", "|---|---|"]
    nested: dict[str, dict[str, dict]] = {}
    for key, value in evals.items():
        if isinstance(value, dict):
            flat = {k: v for k, v in value.items() if not isinstance(v, dict)}
            nested_here = {k: v for k, v in value.items() if isinstance(v, dict)}
            if nested_here:
                nested[key] = nested_here
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in flat.items())
            if nested_here and not shown:
                shown = "(below)"
        else:
            shown = _fmt(value)
        lines.append(f"| {key} | {shown} |")
    lines.append("")
    for key, tables in nested.items():
        cols = list(dict.fromkeys(c for row in tables.values() for c in row))
        lines += [f"#### {key}", "", "| | " + " | ".join(_fmt(c) for c in cols) + " |",
                  "|---" * (len(cols) + 1) + "|"]
        for name, row in tables.items():
            lines.append(f"| {name} | " + " | ".join(_fmt(row[c]) if c in row else "-" for c in cols) + " |")
        lines.append("")
    return lines


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
              f"- batch size {train.get('batch_size')}, lr {train.get('lr')}, Adam betas ("
              f"{train.get('adam_beta1', 0.9)}, {train.get('adam_beta2', 0.999)}), seed {train.get('seed')}, "
              f"max epochs {train.get('max_epochs')}, max minutes {train.get('max_minutes')}",
              "- method settings: " + ", ".join(f"`{k}={v}`" for k, v in config["method_config"].items()), ""]
    t = metrics.get("train")
    if t:
        lines += ["## Training", "",
                  f"{t['epochs_completed']} epochs, {t['steps']} steps, {t['elapsed_s']:.1f} s of training; "
                  f"stopped by {t['stopped_by']}.", ""]
        ev = metrics.get("final_evaluation")
        if ev:
            budget = (" The wall-clock budget (max_minutes) covers training; the final evaluation has its "
                      "own." if t.get("stopped_by") == "max_minutes" else "")
            parts = [f"probes {ev.get('probes_seconds', ev['seconds']):.1f} s"]
            if "baselines_seconds" in ev:
                parts.insert(0, f"supervised baseline {ev['baselines_seconds']:.1f} s")
            cap = (f" It was capped at {ev['budget_seconds'] / 60:.3g} min (`final_eval_minutes`)."
                   if ev.get("budget_seconds") else "")
            lines += [f"The final evaluation took {ev['seconds']:.1f} s after training ({', '.join(parts)})."
                      + budget + cap, ""]
            lines += [f"Note: {note}." for note in ev.get("notes", [])] + ([""] if ev.get("notes") else [])
    logs = read_logs(run_dir)
    if plot_losses(logs, run_dir / PLOT_DIR / "loss.png"):
        lines += ["![training curves](plots/loss.png)", ""]
    if plot_online_probe(logs, run_dir / PLOT_DIR / "online_probe.png"):
        lines += [f"Online linear probe every {train.get('probe_every')} epochs "
                  f"(up to {train.get('probe_samples')} stratified train images, scored on held-out "
                  "val images):",
                  "",
                  "![online probe accuracy](plots/online_probe.png)", ""]
    for key, _, _ in FINAL_PROBES:
        final = metrics.get(key)
        if not (final and final.get("accuracy")):
            continue
        title, what = final_title(key, final)
        lines += [f"## {title} (test accuracy, %)", ""]
        note = final_probe_note(final)
        if note:
            lines += [f"{what}, {note}.", ""]
        lines += accuracy_table(final["accuracy"]) + [""]
        if final.get("skipped_layers"):
            skipped = ", ".join(final["skipped_layers"])
            lines += [f"Not probed (the final evaluation's time ran out): {skipped}; "
                      f"`infomax eval RUN --protocol {final.get('protocol', 'linear')} --layer all` "
                      "evaluates every layer.", ""]
        ylabel = f"{title.lower()} test accuracy (%)"
        if key == "final" and plot_probe(final["accuracy"], run_dir / PLOT_DIR / "probe.png", ylabel):
            lines += ["![probe accuracy per layer](plots/probe.png)", ""]
    evals = {k: v for k, v in metrics.items() if k.startswith("eval/")}
    if evals:
        lines += ["## Later evaluations", ""] + evaluation_tables(evals)
    path = run_dir / REPORT
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines))
    return path
