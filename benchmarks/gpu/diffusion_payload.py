"""Pack what ``diffusion_peers.sh`` needs on a machine without network into one directory.

    python benchmarks/gpu/diffusion_payload.py --cache <cache>/bmi --n 5000 --seeds 200,201,202 \
        --site <venvs>/diffmi/lib/python3.11/site-packages --site <project venv site-packages> --out PAYLOAD

PAYLOAD/samples/n<N>/s<seed>/<task>.npz: the dumped tasks with x and y as float32 (compressed; every other
key kept as it is, the true MI in float64); PAYLOAD/site/: the pure-python packages a machine with torch and
lightning lacks, copied from the first --site that has them (``__pycache__`` left out): ``dmi`` and
``estimators`` (diffusion-mi 0.1.0), ``pytorch_lightning`` and ``lightning_fabric`` (the
``pytorch-lightning`` wheel ships both; ``lightning`` has them only as ``lightning.pytorch`` /
``lightning.fabric``), with their dist-info (licences, versions). PAYLOAD/MANIFEST.json lists the versions
and sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

PACKAGES = {  # import name -> dist-info prefix
    "dmi": "diffusion_mi-", "estimators": "diffusion_mi-",
    "pytorch_lightning": "pytorch_lightning-", "lightning_fabric": "pytorch_lightning-",
}


def _size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", default="200,201,202")
    ap.add_argument("--site", action="append", required=True, help="site-packages to copy from (in order)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    manifest: dict = {"samples": {}, "packages": {}}
    for seed in args.seeds.split(","):
        src = Path(args.cache) / f"n{args.n}" / f"s{seed}"
        dst = out / "samples" / f"n{args.n}" / f"s{seed}"
        dst.mkdir(parents=True, exist_ok=True)
        files = sorted(src.glob("*.npz"))
        for f in files:
            with np.load(f, allow_pickle=False) as z:
                arrays = {k: (z[k].astype(np.float32) if k in ("x", "y") else z[k]) for k in z.files}
            np.savez_compressed(dst / f.name, **arrays)
        manifest["samples"][seed] = len(files)
    site = out / "site"
    site.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name, dist in PACKAGES.items():
        src = next((Path(s) / name for s in args.site if (Path(s) / name).is_dir()), None)
        if src is None:
            raise SystemExit(f"diffusion_payload: {name} not found in {args.site}")
        shutil.rmtree(site / name, ignore_errors=True)
        shutil.copytree(src, site / name, ignore=ignore)
        info = sorted(src.parent.glob(f"{dist}*.dist-info"))
        for d in info:
            shutil.rmtree(site / d.name, ignore_errors=True)
            shutil.copytree(d, site / d.name, ignore=ignore)
        manifest["packages"][name] = {"from": str(src), "dist_info": [d.name for d in info],
                                      "bytes": _size(site / name)}
    manifest["bytes"] = _size(out)
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main()
