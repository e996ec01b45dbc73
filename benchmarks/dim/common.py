"""Shared helpers of the Deep InfoMax benchmarks: CPU conditions, presets -> methods, training through the
engine, linear probes, and table writers (CSV + Markdown).

Every benchmark script in this folder imports this module (run them from the repository root, e.g.
``python benchmarks/dim/step_time.py``; the folder is put on ``sys.path`` by the scripts themselves).

Example:
    >>> cond = cpu_conditions()  # doctest: +SKIP
    >>> cond["load_1m"] >= 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

import csv
import dataclasses
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

#: The default output folder (results are committed; run folders under it are not: see .gitignore).
RESULTS = Path(__file__).resolve().parent / "results"


def cpu_conditions() -> dict[str, Any]:
    """Load averages (1/5/15 min), visible cores, torch threads and a timestamp: the context of a timing."""
    l1, l5, l15 = os.getloadavg()
    return {
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_1m": round(l1, 2),
        "load_5m": round(l5, 2),
        "load_15m": round(l15, 2),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def uptime_line() -> str:
    """``uptime``'s output (one line), or the load averages when the command is missing."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def set_threads(threads: int) -> None:
    """Pin torch's intra- and inter-op thread pools (call before any torch work)."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already started
        pass


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def resolve_preset(name: str, overrides: dict[str, Any] | None = None) -> tuple[Any, Any, str]:
    """``(TrainConfig, method Config, method name)`` for a preset (or method) plus overrides, exactly as
    ``infomax train NAME --set k=v`` resolves them."""
    from infomax.config import TrainConfig, apply_overrides
    from infomax.methods import method_module
    from infomax.presets import resolve

    preset = resolve(name)
    train_cfg = TrainConfig(method=preset.method)
    method_cfg = method_module(preset.method).Config()
    apply_overrides(train_cfg, method_cfg, {**preset.overrides, **(overrides or {})})
    train_cfg.validate()
    return train_cfg, method_cfg, preset.method


def load_splits(data: str, data_root: str | None = None, val_fraction: float = 0.1) -> Any:
    """``infomax.data.load_dataset`` (the val split carved from train with the data module's seed); a
    missing or bad dataset ends the benchmark with the library's one-line message and exit code 2."""
    from infomax.data.datasets import load_dataset
    from infomax.errors import UserError

    try:
        return load_dataset(data, data_root, val_fraction)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def train(
    preset: str,
    splits: Any,
    run_dir: Path,
    minutes: float | None,
    overrides: dict[str, Any] | None = None,
    max_epochs: int = 1000,
    progress: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Train ``preset`` with the library's engine (``infomax.engine.fit``) for a wall-clock budget.

    No final evaluation or baselines inside ``fit`` (the benchmark probes what it needs itself).
    Returns ``(method, metrics)`` with the method holding the final weights.
    """
    from infomax.engine.fit import build_method, fit

    train_cfg, method_cfg, method_name = resolve_preset(
        preset, {"max_epochs": max_epochs, "max_minutes": minutes, **(overrides or {})}
    )
    method = build_method(method_name, method_cfg, splits.info, train_cfg.seed)
    metrics = fit(method, splits, train_cfg, run_dir, method_name, method_cfg, progress=progress,
                  preset=preset)
    return method, metrics


def untrained(preset: str, splits: Any, seed: int = 0) -> Any:
    """The preset's method with its initial weights (the random-encoder baseline, same seed as a run)."""
    from infomax.engine.fit import build_method

    train_cfg, method_cfg, method_name = resolve_preset(preset, {"seed": seed})
    return build_method(method_name, method_cfg, splits.info, train_cfg.seed)


def linear_probe(encoder: Any, splits: Any, layer: str, max_train: int | None = None) -> float:
    """Test accuracy of ``infomax.evaluation.PROTOCOLS["linear"]`` (C on val, standardized features)."""
    from infomax.evaluation import PROTOCOLS

    encoder.eval()
    return float(PROTOCOLS["linear"](encoder, splits, layer, max_train=max_train)["accuracy"])


def asdict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)


def write_table(
    rows: Sequence[dict[str, Any]], path_stem: Path, title: str, notes: Sequence[str] = ()
) -> None:
    """Write ``rows`` to ``<stem>.csv`` and ``<stem>.md`` (a Markdown table with a title and notes)."""
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path_stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    lines = [f"# {title}", ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    path_stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


class StepClock:
    """Wraps a method's forward: records the wall-clock time at each call and the torch thread count."""

    def __init__(self, method: torch.nn.Module) -> None:
        self.stamps: list[float] = []
        self.threads: set[int] = set()
        self.forward_s: list[float] = []
        self._fwd = method.forward
        method.forward = self  # instance attribute shadows the class's forward

    def __call__(self, batch):
        self.stamps.append(time.perf_counter())
        self.threads.add(torch.get_num_threads())
        t0 = time.perf_counter()
        out = self._fwd(batch)
        self.forward_s.append(time.perf_counter() - t0)
        return out


def eval_splits(
    splits: Any, n_train: int | None, n_val: int | None, n_test: int | None, seed: int = 0
) -> Any:
    """A copy of ``splits`` with seeded random subsets of each split (None: keep the whole split).

    Random rather than leading items: the CIFAR-10 JPEG archive's splits are ordered by class.
    """
    import numpy as np

    from infomax.data.datasets import DataSplits

    rng = np.random.default_rng(seed)

    def sub(arr: Any, n: int | None) -> Any:
        if n is None or n >= len(arr):
            return arr
        return arr.subset(np.sort(rng.choice(len(arr), n, replace=False)))

    train, val, test = sub(splits.train, n_train), sub(splits.val, n_val), sub(splits.test, n_test)
    return DataSplits(train, val, test, splits.info)


def all_layer_features(encoder: Any, images: Any, layers: Sequence[str], batch_size: int = 256) -> dict:
    """``{layer: float32 (N, D)}`` of several layers from one eval-mode pass (``extract_features`` does one
    layer per pass)."""
    import numpy as np

    was = encoder.training
    encoder.eval()
    out: dict[str, list] = {layer: [] for layer in layers}
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            x = torch.from_numpy(np.asarray(images[s:s + batch_size])).float() / 255  # (B, C, H, W)
            feats = encoder(x)
            for layer in layers:
                out[layer].append(feats[layer].flatten(1).numpy())
    encoder.train(was)
    return {layer: np.concatenate(v) for layer, v in out.items()}


def linear_probe_layers(encoder: Any, splits: Any, layers: Sequence[str],
                        Cs: Sequence[float] = (0.01, 0.1, 1.0)) -> dict[str, float]:
    """Test accuracy per layer, with exactly ``PROTOCOLS["linear"]``'s recipe (``infomax.evaluation.
    LinearProbe`` on standardized features, C with the best val accuracy, refit on train, scored on test)
    but the features of all layers from one encoder pass."""
    from infomax.evaluation import LinearProbe

    feats = {name: all_layer_features(encoder, getattr(splits, name).images, layers)
             for name in ("train", "val", "test")}
    ys = {name: getattr(splits, name).labels for name in ("train", "val", "test")}
    out = {}
    for layer in layers:
        xt, xv = feats["train"][layer], feats["val"][layer]
        scores = {c: LinearProbe(c).fit(xt, ys["train"]).score(xv, ys["val"]) for c in Cs}
        best = max(Cs, key=lambda c: scores[c])
        out[layer] = float(LinearProbe(best).fit(feats["train"][layer], ys["train"])
                           .score(feats["test"][layer], ys["test"]))
    return out
