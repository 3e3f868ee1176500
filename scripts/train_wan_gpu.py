"""The 1.3B training recipe measured on one CUDA GPU, with random weights (nothing downloaded).

    python scripts/train_wan_gpu.py --out DIR [--steps 30] [--overfit 50] [--base DIR] [--tiny]

1. Writes a random Wan2.1-T2V-1.3B base in the hub's layout (the real transformer and VAE
   configurations) and a cached prompt embedding, so `configs/wan2.1-1.3b.toml` runs as is
   (`--base`: one written before, by `scripts/device_check.py base`, is used as it is).
2. Trains `--steps` steps through the real command (`python -m patchvsr train`, bf16,
   gradient checkpointing, 512x512x33 patches) and reads seconds per step and peak memory
   from its log.
3. Overfits one fixed batch for `--overfit` steps: the full-size backward learns.
4. Writes DIR/train_wan_gpu.json: s/step, peak GiB, patches/s, model FLOPs per step, MFU.

`--tiny` runs the same code on the CPU with the tiny configuration (configs/tiny-wan.toml's
sizes), as a check that the script works before a GPU is spent on it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402
from device_check import train_log_numbers, write_random_base  # noqa: E402

from extras.bench_cuda import bf16_peak  # noqa: E402


def config_for(base: Path, out: Path, tiny: bool) -> Path:
    template = "tiny-wan.toml" if tiny else "wan2.1-1.3b.toml"
    text = (ROOT / "configs" / template).read_text()
    text = re.sub(r'base = "[^"]*"', f'base = "{base}"', text)
    # the pace of the last steps logged, after warm-up (each step of a few in --tiny)
    text = re.sub(r"log_every = \d+", f"log_every = {1 if tiny else 10}", text)
    text = re.sub(r"holdout = \[.*\]", "holdout = []", text)
    text = re.sub(r"sources = \[.*\]", f'sources = ["{ROOT}/assets/examples"]', text)
    path = out / "wan-random.toml"
    path.write_text(text)
    return path


def overfit(config: Path, steps: int, device: str) -> dict:
    from patchvsr.train import data_settings, load_config
    from patchvsr.train.data import make_batch
    from patchvsr.train.loop import make_optimizer
    from patchvsr.train.media import load_sources
    from patchvsr.train.model import build_pipeline, set_train_mode, trainable_parameters
    from patchvsr.train.step import flow_loss

    cfg = load_config(config)
    pipe = build_pipeline(cfg.model, 0, device).to(device)
    params = trainable_parameters(pipe, cfg.model.trainable)
    set_train_mode(pipe, True, True)
    optimizer = make_optimizer(cfg, params)
    batch = make_batch(load_sources(cfg.data.sources), data_settings(cfg), 0, 0).to(device)
    flops = None
    losses = []
    for step in range(steps):
        with torch.autocast(device, torch.bfloat16, enabled=device == "cuda"):
            if step == 0:  # model FLOPs: the forward once, counted; a step is 3x (fwd + bwd)
                from torch.utils.flop_counter import FlopCounterMode

                with torch.no_grad(), FlopCounterMode(display=False) as counter:
                    flow_loss(pipe, batch, cfg.optim)
                flops = 3 * counter.get_total_flops()
            loss = flow_loss(pipe, batch, cfg.optim)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss))
    return {"overfit_losses": losses, "model_flops_per_step": flops, "patches": len(batch.boxes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--overfit", type=int, default=50)
    parser.add_argument("--base", help="a random base written before (default: write one)")
    parser.add_argument("--tiny", action="store_true", help="tiny configuration on the CPU")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PATCHVSR_CACHE", str(out / "cache"))
    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU (use --tiny for a CPU dry run)", file=sys.stderr)
        raise SystemExit(2)
    t0 = time.time()
    base = write_random_base(Path(args.base) if args.base else out / "wan-random", args.tiny)
    print(f"random base ready in {time.time() - t0:.0f} s", flush=True)
    config = config_for(base, out, args.tiny)
    run = out / "run"
    command = [sys.executable, "-m", "patchvsr", "train", str(config), "--device", device]
    command += ["--out", str(run), "--max-steps", str(args.steps), "--no-export"]
    subprocess.run(command, check=True, cwd=ROOT)
    numbers = train_log_numbers((run / "train.log").read_text())
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    result = {"gpu": name, "s_per_step": numbers.get("s_per_step")}
    result["peak_gib"] = numbers.get("peak_gib")
    result |= overfit(config, args.overfit, device)
    if result["s_per_step"]:
        result["patches_per_s"] = result["patches"] / result["s_per_step"]
        peak = bf16_peak(name)
        if peak and result["model_flops_per_step"]:
            achieved = result["model_flops_per_step"] / result["s_per_step"]
            result["mfu"] = achieved / peak
    (out / "train_wan_gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "overfit_losses"}, indent=2))
    print("overfit loss: first", result["overfit_losses"][0], "last", result["overfit_losses"][-1])


if __name__ == "__main__":
    main()
