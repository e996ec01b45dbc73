"""``infomax estimate X Y``: estimate I(X; Y) from two files of paired samples.

X and Y are ``.npy`` arrays or ``.csv`` text files (comma-separated, one sample per row); row i of X is
paired with row i of Y. A 1-D array or a single-column file is one feature. A first row is a header of
column names (skipped) only when none of its cells is a number; a first row mixing numbers and non-numbers
is an error naming the cell, as is any later non-numeric cell.

The ``+/-`` (JSON ``stderr_nats``) is the sampling noise of the held-out estimate only, not the bias of the
bound or of an under-trained critic; the text output and the JSON ``note`` say so.

The JSON ``dependence`` (text: the ``dependence:`` line) says what the result supports: ``detected``,
``none detected``, ``inconclusive`` (``reliable`` is false: the critic memorizes its training pairs, as it
does with few samples for the dimension) or ``deterministic`` (Y is an exact function of X: the MI of
continuous data is infinite and the estimate only a lower bound). Warnings go to stderr.

Example:
    infomax estimate x.npy y.csv --bound smile --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from infomax.errors import UserError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from infomax.estimate import ESTIMATOR_BOUNDS, ESTIMATOR_CRITICS, PREPROCESS

    p = subparsers.add_parser(
        "estimate",
        help="estimate the mutual information between paired samples X and Y (.npy or .csv)",
        description=(
            "Estimate I(X;Y) by training a critic on a training split and reporting a variational bound on "
            "a held-out split, with a standard error, in nats and bits. X and Y: .npy or .csv files with one "
            "sample per row (row i of X paired with row i of Y)."
        ),
    )
    p.add_argument("x", metavar="X", help="samples of X: .npy, or .csv with one sample per row")
    p.add_argument("y", metavar="Y", help="samples of Y, paired row by row with X")
    p.add_argument(
        "--bound", default="smile", choices=list(ESTIMATOR_BOUNDS), help="estimator (default: smile)"
    )
    p.add_argument(
        "--critic", default="separable", choices=list(ESTIMATOR_CRITICS), help="critic (default: separable)"
    )
    p.add_argument("--tau", type=_tau, default=5.0, help="SMILE clip level, or 'none' (default: 5)")
    p.add_argument(
        "--preprocess",
        default="rank",
        choices=list(PREPROCESS),
        help="rank: Gaussianize each column by its ranks (default); standardize; none",
    )
    p.add_argument("--steps", type=int, default=4000, help="maximum training steps (default: 4000)")
    p.add_argument("--batch-size", type=int, default=256, help="training batch size (default: 256)")
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate (default: 5e-4)")
    p.add_argument(
        "--hidden",
        type=_hidden,
        metavar="N[,N...]",
        help="critic hidden layer sizes, e.g. 64 or 128,128 (default: 256,256); a smaller critic overfits "
        "less when samples are few for the dimension",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for the split, batches and critic (default: 0)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch's operators (default: torch's choice, one per core)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout and nothing else")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _hidden(s: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 64 or 128,128, got {s!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be >= 1, got {s!r}")
    return sizes


def _tau(s: str) -> float | None:
    if s.lower() in ("none", "null", "inf"):
        return None
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or 'none', got {s!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number or 'none', got {s!r}")
    return v


def load_samples(path: str) -> np.ndarray:
    """Read a .npy array or a .csv file of numbers (one sample per row) as a float64 array.

    Raises:
        UserError: the file is missing, unreadable, of another format, or holds non-numeric values.
    """
    p = Path(path)
    if not p.exists():
        raise UserError(f"file not found: {path}")
    if not p.is_file():
        raise UserError(f"not a file: {path}")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise UserError(f"cannot read {path} as a .npy array: {_first_line(e)}") from None
    elif suffix in (".csv", ".txt"):
        arr = _load_csv(p)
    else:
        raise UserError(f"unsupported file type {p.suffix or '(none)'!r} for {path}: use .npy or .csv")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserError(f"{path} must hold numbers, got dtype {arr.dtype}")
    return arr


def _parse_cell(c: str) -> float | None:
    try:
        return float(c)
    except ValueError:
        return None


def _load_csv(p: Path) -> np.ndarray:
    """Blank lines and ``#`` comment lines are skipped; the first remaining row is a header only if none of
    its cells parses as a number; any other non-numeric cell is a UserError naming its line and column."""
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {p}: {_first_line(e)}") from None
    numbered = enumerate(text.splitlines(), 1)  # (file line number, text)
    lines = [(no, ln) for no, ln in numbered if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise UserError(f"{p} holds no data rows")
    rows: list[list[float]] = []
    for k, (no, ln) in enumerate(lines):
        cells = [c.strip() for c in ln.split(",")]
        vals = [_parse_cell(c) for c in cells]
        bad = [j for j, v in enumerate(vals) if v is None]
        if not bad:
            rows.append([float(v) for v in vals if v is not None])
        elif k == 0 and len(bad) == len(cells):  # a header line of column names
            continue
        else:
            j = bad[0]
            why = ", while its other cells are numbers (a header row holds only names)" if k == 0 else ""
            raise UserError(
                f"{p}: line {no}, column {j + 1} has a non-numeric value {cells[j][:40]!r}{why}"
            )
    if not rows:
        raise UserError(f"{p} holds no data rows")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise UserError(
            f"{p}: rows have different numbers of columns ({', '.join(map(str, sorted(widths)))})"
        )
    return np.asarray(rows, dtype=np.float64)


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__


def run(args: argparse.Namespace) -> int:
    from infomax.cli.train import set_threads
    from infomax.estimate import estimate_mi

    set_threads(args.threads)
    x, y = load_samples(args.x), load_samples(args.y)
    if x.ndim >= 1 and y.ndim >= 1 and x.shape[0] != y.shape[0]:
        raise UserError(f"{args.x} has {x.shape[0]} rows but {args.y} has {y.shape[0]}: they must be paired")
    est = estimate_mi(
        x,
        y,
        bound=args.bound,
        critic=args.critic,
        tau=args.tau,
        preprocess=args.preprocess,
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        hidden=args.hidden,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps(est.to_dict()))
    else:
        print(est.headline())
        print(f"dependence: {est.dependence}")
        print(
            f"bound={est.bound} critic={est.critic} n_train={est.n_train} n_val={est.n_val} "
            f"n_test={est.n_test} steps={est.steps} best_step={est.best_step} time={est.seconds:.1f}s"
        )
        print(f"note: {est.note}")
    for w in est.warnings:
        print(f"infomax: warning: {w}", file=sys.stderr)
    return 0
