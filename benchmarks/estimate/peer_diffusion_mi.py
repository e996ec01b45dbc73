"""diffusion-mi 0.1.0's MMG and MINDE (PyPI ``diffusion-mi``, imported as ``dmi``) on the dumped tasks.

Runs under any python that can import ``dmi`` and ``pytorch_lightning`` (its own virtualenv, or the
project's python with the vendored payload of ``benchmarks/gpu/diffusion_peers.sh`` on PYTHONPATH):

    python benchmarks/estimate/peer_diffusion_mi.py --cache <cache>/bmi --n 5000 --seeds 200,201,202 \
        --out benchmarks/estimate/results/raw --estimators mmg,minde --workers 12 --deadline-s 420

Settings: the package's own examples, since its README shows only a generic fit/estimate workflow:

- ``diffusion-mi-mmg``: the ``__main__`` demo of ``estimators/neural/MMG.py``: ``MMGEstimator(
  learning_rate=1e-4, batch_size=512, max_n_steps=3000, use_ema=True, mi_estimation_interval=200)``,
  inputs z-scored with scalers fitted on the training part, ``fit(x_train, y_train, x_test, y_test)`` (its
  ``fit`` requires the validation pair), then ``estimate(x_test, y_test)`` (0.1.0 returns a float; its demo
  unpacks a tuple, so both are accepted).
- ``diffusion-mi-minde``: the ``__main__`` demo of ``estimators/neural/MINDE.py``: ``MINDEEstimator(
  learning_rate=1e-4, batch_size=256, max_n_steps=3000)`` on raw inputs (it rescales internally),
  ``fit(x_train, y_train)``, ``estimate(x_test, y_test)``, except the demo's ``early_stopping=True``
  (``--minde-early-stopping`` restores it): its patience is 2 epochs of the training loss, and an epoch is
  390 batches of the demo's 100,000 samples but 16 of our 4,000, so it stops within a few hundred steps
  (384 steps and 0.08 nats for a true 0.59 on multinormal-dense-5-5, seed 200); without it MINDE gets the
  same step budget as MMG, and the constructor's default (no early stopping). 0.1.0's ``MINDE.fit`` never
  passes ``max_n_steps`` to its Trainer (only ``max_epochs``; without either Lightning trains 1,000 epochs),
  so the step budget is passed as ``max_epochs = ceil(max_steps / batches per epoch)`` (3,008 steps).

Both see the same split of each task's N samples: a seeded permutation, the last ``--test-fraction`` (20%)
held out for the estimate, the rest for training (the package's examples estimate on held-out samples).
``torch.manual_seed(seed)`` before each fit. One torch thread per worker process; each fit uses CUDA when
the process sees a GPU (the package decides), ``--accelerator cpu`` hides it.

Time limits: no fit starts after ``--deadline-s``; with ``--stop-s`` (when the caller will stop the run)
no fit starts that would end after it, judged by 1.2 x the mean wall time of that estimator's finished fits.

Output: ``diffusion-mi-<est>_n<N>_s<seed>.csv`` in --out, the columns of run.py (no interval) plus
``steps`` (optimizer steps the fit ran), ``device`` and ``workers`` (fits running at once). Every finished
task is appended and flushed at once, so a run stopped from outside keeps what it finished; tasks already in
a csv are skipped on a rerun (so ``seconds`` of a resumed run may mix two runs' loads). Tasks that fail go
to ``diffusion-mi_failures.csv``; the environment (versions, import paths, device, settings) to
``diffusion-mi_env.json``; each worker's Lightning output to ``logs/``. Nothing is written elsewhere
(Lightning's default_root_dir is a temporary directory, its progress bar and model summary are off through
its ``PL_TRAINER_*`` environment defaults, which the package's explicit Trainer arguments still override).

``torchvision``: ``estimators/neural/_critic.py`` imports it (``import torchvision``, ``from torchvision
import transforms``) and uses neither name; where torchvision is not installed an empty stand-in module is
in ``sys.modules`` during that one import only, and the env json says so.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import importlib.util
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import types
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path

import numpy as np

FIELDS = ["task", "seed", "n", "estimator", "truth", "estimate", "low", "high", "chosen", "seconds",
          "steps", "device", "workers"]
LABEL = {"mmg": "diffusion-mi-mmg", "minde": "diffusion-mi-minde"}
SETTINGS = {
    "mmg": {"learning_rate": 1e-4, "batch_size": 512, "use_ema": True, "mi_estimation_interval": 200},
    "minde": {"learning_rate": 1e-4, "batch_size": 256},
}
HARD = ("spiral", "student", "-25-25-", "-50-50-")  # the slow / hard tasks: started first


def import_estimators() -> str:
    """Import ``estimators.neural`` (MMG, MINDE); say how ``torchvision`` was satisfied.

    ``estimators/neural/_critic.py`` imports torchvision and never uses it. Where it is not installed an
    empty stand-in is put in ``sys.modules`` for that one import and taken out again, so that nothing else
    (Lightning, torchmetrics probe for torchvision) ever sees it.
    """
    import pytorch_lightning  # noqa: F401  (first, so its own torchvision probes run without the stand-in)

    if importlib.util.find_spec("torchvision") is not None:
        import torchvision

        importlib.import_module("estimators.neural")
        return f"torchvision {torchvision.__version__} (installed)"
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tv.transforms})
    try:
        importlib.import_module("estimators.neural")
    finally:
        del sys.modules["torchvision"], sys.modules["torchvision.transforms"]
    return ("stand-in during the import of estimators.neural only (torchvision is not installed; "
            "_critic.py imports it but never uses it)")


def check_imports() -> dict:
    """Import everything MMG/MINDE need; return versions and where each module came from."""
    info = {"python": sys.version.split()[0], "torchvision": import_estimators()}
    for mod in ("numpy", "scipy", "sklearn", "matplotlib", "torch", "lightning_utilities", "torchmetrics",
                "lightning_fabric", "pytorch_lightning", "dmi", "estimators.neural.MMG",
                "estimators.neural.MINDE"):
        m = importlib.import_module(mod)
        info[mod] = {"version": getattr(m, "__version__", ""), "file": getattr(m, "__file__", "")}
    import torch

    info["cuda"] = torch.cuda.is_available()
    info["device"] = torch.cuda.get_device_name(0) if info["cuda"] else f"cpu ({platform.machine()})"
    info["cpu_count"] = os.cpu_count()
    return info


def task_order(names: list[str]) -> list[str]:
    """Hard tasks first (largest dimension first among them), then the rest in name order."""
    def dim(n: str) -> int:
        nums = [int(p) for p in n.replace("_", "-").split("-") if p.isdigit()]
        return max(nums[:2]) if nums else 1

    hard = sorted((n for n in names if any(h in n for h in HARD)), key=lambda n: (-dim(n), n))
    return hard + sorted(n for n in names if n not in hard)


def split(n: int, seed: int, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return perm[: n - n_test], perm[n - n_test:]


_LOG = None


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the main process dies (Lightning catches SIGTERM during a fit)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(log_dir: str) -> None:
    import logging
    import warnings

    _die_with_parent()
    global _LOG
    _LOG = open(Path(log_dir) / f"worker-{os.getpid()}.log", "a", buffering=1)  # noqa: SIM115
    sys.stdout = sys.stderr = _LOG
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(pytorch_lightning|lightning_fabric|lightning)(\..*)?")
    import_estimators()
    import torch

    torch.set_num_threads(1)


def run_job(job: dict) -> dict:
    """Fit and estimate one (estimator, task, seed); returns the csv row (or an error entry)."""
    import torch

    print(f"== {job['estimator']} {job['task']} seed {job['seed']}", flush=True)
    try:
        with np.load(job["file"], allow_pickle=False) as z:
            x, y, truth = z["x"].astype(np.float64), z["y"].astype(np.float64), float(z["mi"])
        tr, te = split(len(x), job["seed"], job["test_fraction"])
        torch.manual_seed(job["seed"])
        t0 = time.perf_counter()
        if job["estimator"] == "mmg":
            from estimators.neural.MMG import MMGEstimator

            mx, sx = x[tr].mean(0), x[tr].std(0)
            my, sy = y[tr].mean(0), y[tr].std(0)
            xs, ys = (x - mx) / sx, (y - my) / sy
            model = MMGEstimator(max_n_steps=job["max_steps"], seed=job["seed"], task_name=job["task"],
                                 task_gt=truth, create_checkpoint=False, **SETTINGS["mmg"])
            model.fit(xs[tr], ys[tr], xs[te], ys[te])
            est = model.estimate(xs[te], ys[te])
        else:
            from estimators.neural.MINDE import MINDEEstimator

            bs = SETTINGS["minde"]["batch_size"]
            epochs = math.ceil(job["max_steps"] / math.ceil(len(tr) / bs))
            model = MINDEEstimator(max_n_steps=job["max_steps"], max_epochs=epochs, seed=job["seed"],
                                   task_name=job["task"], task_gt=truth, create_checkpoint=False,
                                   early_stopping=job["minde_early_stopping"], **SETTINGS["minde"])
            model.fit(x[tr], y[tr])
            est = model.estimate(x[te], y[te])
        est = float(est[0] if isinstance(est, tuple) else est)
        sec = time.perf_counter() - t0
        trainer = getattr(model, "_trainer", None)
        steps = int(trainer.global_step) if trainer is not None else ""
    except Exception as e:  # a failed task is reported, not fatal to the run
        import traceback

        traceback.print_exc()
        return {"error": f"{type(e).__name__}: {e}", **{k: job[k] for k in ("task", "seed", "estimator")}}
    print(f"   estimate {est:.4f} truth {truth:.4f} steps {steps} {sec:.1f}s", flush=True)
    return {"task": job["task"], "seed": job["seed"], "n": job["n"], "estimator": LABEL[job["estimator"]],
            "truth": truth, "estimate": est, "low": "", "high": "", "chosen": "", "seconds": round(sec, 3),
            "steps": steps, "device": job["device"], "workers": job["workers"]}


def _append(path: Path, row: dict, fields: list[str]) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="directory with n<N>/s<seed>/<task>.npz (x, y, mi)")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="200,201,202")
    ap.add_argument("--out", required=True)
    ap.add_argument("--estimators", default="mmg,minde")
    ap.add_argument("--tasks", default="", help="comma-separated task ids (default: all)")
    ap.add_argument("--max-tasks", type=int, default=0, help="only the first K tasks of the order (dry runs)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes, one torch thread each")
    ap.add_argument("--max-steps", type=int, default=3000, help="training steps per fit (the demos': 3000)")
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--minde-early-stopping", action="store_true",
                    help="MINDE's demo setting (patience 2 epochs on the training loss); off by default")
    ap.add_argument("--deadline-s", type=float, default=0.0, help="start no task after this many seconds")
    ap.add_argument("--stop-s", type=float, default=0.0,
                    help="when the run will be stopped from outside: start no fit expected (1.2 x the mean "
                         "of that estimator's finished fits) to end after it")
    ap.add_argument("--accelerator", choices=("auto", "cpu"), default="auto",
                    help="cpu hides any GPU from the workers")
    ap.add_argument("--check", action="store_true", help="only check the imports and print the environment")
    args = ap.parse_args()
    t_start = time.monotonic()

    if args.accelerator == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        env = check_imports()
    except ImportError as e:
        print(f"peer_diffusion_mi: cannot import {e.name or e}: {e} "
              f"(PYTHONPATH={os.environ.get('PYTHONPATH')})", file=sys.stderr)
        sys.exit(2)
    print(f"diffusion-mi peer: device {env['device']}; dmi from {env['dmi']['file']}; pytorch_lightning "
          f"{env['pytorch_lightning']['version']} from {env['pytorch_lightning']['file']}; torch "
          f"{env['torch']['version']}; torchvision: {env['torchvision']}", flush=True)
    if args.check:
        print(json.dumps(env, indent=1))
        return

    ests = [e for e in args.estimators.split(",") if e]
    bad = [e for e in ests if e not in LABEL]
    if bad:
        print(f"peer_diffusion_mi: unknown estimator {bad[0]!r} (known: {', '.join(LABEL)})", file=sys.stderr)
        sys.exit(2)
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    names: set[str] = set()
    for s in seeds:
        d = Path(args.cache) / f"n{args.n}" / f"s{s}"
        found = {f.stem for f in d.glob("*.npz")}
        if not found:
            print(f"peer_diffusion_mi: no .npz tasks in {d}", file=sys.stderr)
            sys.exit(2)
        names |= found
    if args.tasks:
        names &= set(args.tasks.split(","))
    order = task_order(sorted(names))
    if args.max_tasks:
        order = order[: args.max_tasks]
    done = set()
    for e in ests:
        for s in seeds:
            p = out / f"{LABEL[e]}_n{args.n}_s{s}.csv"
            if p.exists():
                with open(p) as fh:
                    done |= {(e, r["task"], s) for r in csv.DictReader(fh)}
    jobs = [{"estimator": e, "task": t, "seed": s, "n": args.n, "max_steps": args.max_steps,
             "test_fraction": args.test_fraction, "minde_early_stopping": args.minde_early_stopping,
             "device": env["device"], "workers": args.workers,
             "file": str(Path(args.cache) / f"n{args.n}" / f"s{s}" / f"{t}.npz")}
            for t in order for s in seeds for e in ests
            if (e, t, s) not in done and (Path(args.cache) / f"n{args.n}" / f"s{s}" / f"{t}.npz").exists()]
    settings = {e: {**SETTINGS[e], "max_steps": args.max_steps} for e in ests}
    if "minde" in settings:
        settings["minde"]["early_stopping"] = args.minde_early_stopping
    env.update({"settings": settings,
                "args": vars(args), "order": order, "already_done": len(done), "jobs": len(jobs)})
    (out / "diffusion-mi_env.json").write_text(json.dumps(env, indent=1) + "\n")
    print(f"{len(jobs)} fits ({len(done)} already in the csv files), {args.workers} workers, "
          f"{args.max_steps} steps each, deadline {args.deadline_s or 'none'} s, "
          f"stop {args.stop_s or 'none'} s", flush=True)

    tmp = tempfile.mkdtemp(prefix="dmi-lightning-")
    os.environ.update({"PL_TRAINER_DEFAULT_ROOT_DIR": tmp, "PL_TRAINER_ENABLE_PROGRESS_BAR": "False",
                       "PL_TRAINER_ENABLE_MODEL_SUMMARY": "False", "OMP_NUM_THREADS": "1",
                       "MKL_NUM_THREADS": "1"})
    finished, failed, skipped, broken = 0, 0, 0, False
    secs: dict[str, list[float]] = {}  # estimator -> wall seconds of its finished fits
    pending: set = set()
    todo = iter(jobs)
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn"), initializer=_init_worker,
                             initargs=(str(out / "logs"),)) as pool:

        def _on_term(signum: int, _frame: object) -> None:  # stopped from outside (timeout): end now
            procs = getattr(pool, "_processes", None) or {}  # pid -> Process
            for p in list(procs.values()):
                p.kill()
            shutil.rmtree(tmp, ignore_errors=True)
            print(f"stopped by signal {signum}: {finished} fits done and written", flush=True)
            os._exit(128 + signum)

        signal.signal(signal.SIGTERM, _on_term)
        while True:
            while len(pending) < args.workers and not broken:
                if args.deadline_s and time.monotonic() - t_start > args.deadline_s:
                    skipped += sum(1 for _ in todo)
                    break
                job = next(todo, None)
                if job is None:
                    break
                took = secs.get(job["estimator"])
                if args.stop_s and took and (time.monotonic() - t_start
                                             + 1.2 * sum(took) / len(took) > args.stop_s):
                    skipped += 1  # would not finish before the run is stopped from outside
                    continue
                pending.add(pool.submit(run_job, job))
            if not pending:
                break
            ready, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in ready:
                try:
                    row = f.result()
                except Exception as e:  # a worker died (e.g. killed): the pool is unusable
                    print(f"worker failure: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                    failed += 1
                    broken = True
                    continue
                if "error" in row:
                    failed += 1
                    _append(out / "diffusion-mi_failures.csv", row, ["task", "seed", "estimator", "error"])
                    print(f"FAILED {row['estimator']} {row['task']} s{row['seed']}: {row['error']}",
                          flush=True)
                    continue
                finished += 1
                secs.setdefault(row["estimator"].removeprefix("diffusion-mi-"), []).append(row["seconds"])
                _append(out / f"{row['estimator']}_n{row['n']}_s{row['seed']}.csv", row, FIELDS)
                print(f"[{time.monotonic() - t_start:6.0f}s] {row['estimator']:18s} s{row['seed']} "
                      f"{row['task']:48s} truth {row['truth']:.3f} est {row['estimate']:.3f} "
                      f"steps {row['steps']} {row['seconds']:.1f}s", flush=True)
    skipped += sum(1 for _ in todo)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"done: {finished} fits, {failed} failed, {skipped} not started, "
          f"{time.monotonic() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
