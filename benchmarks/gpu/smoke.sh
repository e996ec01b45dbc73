#!/usr/bin/env bash
# The CUDA path, checked on a lent GPU machine, and first GPU figures.
#
#   INFOMAX_DATA=<data root> bash benchmarks/gpu/smoke.sh OUT_DIR [MINUTES] [PRESETS...]
#
# 1. the GPU-marked tests (`pytest -m gpu`: views on the GPU, the GPU-sized presets; GPU_TESTS=views for
#    the fast ones only, GPU_TESTS=none to skip);
# 2. each preset trained with `infomax train PRESET --set accelerator=$ACC --max-minutes MINUTES` with
#    every default on (baselines, final probes, report); its metrics JSON and stderr go to OUT_DIR;
# 3. `infomax eval RUN --protocol fewshot --json` on the runs that have few-shot episodes (Omniglot).
# Each step has its own timeout and a failure does not stop the next one. ACC defaults to gpu
# (ACC=cpu gives a dry run of the script itself on a machine without one).
set -u
out=${1:?usage: smoke.sh OUT_DIR [MINUTES] [PRESETS...]}; mins=${2:-0.5}; shift $(( $# > 1 ? 2 : 1 ))
presets=("$@"); [ ${#presets[@]} -eq 0 ] && presets=(dim-l amdim dimco-omniglot)
acc=${ACC:-gpu}
runs=${RUNS:-/tmp/infomax-gpu-runs}
mkdir -p "$out" "$runs"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 MPLBACKEND=Agg
python=${PYTHON:-python3}
[ "$acc" = cpu ] || nvidia-smi -L
$python -c "import torch, lightning, PIL; print('torch', torch.__version__, '| lightning', lightning.__version__,
'| pillow', PIL.__version__, '| cuda', torch.cuda.is_available() and torch.cuda.get_device_name())"
# the GPU-sized presets' conformance cases run every protocol single-threaded: minutes; GPU_TESTS=views
# keeps to the fast GPU tests. Training catches SIGTERM (it checkpoints first), hence timeout -k.
if [ "$acc" != cpu ] && [ "${GPU_TESTS:-all}" != none ]; then
  tests=(tests/data/test_views.py); [ "${GPU_TESTS:-all}" = all ] && tests+=(tests/conformance/test_presets.py)
  timeout -k 10 300 $python -m pytest -q -m gpu -p no:cacheprovider "${tests[@]}" 2>&1 | tail -15
  echo "pytest -m gpu rc=${PIPESTATUS[0]}"
fi
for p in "${presets[@]}"; do
  start=$(date +%s)
  timeout -k 10 $(( ${mins%.*} * 90 + 150 )) $python -m infomax train "$p" --set accelerator="$acc" \
    --max-minutes "$mins" --no-progress --json --out "$runs/$p" >"$out/$p.json" 2>"$out/$p.err"
  echo "train $p rc=$? $(( $(date +%s) - start )) s"; tail -4 "$out/$p.err"
  if [[ $p == *omniglot* ]]; then
    timeout -k 10 300 $python -m infomax eval "$runs/$p" --protocol fewshot --json >>"$out/$p.json" 2>>"$out/$p.err"
    echo "eval $p rc=$?"
  fi
  $python - "$out/$p.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        flat, todo = {}, [("", json.loads(line))]
        while todo:
            pre, d = todo.pop()
            for k, v in d.items():
                if isinstance(v, dict):
                    todo.append((pre + k + ".", v))
                elif isinstance(v, (int, float)):
                    flat[pre + k] = round(v, 4)
        print(flat)
PY
done
