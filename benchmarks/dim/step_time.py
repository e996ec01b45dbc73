"""Step time of Deep InfoMax relative to the bare encoder, and the engine's per-step overhead.

Part 1 (issue 3, "Performance"): on one fixed CIFAR-10 batch (64 images, 32x32), in one process and
interleaved round by round, the median time of

- ``encoder``: the bare :class:`~infomax.encoders.DIMConvEncoder` forward + backward (loss = mean(y^2));
- each preset (default ``dim-l-noprior``, the DIM(L) infoNCE default config): ``method(batch)["loss"]``
  forward + backward, every head and the no-grad bound reports included.

The overhead of the MI machinery is ``median(preset) / median(encoder) - 1`` (target: <= 30% for
``dim-l-noprior``); the median of the per-round ratios is reported too (more robust under a shared CPU's
load).

Part 2: the engine (``infomax.engine.fit``: Lightning, the data loader, optimiser steps, logging,
checkpoints) training ``dim-l-noprior`` for ``--engine-steps`` steps, against the method alone doing the same
work (forward + backward + Adam step on the same batch), paired step by step inside the same run (see
:class:`PairedClock`), so Lightning start-up is excluded and both figures see the same machine load; the
run is repeated under cProfile (no pairing) and the profile is written to ``results/engine_profile.txt``,
its per-step breakdown to ``engine_breakdown.{csv,md}``. ``--engine-threads`` repeats part 2 with other
torch thread counts (the CLI runs with torch's default, one thread per core).

Part 3: Adam's step alone on dim-l-noprior's parameters, the default (a per-tensor loop on the CPU) against
``foreach=True`` and ``fused=True``, interleaved.

Writes ``OUT/step_time.{csv,md}``, ``OUT/engine_overhead.{csv,md}``, ``OUT/engine_breakdown.{csv,md}``,
``OUT/engine_profile.txt``, ``OUT/adam_step.{csv,md}`` and ``OUT/step_time.png``.

Example::

    python benchmarks/dim/step_time.py --data cifar10 --reps 30 --engine-steps 40
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def _encoder_step(enc: torch.nn.Module, x: torch.Tensor) -> None:
    enc.zero_grad(set_to_none=True)
    y = enc(x)["y"]  # (B, 64)
    y.square().mean().backward()


def _method_step(method: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    method.zero_grad(set_to_none=True)
    method(batch)["loss"].backward()


def time_interleaved(
    fns: dict[str, callable], reps: int, warmup: int
) -> dict[str, list[float]]:
    """Run every function once per round, in a rotating order; returns the per-round seconds per name."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    out: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[: r % len(names)]
        for n in order:
            t0 = time.perf_counter()
            fns[n]()
            out[n].append(time.perf_counter() - t0)
    return out


def part1(args: argparse.Namespace, splits) -> list[dict]:
    from infomax.encoders.dim_conv import DIMConvEncoder

    info = splits.info
    x = torch.from_numpy(splits.train.images[: args.batch_size].copy()).float() / 255  # (B, C, H, W)
    labels = torch.from_numpy(splits.train.labels[: args.batch_size].copy())
    torch.manual_seed(0)
    enc = DIMConvEncoder(info.channels, info.image_size, mean=info.mean, std=info.std).train()
    fns = {"encoder": lambda: _encoder_step(enc, x)}
    methods = {}
    for p in args.presets:
        methods[p] = common.untrained(p, splits).train()
        fns[p] = (lambda m: lambda: _method_step(m, (x, labels)))(methods[p])
    cond0 = common.cpu_conditions()
    times = time_interleaved(fns, args.reps, args.warmup)
    cond1 = common.cpu_conditions()
    enc_med = statistics.median(times["encoder"])
    rows = []
    for name, ts in times.items():
        med = statistics.median(ts)
        q = statistics.quantiles(ts, n=4)
        ratios = [t / e for t, e in zip(ts, times["encoder"])]
        rows.append({
            "variant": name,
            "median_ms": round(1000 * med, 2),
            "q1_ms": round(1000 * q[0], 2),
            "q3_ms": round(1000 * q[2], 2),
            "overhead_vs_encoder_%": round(100 * (med / enc_med - 1), 1),
            "median_round_ratio": round(statistics.median(ratios), 3),
            "reps": len(ts),
            "batch": args.batch_size,
            "threads": torch.get_num_threads(),
            "load_1m_start": cond0["load_1m"],
            "load_1m_end": cond1["load_1m"],
        })
    _plot(times, args.out / "step_time.png")
    return rows


