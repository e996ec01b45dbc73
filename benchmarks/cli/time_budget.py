"""Does `infomax train NAME --max-minutes M` keep its time? The whole command, timed end to end.

Each method's default (the bare method name, as a user types it: baselines, final probes and report on)
runs in its own subprocess with ``--max-minutes M``; the wall time of the whole command (start-up, data
loading, training, the supervised baseline, the final probes, the report) is compared with the limit
``1.5 M + 1`` minutes (training gets M, the final evaluation half of M by default, one minute for the rest).

Writes ``OUT/time_budget.{csv,md}``: name, data, budget, wall seconds, training seconds, final evaluation
seconds (baseline / probes), layers not probed, and whether the command kept the limit.

Example::

    python benchmarks/cli/time_budget.py --minutes 1 --out benchmarks/cli/results
    python benchmarks/cli/time_budget.py --minutes 1 --names dim cpc --threads 2
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Each method's smallest standard dataset it trains on (the presets' own data where they name one).
DATA = {"dim": "fashion-mnist", "supervised": "fashion-mnist", "multiview": "mnist", "dimco": "omniglot",
        "amdim": "cifar10", "cpc": "cifar10", "moco": "fashion-mnist", "hybrid": "fashion-mnist"}


def run_one(name: str, data: str, minutes: float, threads: int | None, root: Path) -> dict:
    out = root / name
    cmd = [sys.executable, "-m", "infomax", "train", name, "--data", data, "--max-minutes", f"{minutes:g}",
           "--out", str(out), "--json"] + (["--threads", str(threads)] if threads else [])
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    row = {"name": name, "data": data, "budget_min": minutes, "wall_s": round(wall, 1),
           "limit_s": round(60 * (1.5 * minutes + 1), 1), "exit": res.returncode}
    if res.returncode == 0:
        m = json.loads(res.stdout)
        ev = m.get("final_evaluation", {})
        row.update({"train_s": m["train"]["elapsed_s"], "eval_s": ev.get("seconds"),
                    "baseline_s": ev.get("baselines_seconds"), "probes_s": ev.get("probes_seconds"),
                    "not_probed": " ".join((m.get("final") or {}).get("skipped_layers", []))})
    else:
        row["error"] = res.stderr.strip().splitlines()[-1][:200] if res.stderr.strip() else ""
    row["kept"] = res.returncode == 0 and wall <= row["limit_s"]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="--max-minutes of every run")
    ap.add_argument("--names", nargs="*", default=list(DATA), help="methods (or presets) to time")
    ap.add_argument("--threads", type=int, default=None, help="--threads of every run (default torch's)")
    ap.add_argument("--out", default="benchmarks/cli/results", help="where the tables go")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            row = run_one(name, DATA.get(name, "digits"), args.minutes, args.threads, Path(tmp))
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    cols = ["name", "data", "budget_min", "wall_s", "limit_s", "kept", "train_s", "eval_s", "baseline_s",
            "probes_s", "not_probed", "exit", "error"]
    with open(out / "time_budget.csv", "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    (out / "time_budget.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["kept"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
