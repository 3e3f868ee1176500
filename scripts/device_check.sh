#!/usr/bin/env bash
# Every GPU measurement in one command, for a fresh clone on one H100 or H200 (about 9 minutes):
#
#   OUT=/path/to/folder scripts/device_check.sh          # on the GPU
#   OUT=/tmp/x scripts/device_check.sh --tiny            # the same code on the CPU, tiny sizes
#
# In order, each part under its own time limit (seconds; override with the variables):
#   upscale_4k  (UPSCALE_LIMIT=210)  python -m patchvsr upscale, 33 frames 960x540 -> 3840x2160,
#               the 1.3B configuration with random weights, training-free defaults, shifted
#               grid; fp32 and bf16 VAE: seconds end to end, split by part, peak memory
#   train_wan   (TRAIN_WAN_LIMIT=210) the 1.3B training step at 512x512x33, random weights:
#               s/step, peak memory, MFU, a 50-step overfit (scripts/train_wan_gpu.py)
#   train_mini  (the rest of TOTAL=540) mini's training (MINI_CONFIG, default configs/mini.toml)
#               for the time that remains (scripts/train_mini_gpu.sh)
# Writes $OUT/device_check.json (one section per part; a part that failed or ran out of time
# says so) and $OUT/PART.log. Nothing is downloaded: random weights are built, the media are
# packed (or taken from assets/examples). PYTHON names the interpreter (default: `python`, the
# one of the active environment).
set -uo pipefail
: "${OUT:?set OUT to the folder for device_check.json}"
cd "$(dirname "$0")/.."
OUT="$(mkdir -p "$OUT" && cd "$OUT" && pwd)"
export OUT PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PATCHVSR_CACHE="$OUT/cache"
PY="${PYTHON:-python}"
export PYTHON="$PY"  # the scripts this one calls start the same interpreter

tiny=()
[[ "${1:-}" == "--tiny" ]] && tiny=(--tiny)
total=${TOTAL:-540}
upscale_limit=${UPSCALE_LIMIT:-210}
wan_limit=${TRAIN_WAN_LIMIT:-210}
mini_config=${MINI_CONFIG:-configs/mini.toml}
wan_steps=(--steps 30 --overfit 50)
mini=(--device cuda)
if [[ ${#tiny[@]} -gt 0 ]]; then
  total=${TOTAL:-300} upscale_limit=${UPSCALE_LIMIT:-120} wan_limit=${TRAIN_WAN_LIMIT:-120}
  wan_steps=(--steps 3 --overfit 3)
  mini=(--device cpu --max-steps 3)
fi
start=$SECONDS

part() {  # part NAME LIMIT COMMAND...: run it under its limit, log it, keep its exit status
  local name="$1" limit="$2"
  shift 2
  echo "== $name (at most ${limit} s)"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  local status=$?
  echo "$status" >"$OUT/status-$name"
  echo "== $name: exit status $status after $((SECONDS - start)) s"
  tail -n 5 "$OUT/$name.log"
}

upscale_4k() {
  "$PY" scripts/device_check.py base --out "$OUT" ${tiny[@]+"${tiny[@]}"} &&
    "$PY" scripts/device_check.py upscale_4k --out "$OUT" ${tiny[@]+"${tiny[@]}"}
}

train_mini() {
  local budget=$1 began=$SECONDS
  "$PY" scripts/device_check.py mini_config --out "$OUT" --config "$mini_config" \
    --pack-seconds $((budget / 3)) ${tiny[@]+"${tiny[@]}"} || return
  budget=$((budget - (SECONDS - began)))  # packing came out of the training's time
  [[ $budget -lt 10 ]] && budget=10
  OUT="$OUT/train_mini" RUN_DIR="$OUT/train_mini/run" bash scripts/train_mini_gpu.sh \
    --config "$OUT/mini.toml" --time-budget "$budget" "${mini[@]}"
  local status=$?
  "$PY" scripts/device_check.py mini_report --out "$OUT"
  return $status
}

part upscale_4k "$upscale_limit" bash -c "$(declare -f upscale_4k); $(declare -p PY OUT tiny); upscale_4k"
part train_wan "$wan_limit" "$PY" scripts/train_wan_gpu.py --out "$OUT/train_wan" \
  --base "$OUT/wan-random" "${wan_steps[@]}" ${tiny[@]+"${tiny[@]}"}
left=$((total - (SECONDS - start) - 30))  # 30 s for packing up
[[ $left -lt 60 ]] && left=60
budget=$((left - 60))  # the training's own clock; the rest loads, samples and exports
[[ $budget -lt 10 ]] && budget=10
part train_mini "$left" bash -c "$(declare -f train_mini); $(declare -p PY OUT tiny mini mini_config); train_mini $budget"

"$PY" scripts/device_check.py collect --out "$OUT" >/dev/null
echo "wrote $OUT/device_check.json after $((SECONDS - start)) s"
grep -q '"exit_status": [1-9]' "$OUT/device_check.json" && exit 1
exit 0
