#!/usr/bin/env bash
# The CUDA benchmark in one command, for a fresh GPU machine (Python with a CUDA torch and
# diffusers installed). Writes bench_gpu.json and bench_gpu.log into $OUT; about 3 minutes on
# an H100. Random 1.3B weights are built on the GPU: nothing is downloaded.
#
#   OUT=/path/to/folder scripts/bench_gpu.sh            # the 4K and 1080p runs
#   OUT=/tmp/x scripts/bench_gpu.sh --tiny              # the same code on the CPU, tiny sizes
#
# Extra arguments go to `python -m extras.bench_gpu` (--steps, --full-frame-steps, ...).
set -euo pipefail
: "${OUT:?set OUT to the folder for bench_gpu.json and bench_gpu.log}"
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
"${PYTHON:-python}" -m extras.bench_gpu --out "$OUT" "$@" 2>&1 | tee "$OUT/bench_gpu.log"
