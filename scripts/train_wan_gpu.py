"""The 1.3B training recipe measured on one CUDA GPU, with random weights (nothing downloaded).

    python scripts/train_wan_gpu.py --out DIR [--steps 30] [--overfit 50]

1. Writes a random Wan2.1-T2V-1.3B base in the hub's layout (the real transformer and VAE
   configurations) and a cached prompt embedding, so `configs/wan2.1-1.3b.toml` runs as is.
2. Trains `--steps` steps through the real command (`python -m patchvsr train`, bf16,
   gradient checkpointing, 512x512x33 patches) and reads seconds per step and peak memory
   from its log.
3. Overfits one fixed batch for `--overfit` steps: the full-size backward learns.
4. Writes DIR/train_wan_gpu.json: s/step, peak GiB, tokens/s, model FLOPs per step, MFU.
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

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense tensor-core FLOP/s


def write_random_base(folder: Path) -> None:
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from patchvsr.bench.models import WAN_T2V_1_3B, WAN_TEXT_TOKENS
    from patchvsr.pipeline.hub import prompt_cache_path
    from patchvsr.train.tiny_wan import MODEL_INDEX

    torch.manual_seed(0)
    with torch.device("cuda"):
        WanTransformer3DModel(**WAN_T2V_1_3B).save_pretrained(folder / "transformer")
        AutoencoderKLWan().save_pretrained(folder / "vae")
    index = {k: v for k, v in MODEL_INDEX.items() if k not in ("text_encoder", "tokenizer")}
    (folder / "model_index.json").write_text(json.dumps(index))
    embeds = torch.randn(1, WAN_TEXT_TOKENS, 4096) * 0.1
    cache = prompt_cache_path(folder)
    cache.parent.mkdir(parents=True, exist_ok=True)
    save_file({"prompt_embeds": embeds}, cache)


def config_for(base: Path, out: Path) -> Path:
    text = (ROOT / "configs" / "wan2.1-1.3b.toml").read_text()
    text = text.replace('base = "wan2.1-1.3b"', f'base = "{base}"')
    text = re.sub(r"holdout = \[.*\]", "holdout = []", text)
    text = re.sub(r"sources = \[.*\]", f'sources = ["{ROOT}/assets/examples"]', text)
    path = out / "wan-random.toml"
    path.write_text(text)
    return path


def overfit(config: Path, steps: int) -> dict:
    from patchvsr.train import data_settings, load_config
    from patchvsr.train.data import make_batch
    from patchvsr.train.loop import make_optimizer
    from patchvsr.train.media import load_sources
    from patchvsr.train.model import build_pipeline, set_train_mode, trainable_parameters
    from patchvsr.train.step import flow_loss

    cfg = load_config(config)
    pipe = build_pipeline(cfg.model, 0, "cuda").to("cuda")
    params = trainable_parameters(pipe, cfg.model.trainable)
    set_train_mode(pipe, True, True)
    optimizer = make_optimizer(cfg, params)
    batch = make_batch(load_sources(cfg.data.sources), data_settings(cfg), 0, 0).to("cuda")
    flops = None
    losses = []
    for step in range(steps):
        with torch.autocast("cuda", torch.bfloat16):
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
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PATCHVSR_CACHE", str(out / "cache"))
    base = out / "wan-random"
    t0 = time.time()
    write_random_base(base)
    print(f"random base written in {time.time() - t0:.0f} s", flush=True)
    config = config_for(base, out)
    run = out / "run"
    command = [sys.executable, "-m", "patchvsr", "train", str(config), "--device", "cuda"]
    command += ["--out", str(run), "--max-steps", str(args.steps), "--no-export"]
    subprocess.run(command, check=True, cwd=ROOT)
    log = (run / "train.log").read_text()
    paces = [float(x) for x in re.findall(r"([\d.]+) s/step", log)]
    peak = re.search(r"peak memory ([\d.]+) GiB", log)
    result = {"gpu": torch.cuda.get_device_name(), "s_per_step": paces[-1] if paces else None}
    result["peak_gib"] = float(peak.group(1)) if peak else None
    result |= overfit(config, args.overfit)
    tokens = result["patches"] * 9 * 32 * 32  # 33 frames -> 9 latent frames of 32x32 tokens
    if result["s_per_step"]:
        result["tokens_per_s"] = tokens / result["s_per_step"]
        name = next((k for k in PEAK_BF16 if k in result["gpu"]), None)
        if name and result["model_flops_per_step"]:
            achieved = result["model_flops_per_step"] / result["s_per_step"]
            result["mfu"] = achieved / PEAK_BF16[name]
    (out / "train_wan_gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "overfit_losses"}, indent=2))
    print("overfit loss: first", result["overfit_losses"][0], "last", result["overfit_losses"][-1])


if __name__ == "__main__":
    main()
