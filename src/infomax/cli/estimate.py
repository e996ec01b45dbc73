"""``infomax estimate X Y``: estimate I(X; Y) from two files of paired samples.

X and Y are files with one sample per row; row i of X is paired with row i of Y. A 1-D array or a
single-column file is one feature. Formats, by file extension:

- ``.npy``: one array (never unpickled);
- ``.npz``: ``file.npz:NAME`` reads the array NAME (``infomax estimate d.npz:x d.npz:y``); a bare
  ``file.npz`` must hold exactly one array;
- ``.csv`` / ``.txt`` (comma-separated) and ``.tsv`` / ``.tab`` (tab-separated) text: blank lines and
  ``#`` lines are skipped; the first row is a header of column names (skipped) only when none of its cells
  is a number; a first row mixing numbers and non-numbers is an error naming the cell, as is any later
  non-numeric cell;
- ``.parquet``: read through pyarrow when it is installed (it is not a dependency of infomax); otherwise
  a one-line error says to convert the file.

The ``+/-`` (JSON ``stderr_nats``) is the sampling noise of the reported value only; the 90% interval
(JSON ``interval_nats``, ``interval_bits``) adds, above it, the spread between the estimators that took part
(JSON ``estimates``; all but the ``radial`` one, which reads only the norms) as an allowance for their bias,
which is low where they fail. ``--quick`` skips the
critic (about a second for a few dimensions).

The JSON ``dependence`` (text: the ``dependence:`` line) says what the result supports: ``detected``,
``none detected``, ``inconclusive`` (``reliable`` is false: the critic memorizes its training pairs, as it
does with few samples for the dimension) or ``deterministic`` (Y is an exact function of X: the MI of
continuous data is infinite and the estimate only a lower bound). Warnings go to stderr.

Example:
    infomax estimate x.npy y.csv --json
    infomax estimate data.npz:x data.npz:y --quick
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
    from infomax.estimate import (
        ACTIVATION_NAMES,
        ESTIMATOR_BOUNDS,
        ESTIMATOR_CRITICS,
        METHODS,
        PREPROCESS,
    )
    from infomax.estimate.params import CONCAT_HIDDEN, SEPARABLE_HIDDEN
    from infomax.estimate.params import EstimateParams as D  # every default is declared there, once

    def _sizes(h: tuple[int, ...]) -> str:
        return ",".join(map(str, h))

    p = subparsers.add_parser(
        "estimate",
        help="estimate the mutual information between paired samples X and Y (.npy, .npz, .csv, .tsv)",
        description=(
            "Estimate I(X;Y) by training a critic on a training split and reporting a variational bound on "
            "a held-out split, with a standard error, in nats and bits. X and Y: .npy, .npz (FILE.npz:NAME), "
            ".csv or .tsv files with one sample per row (row i of X paired with row i of Y)."
        ),
    )
    p.add_argument(
        "x", metavar="X", help="samples of X: .npy, FILE.npz:NAME, .csv or .tsv (header optional)"
    )
    p.add_argument("y", metavar="Y", help="samples of Y, paired row by row with X")
    p.add_argument(
        "--method",
        default=D.method,
        choices=list(METHODS),
        help="auto (default): the largest of the Gaussian-copula MI, KSG on the ranks and on the scaled data "
        "(dx + dy <= 20), KSG between the two sides' norms and the critic's bound; quick: all but the critic "
        "(about a second); critic, ksg or gaussian: that one alone",
    )
    p.add_argument(
        "--quick", action="store_true", help="same as --method quick: no critic, for exploration"
    )
    p.add_argument(
        "--bound", default=D.bound, choices=list(ESTIMATOR_BOUNDS), help=f"estimator (default: {D.bound})"
    )
    p.add_argument(
        "--critic", default=D.critic, choices=list(ESTIMATOR_CRITICS), help=f"critic (default: {D.critic})"
    )
    p.add_argument("--tau", type=_tau, default=D.tau,
                   help=f"SMILE clip level, or 'none' (default: {D.tau:g})")
    p.add_argument(
        "--preprocess",
        default=D.preprocess,
        choices=list(PREPROCESS),
        help="rank: Gaussianize each column by its ranks (default); standardize; none",
    )
    p.add_argument("--steps", type=int, default=D.max_steps,
                   help=f"maximum training steps (default: {D.max_steps})")
    p.add_argument("--batch-size", type=int, default=D.batch_size,
                   help=f"training batch size (default: {D.batch_size})")
    p.add_argument("--lr", type=float, default=D.lr, help=f"Adam learning rate (default: {D.lr:g})")
    p.add_argument("--weight-decay", type=float, default=D.weight_decay,
                   help=f"Adam weight decay (default: {D.weight_decay:g})")
    p.add_argument(
        "--hidden",
        type=_hidden,
        metavar="N[,N...]",
        help=f"critic hidden layer sizes, e.g. 64 or 128,128 (default: {_sizes(SEPARABLE_HIDDEN)}; concat "
        f"critic: {_sizes(CONCAT_HIDDEN)}); a smaller critic overfits less when samples are few for the "
        "dimension",
    )
    p.add_argument("--embed-dim", type=int, default=D.embed_dim, metavar="N",
                   help=f"the separable critic's embedding size (default: {D.embed_dim})")
    p.add_argument(
        "--activation",
        default=D.activation,
        choices=list(ACTIVATION_NAMES),
        help=f"the critic's hidden activation (default: {D.activation})",
    )
    p.add_argument(
        "--score-map",
        type=int,
        default=D.score_map,
        metavar="N",
        help="pass the critic's scores through a learned scalar map of N hidden units (default: 0, none); "
        "reads higher when a share of the pairs is independent (mixtures), at about 1.7x the time",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=D.dropout,
        metavar="P",
        help=f"dropout after the critic's hidden activations while training (default: {D.dropout:g})",
    )
    p.add_argument("--test-fraction", type=float, default=D.test_fraction, metavar="F",
                   help=f"share of the rows held out to read the critic (default: {D.test_fraction:g})")
    p.add_argument("--val-fraction", type=float, default=D.val_fraction, metavar="F",
                   help=f"share of the rows held out for early stopping (default: {D.val_fraction:g})")
    p.add_argument("--seed", type=int, default=D.seed,
                   help=f"seed for the split, batches and critic (default: {D.seed})")
    p.add_argument("--device", default=D.device, help=f"torch device (default: {D.device})")
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
    """Read one sample file as an array (one sample per row); see the module for the formats.

    ``path`` is a file, or ``file.npz:name`` for one array of an ``.npz`` archive (a bare ``file.npz``
    must hold exactly one array).

    Raises:
        UserError: the file is missing, unreadable, of another format, names an array it does not hold, or
            holds non-numeric values.
    """
    name = None
    base, sep, tail = path.rpartition(":")
    if sep and base.lower().endswith(".npz") and tail:
        path, name = base, tail
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
    elif suffix == ".npz":
        arr = _load_npz(p, name)
    elif suffix in (".csv", ".txt"):
        arr = _load_csv(p, ",")
    elif suffix in (".tsv", ".tab"):
        arr = _load_csv(p, "\t")
    elif suffix in (".parquet", ".pq"):
        arr = _load_parquet(p)
    else:
        raise UserError(
            f"unsupported file type {p.suffix or '(none)'!r} for {path}: use .npy, .npz, .csv or .tsv"
        )
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserError(f"{path} must hold numbers, got dtype {arr.dtype}")
    return arr


def _load_npz(p: Path, name: str | None) -> np.ndarray:
    """One array of an .npz archive: ``name``, or the only one it holds."""
    import zipfile

    try:
        with np.load(p, allow_pickle=False) as z:
            names = list(z.files)
            if name is None:
                if len(names) != 1:
                    listed = ", ".join(names) if names else "none"
                    raise UserError(
                        f"{p} holds {len(names)} arrays ({listed}); name one as {p}:NAME"
                    )
                name = names[0]
            if name not in names:
                raise UserError(f"{p} has no array {name!r}; it holds: {', '.join(names) or 'none'}")
            return np.asarray(z[name])
    except UserError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"cannot read {p} as a .npz archive: {_first_line(e)}") from None


def _load_parquet(p: Path) -> np.ndarray:
    """Every column of a Parquet file as one float64 array, through pyarrow when it is installed."""
    try:
        import pyarrow.parquet as pq  # optional: not a dependency of infomax
    except ImportError:
        raise UserError(
            f"reading {p} needs the optional package pyarrow, which is not installed; save the data as "
            ".npy, .npz, .csv or .tsv instead"
        ) from None
    try:
        table = pq.read_table(p)
    except Exception as e:  # pyarrow raises its own error types
        raise UserError(f"cannot read {p} as Parquet: {_first_line(e)}") from None
    cols = []
    for field, col in zip(table.schema, table.columns):
        try:
            cols.append(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64))
        except (TypeError, ValueError):
            raise UserError(f"{p}: column {field.name!r} is not numeric ({field.type})") from None
    return np.stack(cols, axis=1) if cols else np.empty((0, 0))


def _parse_cell(c: str) -> float | None:
    try:
        return float(c)
    except ValueError:
        return None


def _load_csv(p: Path, sep: str) -> np.ndarray:
    """Cells separated by ``sep``. Blank lines and ``#`` comment lines are skipped; the first remaining row
    is a header only if none of
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
        cells = [c.strip() for c in ln.split(sep)]
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
        method="quick" if args.quick else args.method,
        bound=args.bound,
        critic=args.critic,
        tau=args.tau,
        preprocess=args.preprocess,
        max_steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        hidden=args.hidden,
        embed_dim=args.embed_dim,
        activation=args.activation,
        score_map=args.score_map,
        dropout=args.dropout,
        test_fraction=args.test_fraction,
        val_fraction=args.val_fraction,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps(est.to_dict()))
    else:
        print(est.headline())
        lo, hi = est.interval_nats or (math.nan, math.nan)
        print(f"90% interval: [{lo:.4f}, {hi:.4f}] nats (noise, and the spread between the estimators)")
        print(f"dependence: {est.dependence}")
        parts = ", ".join(f"{k} {v:.4f}" for k, v in est.estimates.items())
        print(f"method={est.method} chosen={est.chosen} estimates (nats): {parts}")
        if est.method in ("auto", "critic"):
            print(
                f"bound={est.bound} critic={est.critic} n_train={est.n_train} n_val={est.n_val} "
                f"n_test={est.n_test} steps={est.steps} best_step={est.best_step} time={est.seconds:.1f}s"
            )
        print(f"note: {est.note}")
    for w in est.warnings:
        print(f"infomax: warning: {w}", file=sys.stderr)
    return 0
