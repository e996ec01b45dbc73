"""AMDIM step time vs its bare encoder's forward + backward on both views; images/s and peak memory.

Each configuration runs in a fresh subprocess (so its peak RSS is its own). "encoder" = the AMDIMEncoder
(trunk + f5/f7 embeddings) forward + backward on the 2B images of both views, with a trivial loss (the sum
of its outputs); "amdim" = the whole method step (views + encoder + NCE heads + penalty + mixture) without
the online probes; "amdim+probes" adds the online probes' loss and backward. No optimiser step (Adam's
cost is the same for both and small). Reported: median of ``--reps`` timed steps after 2 warm-up steps.

    python benchmarks/amdim/step_time.py --threads 2 --batch 64 --out benchmarks/amdim/results/step_time.md
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _measure(kind: str, batch: int, reps: int, threads: int, ndf: int, n_rkhs: int, n_mix: int) -> dict:
    import torch

    from infomax.methods.amdim import AMDIM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = AMDIM(3, 32, (0.5,) * 3, (0.25,) * 3, num_classes=10, ndf=ndf, n_rkhs=n_rkhs, n_mix=n_mix,
              online_probes=kind == "amdim+probes")
    x, y = torch.rand(batch, 3, 32, 32), torch.randint(0, 10, (batch,))

    def step() -> None:
        m.zero_grad(set_to_none=True)
        if kind == "encoder":
            feats = m.encoder(torch.cat([x, x]))
            sum(v.sum() for v in feats.values()).backward()
        else:
            out = m((x, y))
            loss = out["loss"] + out.get("loss/probe", 0.0)
            loss.backward()

    times = []
    for i in range(reps + 2):
        t = time.perf_counter()
        step()
        if i >= 2:
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "step_s": med, "images_per_s": batch / med, "peak_rss_mib": rss_mib}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ndf", type=int, default=32)
    ap.add_argument("--n-rkhs", type=int, default=256)
    ap.add_argument("--n-mix", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(_measure(a.one, a.batch, a.reps, a.threads, a.ndf, a.n_rkhs, a.n_mix)))
        return
    rows = []
    for kind in ("encoder", "amdim", "amdim+probes"):
        cmd = [sys.executable, __file__, "--one", kind, "--batch", str(a.batch), "--reps", str(a.reps),
               "--threads", str(a.threads), "--ndf", str(a.ndf), "--n-rkhs", str(a.n_rkhs),
               "--n-mix", str(a.n_mix)]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    base = rows[0]["step_s"]
    lines = [
        f"batch {a.batch} (x2 views), ndf {a.ndf}, n_rkhs {a.n_rkhs}, n_mix {a.n_mix}, {a.threads} threads",
        "",
        "| step | median s | vs encoder | images/s | peak RSS MiB |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['step_s']:.3f} | {100 * (r['step_s'] / base - 1):+.0f}% | "
                     f"{r['images_per_s']:.0f} | {r['peak_rss_mib']:.0f} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
