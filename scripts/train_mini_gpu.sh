#!/usr/bin/env bash
# Train PatchVSR-mini on one GPU for a fixed wall-clock budget, then export it.
#
#   bash scripts/train_mini_gpu.sh [--time-budget SECONDS] [--device cuda|cpu|auto]
#                                  [--config configs/mini.toml] [--max-steps N]
#
# Needs: torch (CUDA), diffusers, peft, accelerate, matplotlib, Pillow, numpy; no network and no
# PyAV (the media come from the pack written by scripts/pack_training_data.py). PYTHON picks
# the interpreter (default: `python`, the active environment's).
# Reads   the media the config names (configs/mini.toml: .devcache/train_media.npz and
#         .devcache/holdout.npz; scripts/device_check.sh writes a config with media it packs)
# Writes  $OUT/patchvsr-mini/ (OUT defaults to .devcache/gpu-out), five files:
#           pipeline.tar     the EMA weights as a pipeline folder: tar -xf pipeline.tar
#                            gives patchvsr-mini/, usable as `upscale --model patchvsr-mini`
#           checkpoint.tar   weights and run state (step, loss history), to continue training
#                            elsewhere with `train --resume` (EMA and optimizer moments are
#                            left out to keep every file under 16 MB; they restart)
#           loss.png, samples.png, train.log
set -euo pipefail
cd "$(dirname "$0")/.."

budget=300
device=cuda
config=configs/mini.toml
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --time-budget) budget="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --config) config="$2"; shift 2 ;;
    --max-steps) extra+=(--max-steps "$2"); shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

out="${OUT:-.devcache/gpu-out}/patchvsr-mini"
run="${RUN_DIR:-.devcache/run-gpu}"  # the run folder (replaced on every call)
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
for f in $(grep -o '"\.devcache/[^"]*"' "$config" | tr -d '"'); do
  [[ -e "$f" ]] || { echo "missing $f: run python scripts/pack_training_data.py first" >&2; exit 2; }
done

"${PYTHON:-python}" - <<'EOF'
import platform, torch
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"python {platform.python_version()}, torch {torch.__version__}, {gpu}")
EOF

rm -rf "$run" "$out"
mkdir -p "$out"
status=0
"${PYTHON:-python}" -m patchvsr train "$config" --device "$device" --time-budget "$budget" --out "$run" \
  ${extra[@]+"${extra[@]}"} || status=$?

# Whatever happened, bring back what there is (the log says why a run stopped).
cp "$run/train.log" "$out/" 2>/dev/null || true
cp "$run/loss.png" "$run/samples.png" "$out/" 2>/dev/null || true
if [[ -d "$run/pipeline" ]]; then
  rm -rf "$run/patchvsr-mini" && cp -r "$run/pipeline" "$run/patchvsr-mini"
  tar -C "$run" -cf "$out/pipeline.tar" patchvsr-mini
fi
if [[ -d "$run/checkpoint" ]]; then
  tar -C "$run" -cf "$out/checkpoint.tar" checkpoint/weights.safetensors \
    checkpoint/state.json config.json
fi
ls -la "$out"
exit "$status"