def _plot(times: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(times)
    ax.boxplot([[1000 * t for t in times[n]] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names, rotation=20)
    ax.set_ylabel("forward + backward (ms)")
    ax.set_title("CIFAR-10 batch 64: bare encoder vs DIM presets")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --- part 2: the engine -------------------------------------------------------------------------------
class PairedClock:
    """Wraps a method's forward inside the engine; at every step it also times the method alone.

    At each engine step the wrapper records the time, then runs a *shadow* step: an independent copy of
    the method (``shadow``, with its own Adam) does forward + backward + optimiser step on the same batch
    (before the engine's forward on even steps, after it on odd ones). The engine's own step time is the
    interval between two forward calls minus the shadow step inside it, so both figures come from the
    same seconds of the shared machine (interleaved at step granularity).
    """

    def __init__(self, method: torch.nn.Module, shadow: torch.nn.Module, lr: float) -> None:
        self.stamps: list[float] = []
        self.shadow_s: list[float] = []
        self.forward_s: list[float] = []
        self.threads: set[int] = set()
        self.shadow, self.opt = shadow.train(), torch.optim.Adam(shadow.parameters(), lr=lr)
        self._fwd = method.forward
        method.forward = self  # instance attribute shadows the class's forward

    def _shadow_step(self, batch) -> None:
        t0 = time.perf_counter()
        self.opt.zero_grad(set_to_none=True)
        self.shadow(batch)["loss"].backward()
        self.opt.step()
        self.shadow_s.append(time.perf_counter() - t0)

    def __call__(self, batch):
        self.stamps.append(time.perf_counter())
        self.threads.add(torch.get_num_threads())
        even = len(self.stamps) % 2 == 0
        if even:
            self._shadow_step(batch)
        t0 = time.perf_counter()
        out = self._fwd(batch)
        self.forward_s.append(time.perf_counter() - t0)
        if not even:
            self._shadow_step(batch)
        return out

    def pairs(self) -> list[tuple[float, float]]:
        """(engine step seconds, method-alone seconds) per step, the first (warm-up) dropped."""
        out = []
        for i in range(1, len(self.stamps) - 1):
            out.append((self.stamps[i + 1] - self.stamps[i] - self.shadow_s[i], self.shadow_s[i]))
        return out


def engine_run(splits, steps: int, profile: bool) -> dict:
    """Train ``dim-l-noprior`` with ``infomax.engine.fit`` for ``steps`` steps.

    Without ``profile``: paired timings (:class:`PairedClock`). With it: the run under cProfile (no
    shadow), its per-step breakdown and the profile text.
    """
    from infomax.engine.fit import build_method, fit

    train_cfg, method_cfg, name = common.resolve_preset(
        "dim-l-noprior", {"max_epochs": 1, "limit_train_batches": steps + 1, "batch_size": 64})
    method = build_method(name, method_cfg, splits.info, train_cfg.seed)
    clock = common.StepClock(method) if profile else PairedClock(method, copy.deepcopy(method), train_cfg.lr)
    prof = cProfile.Profile() if profile else None
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        metrics = fit(method, splits, train_cfg, Path(tmp) / "run", name, method_cfg, progress=True)
        if prof:
            prof.disable()
        wall = time.perf_counter() - t0
    res = {"train": metrics["train"], "wall_fit_s": wall, "threads": clock.threads,
           "forward_median_s": statistics.median(clock.forward_s[1:])}
    if prof:
        s = io.StringIO()
        st = pstats.Stats(prof, stream=s)
        res["breakdown"] = breakdown(st, metrics["train"]["steps"])
        st.sort_stats("cumulative").print_stats(45)
        res["text"] = s.getvalue()
        res["intervals"] = [b - a for a, b in zip(clock.stamps[1:], clock.stamps[2:])]
    else:
        res["pairs"] = clock.pairs()
    return res


#: Where a training step's time goes: label -> (file name fragment, function name) whose cumulative time
#: is read from the profile.
PROFILE_PARTS = {
    "method_forward": ("methods/dim.py", "forward"),
    "backward": ("torch/autograd/graph.py", "_engine_run_backward"),
    "optimizer_step": ("torch/optim/adam.py", "step"),
    "data_fetch": ("torch/utils/data/dataloader.py", "__next__"),
    "log_metrics": ("engine/module.py", "_log_metrics"),
    "progress_bar": ("engine/progress.py", "on_train_batch_end"),
    "isfinite_check": ("engine/module.py", "<listcomp>"),
    "checkpoint_save": ("engine/checkpoint.py", "save_checkpoint"),
    "training_step_total": ("engine/module.py", "training_step"),
    "lightning_epoch_loop": ("loops/training_epoch_loop.py", "run"),
    "fit_total": ("engine/fit.py", "fit"),
}


def breakdown(st: pstats.Stats, steps: int) -> dict[str, float]:
    """Cumulative seconds per step of each :data:`PROFILE_PARTS` entry (0 when not called)."""
    out = {}
    for label, (frag, func) in PROFILE_PARTS.items():
        ct = sum(v[3] for (fn, _, name), v in st.stats.items()
                 if frag in fn.replace("\\", "/") and name == func)
        out[label] = ct / max(steps, 1)
    return out


def part2(args: argparse.Namespace, splits) -> tuple[list[dict], list[dict], str]:
    rows, brows, profile_text = [], [], ""
    for threads in args.engine_threads:
        common.set_threads(threads)
        c0 = common.cpu_conditions()
        res = engine_run(splits, args.engine_steps, profile=False)
        c1 = common.cpu_conditions()
        eng, alone = [e for e, _ in res["pairs"]], [a for _, a in res["pairs"]]
        rows.append({
            "threads": threads,
            "threads_in_step": ",".join(map(str, sorted(res["threads"]))),
            "paired_steps": len(eng),
            "engine_step_median_s": round(statistics.median(eng), 4),
            "method_alone_median_s": round(statistics.median(alone), 4),
            "median_step_ratio": round(statistics.median(e / a for e, a in res["pairs"]), 3),
            "engine_overhead_%": round(100 * (statistics.median(eng) / statistics.median(alone) - 1), 1),
            "engine_forward_median_s": round(res["forward_median_s"], 4),
            "fit_wall_s": round(res["wall_fit_s"], 2),
            "load_1m_start": c0["load_1m"],
            "load_1m_end": c1["load_1m"],
        })
        print(rows[-1], flush=True)
        res = engine_run(splits, args.engine_steps, profile=True)
        steps = res["train"]["steps"]
        parts = {k: round(v, 4) for k, v in res["breakdown"].items()}
        brows.append({"threads": threads, "steps": steps,
                      "interval_median_s": round(statistics.median(res["intervals"]), 4), **parts,
                      "fit_wall_s": round(res["wall_fit_s"], 2)})
        head = f"===== engine, {threads} thread(s), {steps} steps ====="
        profile_text += f"\n{head}\n{res['text']}"
        print(brows[-1], flush=True)
    common.set_threads(args.threads)
    return rows, brows, profile_text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="cifar10")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, default=common.RESULTS)
    p.add_argument("--presets", nargs="+", default=["dim-l-noprior", "dim-g-noprior"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for part 1 (1 on a shared box)")
    p.add_argument("--engine-steps", type=int, default=40, help="0 skips part 2")
    p.add_argument("--engine-threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3],
                   help="1: MI overhead, 2: engine overhead, 3: Adam variants")
    p.add_argument("--budget-minutes", type=float, default=None, help="unused (fixed-work benchmark)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    common.set_threads(args.threads)
    torch.manual_seed(0)
    splits = common.load_splits(args.data, args.data_root)
    if 1 in args.parts:
        run_part1(args, splits)
    if args.engine_steps and 2 in args.parts:
        run_part2(args, splits)
    if 3 in args.parts:
        up0 = common.uptime_line()
        rows = part3(args, splits)
        common.write_table(rows, args.out / "adam_step", "Adam step on dim-l-noprior's parameters (CPU)",
                           [f"uptime before: {up0}", f"uptime after: {common.uptime_line()}"])
        print(open(args.out / "adam_step.md").read(), flush=True)
    return 0


def part3(args: argparse.Namespace, splits) -> list[dict]:
    """Adam's step on dim-l-noprior's parameters: the default (a per-tensor loop on CPU), foreach, fused."""
    method = common.untrained("dim-l-noprior", splits).train()
    params = list(method.parameters())
    for q in params:
        q.grad = torch.randn_like(q) * 1e-3
    opts = {"default": torch.optim.Adam(params, lr=1e-3),
            "foreach": torch.optim.Adam(params, lr=1e-3, foreach=True),
            "fused": torch.optim.Adam(params, lr=1e-3, fused=True)}
    c0 = common.cpu_conditions()
    times = time_interleaved({k: o.step for k, o in opts.items()}, args.reps, args.warmup)
    c1 = common.cpu_conditions()
    base = statistics.median(times["default"])
    return [{"adam": k, "median_ms": round(1000 * statistics.median(v), 2),
             "vs_default": round(statistics.median(v) / base, 3), "reps": len(v),
             "params_M": round(sum(q.numel() for q in params) / 1e6, 2), "threads": torch.get_num_threads(),
             "load_1m_start": c0["load_1m"], "load_1m_end": c1["load_1m"]} for k, v in times.items()]


def run_part1(args: argparse.Namespace, splits) -> None:
    up0 = common.uptime_line()
    rows = part1(args, splits)
    up1 = common.uptime_line()
    notes = [f"data {args.data}, batch {args.batch_size}, {args.reps} interleaved rounds after "
             f"{args.warmup} warm-up rounds, torch threads {args.threads}",
             f"uptime before: {up0}", f"uptime after: {up1}"]
    common.write_table(rows, args.out / "step_time", "DIM step time vs the bare encoder (forward + backward)",
                       notes)
    print(open(args.out / "step_time.md").read(), flush=True)


def run_part2(args: argparse.Namespace, splits) -> None:
    up0 = common.uptime_line()
    erows, brows, prof = part2(args, splits)
    up1 = common.uptime_line()
    common.write_table(brows, args.out / "engine_breakdown", "Engine step breakdown under cProfile "
                       "(cumulative seconds per step; parts overlap: forward/backward/optimizer_step are "
                       "inside training_step_total)", [f"uptime before: {up0}", f"uptime after: {up1}"])
    common.write_table(erows, args.out / "engine_overhead", "Engine per-step time vs the method alone "
                       "(dim-l-noprior, CIFAR-10, batch 64)",
                       [f"uptime before: {up0}", f"uptime after: {up1}"])
    root = str(Path(__file__).resolve().parents[2])  # no paths of this machine in the results
    (args.out / "engine_profile.txt").write_text(prof.replace(root + "/", "").replace(sys.prefix + "/", ""))
    print(open(args.out / "engine_overhead.md").read(), flush=True)


if __name__ == "__main__":
    sys.exit(main())
