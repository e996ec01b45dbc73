"""Which CPU execution modes pay for training: float32, bfloat16 autocast, channels-last, both.

One full training step of a preset (the method's forward on a batch of the preset's size, backward, one
Adam step) is timed under each mode, interleaved round by round in one process (so every mode sees the
same machine load), after warm-up steps. ``bf16`` is ``torch.autocast("cpu", torch.bfloat16)``, what
``--set precision=bf16-mixed`` gives the engine (Lightning's CPU mixed precision); ``channels-last`` puts
the method's weights and the batch in ``torch.channels_last``. The loss of the first step under each mode
is reported beside its time: a mode that changes the numbers more than bf16 rounding would is not a
speed-up.

Writes ``OUT/cpu_kernels.{csv,md,png}``: per preset and mode, the median step time over ``--reps``
rounds and its ratio to float32 (the median of the per-round ratios).

Example::

    OMP_NUM_THREADS=1 python benchmarks/dim/cpu_kernels.py --presets dim-l-cross amdim supervised \\
        --threads 1 --reps 15
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import torch  # noqa: E402

MODES = ("float32", "bf16", "channels-last", "channels-last+bf16")


def _context(mode: str) -> Any:
    if "bf16" in mode:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _setup(preset: str, info: Any, mode: str, batch: torch.Tensor) -> tuple[Any, Any, torch.Tensor]:
    """The preset's freshly built method (same seed for every mode), its Adam, and the batch in the
    mode's memory format."""
    from infomax.engine.fit import build_method

    train_cfg, method_cfg, name = common.resolve_preset(preset)
    method = build_method(name, method_cfg, info, train_cfg.seed).train()
    x = batch
    if mode.startswith("channels-last"):
        method = method.to(memory_format=torch.channels_last)
        x = batch.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(method.parameters(), lr=train_cfg.lr)
    return method, opt, x


def _step(method: Any, opt: Any, x: torch.Tensor, labels: torch.Tensor, mode: str) -> tuple[float, float]:
    t = time.perf_counter()
    with _context(mode):
        loss = method((x, labels))["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - t, float(loss.detach())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["dim-l-cross", "amdim", "supervised"])
    ap.add_argument("--data", default="cifar10")
    ap.add_argument("--data-root")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=common.RESULTS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    splits = common.load_splits(args.data, args.data_root)
    rows = []
    for preset in args.presets:
        train_cfg, _, _ = common.resolve_preset(preset)
        n = train_cfg.batch_size
        batch = torch.from_numpy(splits.train.images[:n]).float().div_(255)
        labels = torch.from_numpy(splits.train.labels[:n]).long()
        states = {m: _setup(preset, splits.info, m, batch) for m in MODES}
        first_loss = {}
        for m, (method, opt, x) in states.items():
            torch.manual_seed(0)
            first_loss[m] = _step(method, opt, x, labels, m)[1]
            for _ in range(args.warmup - 1):
                _step(method, opt, x, labels, m)
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.reps):
            for m, (method, opt, x) in states.items():
                times[m].append(_step(method, opt, x, labels, m)[0])
        for m in MODES:
            ratios = [a / b for a, b in zip(times[m], times["float32"])]
            rows.append({"preset": preset, "batch": n, "mode": m,
                         "median_step_s": round(statistics.median(times[m]), 4),
                         "ratio_to_float32": round(statistics.median(ratios), 3),
                         "first_loss": round(first_loss[m], 4)})
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "cpu_kernels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"CPU execution modes, one training step (forward, backward, Adam), {args.threads} thread(s), "
             f"{args.reps} interleaved rounds, {args.data} batches of each preset's size.", "",
             "| preset | batch | mode | median step (s) | time / float32 | first loss |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    lines += [f"| {r['preset']} | {r['batch']} | {r['mode']} | {r['median_step_s']:.3f} | "
              f"{r['ratio_to_float32']:.2f} | {r['first_loss']:.4f} |" for r in rows]
    (args.out / "cpu_kernels.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(MODES)
    for i, m in enumerate(MODES):
        vals = [r["ratio_to_float32"] for r in rows if r["mode"] == m]
        ax.bar([j + i * width for j in range(len(args.presets))], vals, width, label=m)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(args.presets))], args.presets)
    ax.set_ylabel("step time / float32")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "cpu_kernels.png", dpi=110)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
