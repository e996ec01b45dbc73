#!/usr/bin/env bash
# diffusion-mi 0.1.0's MMG and MINDE on the Beyond-Normal samples, on a lent GPU machine without network.
#
#   PAYLOAD=.devdata/dmi OUT=$OUT bash benchmarks/gpu/diffusion_peers.sh
#
# PAYLOAD is the directory built by benchmarks/gpu/diffusion_payload.py (samples/ and site/ with the
# vendored dmi, estimators, pytorch_lightning, lightning_fabric); the machine brings torch, lightning
# (lightning_utilities, torchmetrics), numpy, scipy, scikit-learn, matplotlib. The script checks the
# imports first, then runs benchmarks/estimate/peer_diffusion_mi.py over every task of SEEDS with both
# estimators interleaved (hard tasks first), WORKERS processes on the one GPU, no task started after
# DEADLINE seconds nor any fit expected to end after DEADLINE + GRACE - 5 s (1.2 x the mean of that
# estimator's finished fits), the whole run stopped by `timeout -k` after DEADLINE + GRACE seconds (every
# finished fit is already in its csv). The csv files, the env json and the worker logs go to OUT/raw.
#
# Environment (defaults): PAYLOAD (.devdata/dmi), OUT (required), WORKERS (12), DEADLINE (420), GRACE (60),
# SEEDS (200,201,202), N (5000), ESTIMATORS (mmg,minde), MAX_STEPS (3000, the package demos'),
# ACC (auto; cpu hides the GPU: a dry run), TASKS / MAX_TASKS (a subset, for dry runs), PYTHON (python3).
set -u
payload=${PAYLOAD:-.devdata/dmi}; out=${OUT:?set OUT}; python=${PYTHON:-python3}
workers=${WORKERS:-12}; deadline=${DEADLINE:-420}; grace=${GRACE:-60}
mkdir -p "$out/raw"
export PYTHONPATH="$PWD/$payload/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg \
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONDONTWRITEBYTECODE=1
[ "${ACC:-auto}" = cpu ] || nvidia-smi -L
extra=(--accelerator "${ACC:-auto}")
[ -n "${TASKS:-}" ] && extra+=(--tasks "$TASKS")
[ -n "${MAX_TASKS:-}" ] && extra+=(--max-tasks "$MAX_TASKS")
peer=(benchmarks/estimate/peer_diffusion_mi.py --cache "$payload/samples" --n "${N:-5000}"
      --seeds "${SEEDS:-200,201,202}" --estimators "${ESTIMATORS:-mmg,minde}" --out "$out/raw")
# 1. imports (from the payload: the paths are printed), device, versions
timeout -k 10 120 $python "${peer[@]}" "${extra[@]}" --check >"$out/check.txt" 2>&1
rc=$?; head -1 "$out/check.txt"
if [ $rc -ne 0 ]; then cat "$out/check.txt"; echo "import check failed (rc=$rc): nothing run"; exit 2; fi
# 2. the run; the workers and their children share timeout's process group, so -k reaches them too
start=$(date +%s)
timeout -k 10 $(( deadline + grace )) $python "${peer[@]}" "${extra[@]}" --workers "$workers" \
  --deadline-s "$deadline" --stop-s $(( deadline + grace - 5 )) --max-steps "${MAX_STEPS:-3000}" 2>&1 | tee "$out/run.log" | grep -v '^\['
echo "peer rc=${PIPESTATUS[0]} $(( $(date +%s) - start )) s"
# 3. summary: fits per estimator and seed, mean seconds and steps, mean |estimate - truth|
$python - "$out/raw" <<'PY'
import csv, glob, os, sys
from collections import defaultdict
by = defaultdict(list)
for f in sorted(glob.glob(os.path.join(sys.argv[1], "diffusion-mi-*_n*_s*.csv"))):
    for r in csv.DictReader(open(f)):
        by[(r["estimator"], r["seed"])].append(r)
for (est, seed), rs in sorted(by.items()):
    sec = sum(float(r["seconds"]) for r in rs) / len(rs)
    steps = [int(r["steps"]) for r in rs if r["steps"]]
    mae = sum(abs(float(r["estimate"]) - float(r["truth"])) for r in rs) / len(rs)
    print(f"{est:20s} seed {seed}: {len(rs):2d} tasks, {sec:6.1f} s/task, "
          f"{sum(steps) / max(len(steps), 1):6.0f} steps/task, MAE {mae:.3f} nats  [{rs[0]['device']}]")
fail = os.path.join(sys.argv[1], "diffusion-mi_failures.csv")
if os.path.exists(fail):
    print(f"failures: {sum(1 for _ in open(fail)) - 1} (see {fail})")
PY
