#!/usr/bin/env bash
# The 1.3B training recipe on one CUDA GPU, random weights, nothing downloaded: seconds per
# step, peak memory, tokens/s and MFU at 512x512x33 in bf16 with gradient checkpointing, then
# 50 steps on one fixed batch (the full-size backward learns). About 6 minutes on an H100.
#
#   OUT=/path/to/folder scripts/train_wan_gpu.sh [--steps 30] [--overfit 50]
#
# Writes $OUT/train_wan_gpu.json and $OUT/train_wan_gpu.log (and the run folder $OUT/run).
# The whole run is under a time limit (LIMIT seconds, default 480).
set -euo pipefail
: "${OUT:?set OUT to the folder for train_wan_gpu.json}"
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
timeout "${LIMIT:-480}" "${PYTHON:-python}" scripts/train_wan_gpu.py --out "$OUT" "$@" 2>&1 \
  | tee "$OUT/train_wan_gpu.log"
