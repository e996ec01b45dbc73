"""What DIMCO code locations stand for (doc 000 fig. 2): top-10 test images per (dimension, symbol).

Rows: the most used symbol of each of the ``--singles`` dimensions whose argmax symbols vary the most over
the test set, then ``--pairs`` rows combining two of them (the images maximising the summed
log-probabilities of both symbols). Writes ``RUN/plots/codes-grid.png`` (and a copy with ``--copy``).

    OMP_NUM_THREADS=1 INFOMAX_DATA=<data> .venv/bin/python benchmarks/dimco/codes_grid.py RUN \\
        --copy benchmarks/dimco/results/codes-grid-omniglot.png
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--singles", type=int, default=6)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--copy", type=Path, default=None, help="also copy the PNG here")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from infomax.cli.index import encode_logprobs
    from infomax.data.datasets import load_split, official_splits
    from infomax.dimco.visualize import default_selections, plot_code_grid
    from infomax.run import PLOT_DIR, load_run

    run = load_run(args.run_dir)
    data = run.config["train"]["data"]
    test = load_split(data, official_splits(data)[1], args.data_root, size=run.info.image_size)
    lp = encode_logprobs(run, test.images)  # (N, d, k)
    rows = default_selections(lp, args.singles, args.pairs)
    out = plot_code_grid(test.images, lp, rows, args.run_dir / PLOT_DIR / "codes-grid.png", top=args.top)
    if args.copy:
        args.copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, args.copy)
    print(json.dumps({"png": str(out), "rows": rows, "items": len(lp)}))


if __name__ == "__main__":
    main()
