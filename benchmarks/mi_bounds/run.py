"""Every bound x critic on the MI staircase (Poole et al. 2019 Fig. 2; Song & Ermon 2020 Fig. 1).

Published settings (the defaults): x, y in R^20 with per-dimension correlation set so that the true MI
is 2, 4, 6, 8, 10 nats for 4,000 steps each (20,000 steps), fresh samples every step, Adam 5e-4,
batch 64 (and 128); separable critic = two MLPs with two hidden layers of 256 and 32-d embeddings,
concat critic = one hidden layer of 256; SMILE with tau = 1, 5 and none (trained with the JSD gradient,
reporting the clipped DV value, as in Song & Ermon's code). "Cubic" applies y -> y^3.

The estimate at each step is the bound on that step's training batch (as in both papers). Per level the
table reports, over the second half of the level's steps, the bias (mean - truth), the variance and the
MSE of the estimates, plus wall time per step. The peer, torch-mist (PyPI), runs the same tasks from a
separate virtualenv in a subprocess (``peer_torch_mist.py``).

Usage (full run: hours on a CPU; a reduced run: ``--steps-per-level 200``):
    python benchmarks/mi_bounds/run.py --steps-per-level 4000 --batch-sizes 64,128
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from infomax import bounds as B
from infomax.critics import ConcatCritic, SeparableCritic
from infomax.data.synthetic import mi_to_rho, sample_correlated_gaussian
from infomax.evaluation.claims import compare as claim
from infomax.run import atomic_path

HERE = Path(__file__).resolve().parent
ESTIMATORS = ["infonce", "nwj", "dv", "mine", "tuba", "jsd", "smile_1", "smile_5", "smile_inf"]


class LogBaseline(nn.Module):
    """TUBA's learned log a(x): an MLP (N, Dx) -> (N,) as wide as the separable critic (256-256-32), the
    baseline torch-mist builds, so that the two TUBAs are the same estimator."""

    def __init__(self, x_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(x_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 256),
            nn.ReLU(),
            nn.Linear(256, 32),
            nn.ReLU(),
            nn.Linear(32, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def objective(
    name: str, s: Tensor, log_baseline: Tensor | None, mine: B.MINE | None = None
) -> tuple[Tensor, Tensor]:
    """(value to maximize, reported estimate) for the (B, B) scores of one batch; ``mine`` is the
    stateful MINE wrapper (its moving average) for the "mine" estimator."""
    if name == "infonce":
        v = B.infonce(s)
        return v, v
    if name == "nwj":
        v = B.nwj(s)
        return v, v
    if name == "dv":
        v = B.dv(s)
        return v, v
    if name == "mine":  # value DV, gradient Belghazi et al.'s moving-average one (plain DV under no_grad)
        v = mine(s)
        return v, v
    if name == "tuba":  # a(x): per row of s, i.e. per column of s.T (same positives and negatives)
        v = B.tuba(s.T, log_baseline)
        return v, v
    if name == "jsd":  # Poole et al.: train JS, report NWJ on the critic shifted by 1
        return B.jsd(s), B.nwj(s + 1.0)
    if name == "jsd_allpairs":  # the same, the JS negative term over all pairs, diagonal included
        return B.jsd(s, exclude_positives=False), B.nwj(s + 1.0)  # (as torch-mist's js() trains)
    if name.startswith("smile_"):
        tau = None if name == "smile_inf" else float(name.split("_")[1])
        return B.jsd(s), B.smile(s, tau=tau)
    raise ValueError(name)


def make_critic(kind: str, d: int) -> nn.Module:
    if kind == "separable":
        return SeparableCritic(d, d, hidden=(256, 256), embed_dim=32)
    return ConcatCritic(d, d, hidden=(256,))


def run_one(est: str, critic: str, task: str, batch: int, seed: int, args: argparse.Namespace) -> dict:
    torch.manual_seed(seed)
    d, spl = args.dim, args.steps_per_level
    base = LogBaseline(d) if est == "tuba" else None  # before the critic, as torch-mist's tuba() builds
    net = make_critic(critic, d)  # them: the same seed then gives both sides the same initial weights
    mine = B.MINE(ema_decay=args.mine_ema_decay) if est == "mine" else None
    params = list(net.parameters()) + (list(base.parameters()) if base else [])
    opt = torch.optim.Adam(params, lr=args.lr)
    gen = torch.Generator().manual_seed(seed + 1)
    estimates = np.empty(spl * len(args.levels))
    t0 = time.perf_counter()
    for step in range(len(estimates)):
        mi = args.levels[step // spl]
        x, y = sample_correlated_gaussian(
            batch, d, mi_to_rho(mi, d), generator=gen, transform="cube" if task == "cubic" else "identity"
        )
        s = net(x, y)  # (B, B)
        train_v, report_v = objective(est, s, base(x) if base else None, mine)
        opt.zero_grad(set_to_none=True)
        (-train_v).backward()
        opt.step()
        if args.estimate_after_step:  # the peer's protocol: the bound on the same batch after the update
            with torch.no_grad():
                s = net(x, y)
                report_v = objective(est, s, base(x) if base else None, mine)[1]
        estimates[step] = report_v.item()
    sec = time.perf_counter() - t0
    return {"estimates": estimates, "sec_per_step": sec / len(estimates)}


def configs(args: argparse.Namespace) -> list[tuple[int, str, str]]:
    """(batch, critic, task) in run order: the cheap batch-64 configurations first, concat at 128 last."""
    out = []
    for batch in args.batch_sizes:
        for critic in args.critics:
            if critic == "concat" and args.concat_max_batch and batch > args.concat_max_batch:
                continue
            out += [(batch, critic, task) for task in args.tasks]
    return out


def raw_name(impl: str, task: str, batch: int, critic: str, est: str, spl: int, seed: int) -> str:
    return f"{impl}_{task}_b{batch}_{critic}_{est}_spl{spl}_seed{seed}.json"


def run_or_load(
    est: str, critic: str, task: str, batch: int, seed: int, args: argparse.Namespace, raw: Path
) -> dict | None:
    """Run one configuration, or load it from ``raw/`` when an earlier (interrupted) run finished it."""
    path = raw / raw_name("infomax", task, batch, critic, est, args.steps_per_level, seed)
    if path.exists():
        d = json.loads(path.read_text())
        return {"estimates": np.asarray(d["estimates"], dtype=float), "sec_per_step": d["sec_per_step"]}
    if args.report_only or args.peer_only:
        return None
    r = run_one(est, critic, task, batch, seed, args)
    ms = 1e3 * r["sec_per_step"]
    msg = f"infomax {task} b={batch} {critic} {est} seed {seed}: {ms:.2f} ms/step"
    print(msg, file=sys.stderr, flush=True)
    vals = [v if np.isfinite(v) else None for v in r["estimates"].tolist()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"estimates": vals, "sec_per_step": r["sec_per_step"]}))
    tmp.replace(path)
    return r


def level_stats(estimates: np.ndarray, levels: list[float], spl: int) -> list[dict]:
    out = []
    for k, mi in enumerate(levels):
        half = estimates[k * spl + spl // 2 : (k + 1) * spl]
        e = half[np.isfinite(half)] if np.isfinite(half).any() else half
        out.append(
            {
                "true_mi": mi,
                "bias": float(e.mean() - mi),
                "var": float(e.var()),
                "mse": float(((e - mi) ** 2).mean()),
                # robust accuracy: median |estimate - truth| over the second half, a non-finite value
                # counting as an infinite error (one divergent spike does not decide it, a diverged run does)
                "median_abs_err": float(np.median(np.nan_to_num(np.abs(half - mi), nan=np.inf))),
                "nonfinite": int((~np.isfinite(estimates[k * spl : (k + 1) * spl])).sum()),
            }
        )
    return out


def start_peer(args: argparse.Namespace, out: Path) -> subprocess.Popen | str:
    """Start the torch-mist peer in a subprocess (it runs while ours runs: same machine load)."""
    py = HERE / ".venv-peer" / "bin" / "python"
    if not py.exists():
        return f"torch-mist peer venv not found at {py.relative_to(HERE.parent.parent)}"
    cfg = {
        "dim": args.dim,
        "levels": args.levels,
        "steps_per_level": args.steps_per_level,
        "lr": args.lr,
        "seeds": args.seeds,
        "estimate_after_step": bool(args.estimate_after_step),
        # the peer runs those it has (torch-mist has no plain dv)
        "estimators": list(dict.fromkeys(PEER_NAME.get(e, e) for e in args.estimators.split(","))),
        "batch_sizes": args.batch_sizes,
        "tasks": args.tasks,
        "configs": configs(args),
        "raw": str(out / "raw"),
        "out": str(out / f".peer_raw_{os.getpid()}.json"),  # per process: --peer-only runs may overlap
    }
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent / "src"), OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [str(py), str(HERE / "peer_torch_mist.py"), json.dumps(cfg)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def peer_from_raw(args: argparse.Namespace, raw: Path) -> list[dict]:
    """The torch-mist configurations of this run already finished in ``raw/`` (for --report-only)."""
    out, names = [], []
    for batch, critic, task in configs(args):
        for est in dict.fromkeys(PEER_NAME.get(e, e) for e in args.estimators.split(",")):
            for seed in args.seeds:
                name = raw_name("torch-mist", task, batch, critic, est, args.steps_per_level, seed)
                names.append((seed, name))
    for seed, name in names:
        if (raw / name).exists():
            out.append({"seed": seed, **json.loads((raw / name).read_text())})
    return out


def finish_peer(proc: subprocess.Popen | str, out: Path) -> tuple[list[dict], str]:
    if isinstance(proc, str):
        return [], proc
    _, err = proc.communicate()
    sys.stderr.write(err)
    if proc.returncode != 0:
        return [], "torch-mist run failed: " + (err.strip().splitlines() or ["?"])[-1]
    path = out / f".peer_raw_{os.getpid()}.json"
    peer = json.loads(path.read_text())
    path.unlink()
    return peer, ""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps-per-level", type=int, default=4000)
    p.add_argument("--levels", default="2,4,6,8,10")
    p.add_argument("--dim", type=int, default=20)
    p.add_argument("--batch-sizes", default="64,128")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--estimators", default=",".join(ESTIMATORS))
    p.add_argument("--critics", default="separable,concat")
    p.add_argument("--tasks", default="gaussian,cubic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--seeds",
        default=None,
        help="comma-separated seeds, e.g. 0,1,2 (default: --seed); each seed is a separate run per "
        "configuration (torch.manual_seed(seed) for the initialisation, seed+1 for the data), on both sides",
    )
    p.add_argument(
        "--mine-ema-decay",
        type=float,
        default=0.9,
        help="decay of MINE's moving average (default 0.9: torch-mist's mine() default gamma)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-peer", action="store_true", help="skip the torch-mist peer")
    p.add_argument(
        "--peer-only",
        action="store_true",
        help="run only the torch-mist peer (infomax's side is read from OUT/raw/ where finished): with a "
        "--no-peer run of the same configurations alongside, the two sides work through their queues "
        "independently",
    )
    p.add_argument("--concat-max-batch", type=int, default=0, help="skip concat above this batch (0: none)")
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument(
        "--estimate-after-step",
        action="store_true",
        help="record each step's estimate after the update (torch-mist peer's protocol; an extra forward, "
        "inside the timing) instead of from the training forward (Poole et al.'s protocol, the default)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild the tables and plots from the configurations already in OUT/raw/",
    )
    p.add_argument(
        "--rejudge",
        metavar="COMPARE_MD",
        help="run nothing: re-decide the 'more accurate' column of COMPARE_MD from its per-seed columns",
    )
    args = p.parse_args()
    if args.rejudge:
        rejudge(Path(args.rejudge))
        return
    torch.set_num_threads(args.threads)
    args.levels = [float(v) for v in args.levels.split(",")]
    args.batch_sizes = [int(v) for v in args.batch_sizes.split(",")]
    args.tasks, args.critics = args.tasks.split(","), args.critics.split(",")
    args.seeds = [int(v) for v in args.seeds.split(",")] if args.seeds else [args.seed]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    raw = out / "raw"  # one file per finished configuration: an interrupted run resumes where it stopped
    raw.mkdir(exist_ok=True)
    peer_proc = None if args.no_peer or args.report_only else start_peer(args, out)
    rows, curves = [], {}
    for batch, critic, task in configs(args):
        for est in args.estimators.split(","):
            for seed in args.seeds:  # innermost: an estimator's seeds finish together
                r = run_or_load(est, critic, task, batch, seed, args, raw)
                if r is None:  # --report-only / --peer-only and not run yet
                    continue
                curves[("infomax", task, batch, critic, est, seed)] = r["estimates"]
                for st in level_stats(r["estimates"], args.levels, args.steps_per_level):
                    rows.append(
                        {
                            "impl": "infomax",
                            "task": task,
                            "batch": batch,
                            "critic": critic,
                            "estimator": est,
                            "seed": seed,
                            **st,
                            "ms_per_step": 1e3 * r["sec_per_step"],
                        }
                    )
    peer_note = "skipped (--no-peer)"
    if args.report_only and not args.no_peer:
        peer = peer_from_raw(args, raw)
        peer_proc, peer_note = "", f"{len(peer)} torch-mist configurations read from raw/"
    if peer_proc is not None:
        if not args.report_only:
            peer, peer_note = finish_peer(peer_proc, out)
        for r in peer:
            est = np.asarray([np.nan if v is None else v for v in r["estimates"]])
            seed = r.get("seed", args.seeds[0])
            curves[("torch-mist", r["task"], r["batch"], r["critic"], r["estimator"], seed)] = est
            for st in level_stats(est, args.levels, args.steps_per_level):
                rows.append(
                    {
                        "impl": "torch-mist",
                        "task": r["task"],
                        "batch": r["batch"],
                        "critic": r["critic"],
                        "estimator": r["estimator"],
                        "seed": seed,
                        **st,
                        "ms_per_step": 1e3 * r["sec_per_step"],
                    }
                )
        peer_note = peer_note or f"ran {len(peer)} torch-mist configurations"
    if not rows:
        print(f"nothing to report in {raw}", file=sys.stderr)
        return
    write_outputs(rows, curves, args, out, peer_note)


def write_outputs(
    rows: list[dict], curves: dict, args: argparse.Namespace, out: Path, peer_note: str
) -> None:
    with open(out / "levels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    # summary per (impl, task, batch, critic, estimator, seed): mean |bias|, mean var, mean mse, ms/step
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["impl"], r["task"], r["batch"], r["critic"], r["estimator"], r["seed"])
        groups.setdefault(key, []).append(r)
    lines = [
        f"Staircase d={args.dim}, levels {args.levels} nats, {args.steps_per_level} steps/level, "
        f"Adam {args.lr}, seeds {args.seeds}. Stats over the second half of each level; "
        "bias/var/MSE averaged over levels.",
        f"Peer: {peer_note}.",
        "",
        "| impl | task | batch | critic | estimator | seed | "
        + " | ".join(f"bias@{m:g}" for m in args.levels)
        + " | mean var | mean MSE | ms/step |",
        "|" + "---|" * (9 + len(args.levels)),
    ]
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "impl",
                "task",
                "batch",
                "critic",
                "estimator",
                "seed",
                "mean_abs_bias",
                "mean_var",
                "mean_mse",
                "med_abs_err",
                "ms_per_step",
            ]
        )
        for key, rs in groups.items():
            mab = np.mean([abs(r["bias"]) for r in rs])
            mv, mm = np.mean([r["var"] for r in rs]), np.mean([r["mse"] for r in rs])
            mae = np.mean([r["median_abs_err"] for r in rs])
            ms = rs[0]["ms_per_step"]
            w.writerow([*key, f"{mab:.4f}", f"{mv:.4f}", f"{mm:.4f}", f"{mae:.4f}", f"{ms:.3f}"])
            biases = " | ".join(f"{r['bias']:+.2f}" for r in rs)
            lines.append(f"| {' | '.join(map(str, key))} | {biases} | {mv:.3f} | {mm:.3f} | {ms:.2f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "compare.md").write_text(compare(groups, args))
    plot(curves, args, out)


#: infomax estimator -> the torch-mist one it is compared with where the names differ (elsewhere the same
#: name: our "mine" is torch-mist's "mine"; our plain "dv" has no torch-mist counterpart and is not paired)
PEER_NAME = {"jsd_allpairs": "jsd"}


#: A seed whose med-abs-err exceeds this (10x the staircase's largest true MI) has diverged, like one with
#: a non-finite estimate: a MINE run stuck at 3,500 nats of error is not "more accurate" than a NaN.
DIVERGED_ERR = 100.0


def diverged(err: float) -> bool:
    return not np.isfinite(err) or err > DIVERGED_ERR


#: Estimators whose torch-mist figure is not the same quantity as ours in this harness, so no accuracy
#: verdict is given: torch-mist's reported InfoNCE runs to ~1e9-1e10 nats, far above log N, which an InfoNCE
#: bound cannot reach; the harness reads something other than the bound there (a mismatch, not accuracy).
NOT_COMPARABLE = {"infonce": "not compared (harness mismatch)"}


RULE = ("'more accurate': fewer diverged seeds wins; then a side only when the gap of the seed means exceeds "
        "two standard errors of the difference (seed-to-seed spread, infomax.evaluation.claims.compare), "
        "'level' within them, 'untested' under 3 seeds a side; InfoNCE not compared (harness mismatch).")


def verdict(a: list[float], b: list[float], est: str = "") -> str:
    """Which side is more accurate from per-seed med-abs-errs ``a`` (infomax) and ``b`` (torch-mist).

    A seed whose error is non-finite or above ``DIVERGED_ERR`` (the run diverged) counts against its
    side: fewer diverged seeds wins; the same number (> 0) on both sides leaves the verdict to the other
    seeds ("both diverged" when none is left). Otherwise the project's claims rule decides
    (:func:`infomax.evaluation.claims.compare` on the negated errors): a side is more accurate only when
    the gap of the seed means exceeds two standard errors of the seed-to-seed spread, ``level`` within
    them, ``untested`` with fewer than 3 finite seeds on a side. ``est`` in :data:`NOT_COMPARABLE` gets
    no verdict."""
    if est in NOT_COMPARABLE:
        return NOT_COMPARABLE[est]
    da, db = sum(diverged(v) for v in a), sum(diverged(v) for v in b)
    if da != db:
        return "infomax" if da < db else "torch-mist"
    a, b = [v for v in a if not diverged(v)], [v for v in b if not diverged(v)]
    if not a or not b:
        return "both diverged"
    c = claim([-v for v in a], [-v for v in b])
    return {"beats": "infomax", "behind": "torch-mist", "level": "level"}.get(c.verdict, "untested")


def rejudge(path: Path) -> None:
    """Rewrite the 'more accurate' column of a compare.md from its own per-seed columns with :func:`verdict`
    (no run: for tables whose raw/ files are not kept)."""
    lines = path.read_text().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("| task |"))
    cols = [c.strip() for c in lines[head].strip("|").split("|")]
    ia, ib, iv = (cols.index(k) for k in ("infomax med-abs-err per seed", "torch-mist med-abs-err per seed",
                                          "more accurate"))
    wins: dict[str, int] = {}
    for i in range(head + 2, len(lines)):
        if not lines[i].startswith("|"):
            break
        cells = [c.strip() for c in lines[i].strip("|").split("|")]
        a, b = ([float(v) for v in cells[j].split(" / ")] for j in (ia, ib))
        who = verdict(a, b, cells[cols.index("estimator")].split(" ")[0])
        wins[who] = wins.get(who, 0) + 1
        n_div = sum(diverged(v) for v in a)
        if who not in ("both diverged", *NOT_COMPARABLE.values()) and n_div and n_div == sum(
                diverged(v) for v in b):
            who += f" ({n_div} diverged each)"
        cells[iv] = who
        lines[i] = "| " + " | ".join(cells) + " |"
    lines = [line for line in lines if not line.startswith("More accurate (")]
    if "'more accurate':" in lines[0]:  # the rule sentence ends the first paragraph
        lines[0] = lines[0][:lines[0].index("'more accurate':")] + RULE
    lines.append(f"More accurate (seed means of med-abs-err, rule above; re-decided by --rejudge): {wins}")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def _mean_sd(v: list[float]) -> str:
    k = sum(diverged(x) for x in v)
    if k:
        rest = [x for x in v if not diverged(x)]
        return f"diverged in {k}/{len(v)} seeds" + (f"; others {np.mean(rest):.3f}" if rest else "")
    return f"{np.mean(v):.3f}" + (f" ± {np.std(v, ddof=1):.3f}" if len(v) > 1 else "")


def compare(groups: dict[tuple, list[dict]], args: argparse.Namespace) -> str:
    """Head-to-head: per configuration, infomax vs torch-mist on the median absolute error (mean over the
    levels) per seed and its mean over the seeds both sides finished, the MSE and the time per step, and
    which is more accurate (:func:`verdict`)."""
    lines = [
        f"Head-to-head on the staircase ({args.steps_per_level} steps/level). 'med-abs-err': median over "
        "the second half of each level of |estimate - truth|, averaged over the levels (robust to single "
        "spikes; a non-finite estimate counts as an infinite error), per seed, then the mean ± sample "
        "standard deviation over the seeds both sides finished. 'MSE' as in table.md (mean over seeds). "
        "Lower is better. " + RULE,
        "",
        "| task | batch | critic | estimator | seeds | infomax med-abs-err per seed | torch-mist med-abs-err "
        "per seed | infomax mean ± sd | torch-mist mean ± sd | infomax MSE | torch-mist MSE | more accurate "
        "| infomax ms/step | torch-mist ms/step |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    wins = {"infomax": 0, "torch-mist": 0, "level": 0}
    done = set()
    for impl, task, batch, critic, est, _ in groups:
        if impl != "infomax" or (task, batch, critic, est) in done:
            continue
        done.add((task, batch, critic, est))
        peer_est = PEER_NAME.get(est, est)
        seeds = [
            s
            for s in args.seeds
            if ("infomax", task, batch, critic, est, s) in groups
            and ("torch-mist", task, batch, critic, peer_est, s) in groups
        ]
        if not seeds:
            continue
        ours = [groups[("infomax", task, batch, critic, est, s)] for s in seeds]
        theirs = [groups[("torch-mist", task, batch, critic, peer_est, s)] for s in seeds]
        a = [float(np.mean([r["median_abs_err"] for r in rs])) for rs in ours]
        b = [float(np.mean([r["median_abs_err"] for r in rs])) for rs in theirs]
        ma, mb = (float(np.mean([r["mse"] for rs in side for r in rs])) for side in (ours, theirs))
        ta, tb = (float(np.mean([rs[0]["ms_per_step"] for rs in side])) for side in (ours, theirs))
        who = verdict(a, b, est)
        wins[who] = wins.get(who, 0) + 1
        n_div = sum(diverged(v) for v in a)
        if who not in ("both diverged", *NOT_COMPARABLE.values()) and n_div and n_div == sum(
                diverged(v) for v in b):
            who += f" ({n_div} diverged each)"  # the same number diverged: the other seeds decided
        name = est if peer_est == est else f"{est} ({peer_est})"
        pa, pb = (" / ".join(f"{v:.3f}" for v in side) for side in (a, b))
        lines.append(
            f"| {task} | {batch} | {critic} | {name} | {','.join(map(str, seeds))} | {pa} | {pb} | "
            f"{_mean_sd(a)} | {_mean_sd(b)} | {ma:.3g} | {mb:.3g} | {who} | {ta:.2f} | {tb:.2f} |"
        )
    lines += ["", f"More accurate (seed means of med-abs-err, rule above): {wins}"]
    return "\n".join(lines) + "\n"


def plot(curves: dict, args: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spl = args.steps_per_level
    truth = np.repeat(args.levels, spl)
    ests = list(dict.fromkeys(k[4] for k in curves))
    seed = args.seeds[0]  # one seed per plot (the first)
    for task in args.tasks:
        for batch in args.batch_sizes:
            fig, axes = plt.subplots(
                len(args.critics),
                len(ests),
                figsize=(2.6 * len(ests), 2.4 * len(args.critics)),
                sharex=True,
                sharey=True,
                squeeze=False,
            )
            for i, critic in enumerate(args.critics):
                for j, est in enumerate(ests):
                    ax = axes[i][j]
                    for impl, color in (("infomax", "C0"), ("torch-mist", "C3")):
                        e = curves.get((impl, task, batch, critic, est, seed))
                        if e is None:
                            continue
                        ax.plot(np.clip(e, -2, 15), color=color, alpha=0.25, lw=0.5)
                        k = max(1, spl // 20)
                        sm = np.convolve(np.nan_to_num(e, nan=0.0), np.ones(k) / k, mode="same")
                        ax.plot(np.clip(sm, -2, 15), color=color, lw=1.2, label=impl)
                    ax.plot(truth, "k", lw=1)
                    ax.set_ylim(-1, 12)
                    if i == 0:
                        ax.set_title(est, fontsize=9)
                    if j == 0:
                        ax.set_ylabel(f"{critic}\nMI (nats)", fontsize=8)
            axes[0][0].legend(fontsize=6, loc="upper left")  # "best" takes minutes on 20k points
            fig.suptitle(f"{task} staircase, d={args.dim}, batch {batch}, seed {seed}", fontsize=10)
            fig.tight_layout()
            fig.savefig(out / f"staircase_{task}_b{batch}.png", dpi=90)
            plt.close(fig)


if __name__ == "__main__":
    main()
