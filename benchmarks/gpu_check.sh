#!/usr/bin/env bash
# One device check for a machine with a GPU (under 8 minutes on one GPU):
#   (a) the engine's tests marked `cuda` (a tiny search per method, resume equality, bf16 vs fp32
#       α gradient, fused and compiled paths equal to plain);
#   (b) s/step, s/epoch and peak memory at the paper settings for darts and darts+a2m on each fast
#       path (plain fp32; bf16+channels_last; fused; compiled; all);
#   (c) searches per hour of N concurrent tiny-paper searches, N = 1, 2, 4.
#
#   benchmarks/gpu_check.sh                      # on CUDA
#   benchmarks/gpu_check.sh --device cpu --quick # the same script on a CPU (small settings)
#
# Paste its output into benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

device=cuda
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "usage: $0 [--device cuda|cpu] [--quick]" >&2; exit 2 ;;
  esac
done
if [ "$device" = cuda ] && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "no CUDA device here; use --device cpu for the CPU part" >&2
  exit 1
fi
if [ "$device" = cpu ]; then
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # several processes share the cores below
fi

echo "== gpu_check on $device (quick=$quick), $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"

echo "== (a) engine tests marked cuda"
markers="cuda"
if [ "$device" = cpu ]; then
  markers="cuda and not compiled"  # a cold inductor compile on a CPU takes minutes
fi
compiled=1
[ "$device" = cpu ] && compiled=0
FLATNAS_RUN_COMPILED=$compiled FLATNAS_TEST_DEVICE="$device" "$PY" -m pytest tests/unit/test_cuda.py -m "$markers" -q -p no:cacheprovider -o timeout=900

echo "== (b) search step by fast path"
if [ "$quick" = 1 ]; then
  "$PY" benchmarks/search_step.py --device "$device" --methods darts,darts+a2m --paths plain,fused \
    --C 4 --depth 1 --batch 16 --image-size 16 --steps 2 --warmup 1
else
  "$PY" benchmarks/search_step.py --device "$device" --methods darts,darts+a2m \
    --paths plain,bf16cl,fused,compiled,all --steps 20 --warmup 3
fi

echo "== (c) concurrent searches per device"
if [ "$quick" = 1 ]; then
  "$PY" benchmarks/concurrent_searches.py --device "$device" --n 1,2 --steps 4 --quick
else
  "$PY" benchmarks/concurrent_searches.py --device "$device" --n 1,2,4 --steps 40
fi
echo "== gpu_check done"
