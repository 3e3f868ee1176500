"""The parts of `scripts/device_check.sh`, one per call, each writing its own JSON.

    python scripts/device_check.py base --out DIR [--tiny]
    python scripts/device_check.py upscale_4k --out DIR [--tiny]
    python scripts/device_check.py mini_config --out DIR --config CONFIG [--tiny]
    python scripts/device_check.py mini_report --out DIR
    python scripts/device_check.py collect --out DIR

- `base`: a random Wan2.1-T2V-1.3B in the hub's layout (the real transformer and VAE
  configurations, the hub's UniPC scheduler, no text encoder) and its cached prompt embedding,
  in DIR/wan-random; `--tiny`: the tiny configuration. Nothing is downloaded.
- `upscale_4k`: `python -m patchvsr upscale` of a 33-frame 960x540 clip to 3840x2160 with that
  base, training-free defaults and the shifted grid, once with an fp32 and once with a bf16
  VAE, each in its own process: seconds end to end (the process included), the split by part
  (load, VAE encode, denoising, VAE decode, the rest: reading, colour fix, writing), peak GPU
  memory. `--tiny`: 5 frames, 24x16 to 96x64, on the CPU.
- `mini_config`: mini's training config (CONFIG, e.g. configs/mini.toml) as DIR/mini.toml, its
  media found or built: the packs in .devcache/ when an earlier run left them, else packed now
  by scripts/pack_training_data.py, else the clips in assets/examples (`--tiny`: those).
- `mini_report`: DIR/train_mini/train_mini.json from the run's train.log: steps, s/step, loss,
  peak memory, held-out PSNR.
- `collect`: DIR/device_check.json from the parts' files, one section each (a part that failed
  or ran out of time says so in its section).
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

import numpy as np  # noqa: E402
import torch  # noqa: E402

SECTIONS = ("upscale_4k", "train_wan", "train_mini")
CLIP = {"frames": 33, "size": (540, 960), "out": (2160, 3840)}
TINY_CLIP = {"frames": 5, "size": (16, 24), "out": (64, 96)}


def device_for(tiny: bool) -> str:
    return "cpu" if tiny else "cuda"


def write_random_base(folder: Path, tiny: bool = False) -> Path:
    """A random base in the hub's layout (bf16 transformer weights on a GPU) and the cached
    embedding of the fixed prompt, keyed as `patchvsr.pipeline.loading` looks it up; kept if there."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from safetensors.torch import save_file

    from patchvsr.models.configs import (
        TINY_TEXT_TOKENS,
        TINY_TRANSFORMER,
        TINY_VAE,
        WAN_T2V_1_3B,
        WAN_TEXT_TOKENS,
    )
    from patchvsr.pipeline.hub import prompt_cache_path
    from patchvsr.pipeline.scheduling import wan_scheduler
    from patchvsr.train.tiny_wan import MODEL_INDEX

    if not (folder / "model_index.json").exists():
        torch.manual_seed(0)
        config = TINY_TRANSFORMER if tiny else WAN_T2V_1_3B
        dtype = torch.float32 if tiny else torch.bfloat16
        with torch.device(device_for(tiny)):
            WanTransformer3DModel(**config).to(dtype).save_pretrained(folder / "transformer")
            AutoencoderKLWan(**(TINY_VAE if tiny else {})).save_pretrained(folder / "vae")
        wan_scheduler().save_pretrained(folder / "scheduler")
        index = {k: v for k, v in MODEL_INDEX.items() if k not in ("text_encoder", "tokenizer")}
        (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    cache = prompt_cache_path(folder)
    if not cache.exists():
        tokens, dim = (TINY_TEXT_TOKENS, 16) if tiny else (WAN_TEXT_TOKENS, 4096)
        gen = torch.Generator().manual_seed(0)
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_file({"prompt_embeds": torch.randn(1, tokens, dim, generator=gen) * 0.1}, cache)
    return folder


def write_clip(path: Path, frames: int, height: int, width: int) -> Path:
    """A moving test pattern as an H.264 clip (PyAV): texture at every scale."""
    import av

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for f in range(frames):
            rgb = [
                np.sin((x + 4 * f) / 7.0) * np.cos(y / 11.0),
                np.cos((y - 3 * f) / 5.0),
                np.sin((x + y + 2 * f) / 17.0),
            ]
            image = np.clip(np.stack(rgb, -1) * 100 + 128, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def upscale_once(out: Path, tiny: bool, vae_dtype: str) -> dict:
    """One `python -m patchvsr upscale` in this process, timed by parts."""
    from patchvsr import cli, runtime
    from patchvsr.bench.timing import timed_calls
    from patchvsr.pipeline.codec import LatentCodec
    from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

    clip = TINY_CLIP if tiny else CLIP
    device = device_for(tiny)
    (height, width), (out_h, out_w) = clip["size"], clip["out"]
    source = out / "input.mp4"
    if not source.exists():
        write_clip(source, clip["frames"], height, width)
    argv = ["upscale", str(source), "-o", str(out / f"upscaled-{vae_dtype}.mp4")]
    argv += ["--model", str(out / "wan-random"), "--size", f"{out_w}x{out_h}"]
    argv += ["--scheme", "shifted", "--vae-dtype", vae_dtype, "--device", device, "-q"]
    targets = {
        "load": (runtime, "load_pipeline"),
        "vae encode": (LatentCodec, "encode"),
        "denoising": (PatchVSRPipeline, "denoise_step"),
        "vae decode": (LatentCodec, "decode"),
    }
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # an fp32 VAE on the tensor cores
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with timed_calls(targets, device) as timings:
        status = cli.main(argv)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"upscale exited with {status}")
    parts = dict(timings.seconds)
    parts["rest (read, colour fix, write)"] = seconds - sum(parts.values())
    return {
        "command": "python -m patchvsr " + " ".join(argv),
        "in_process_seconds": seconds,
        "parts_seconds": parts,
        "denoising_steps": timings.calls["denoising"],
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None,
    }


def upscale_4k(out: Path, tiny: bool) -> dict:
    """Both VAE precisions, each in its own process (end to end includes the start-up)."""
    clip = TINY_CLIP if tiny else CLIP
    result = {"clip": clip, "device": device_name(tiny), "model": model_name(tiny), "runs": {}}
    for vae_dtype in ("fp32", "bf16"):
        report = out / f"upscale-{vae_dtype}.json"
        command = [sys.executable, __file__, "upscale_once", "--out", str(out)]
        command += ["--vae-dtype", vae_dtype] + (["--tiny"] if tiny else [])
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT)
        run = json.loads(report.read_text())
        run["end_to_end_seconds"] = time.perf_counter() - start
        result["runs"][vae_dtype] = run
        write_json(out / "upscale_4k.json", result)  # what there is, if the next run times out
    return result


def device_name(tiny: bool) -> str:
    return "cpu" if tiny else torch.cuda.get_device_name()


def model_name(tiny: bool) -> str:
    return "tiny configuration" if tiny else "Wan2.1-T2V-1.3B configuration, random weights"


def mini_config(out: Path, config: Path, tiny: bool, pack_seconds: int = 240) -> Path:
    """CONFIG with its .devcache media replaced by what this machine has (see the docstring);
    packing gets at most `pack_seconds` of the training's time (none below 30)."""
    media, holdout = ROOT / ".devcache" / "train_media.npz", ROOT / ".devcache" / "holdout.npz"
    if not (media.exists() and holdout.exists()):
        packed = out / "media"
        command = [sys.executable, str(ROOT / "scripts" / "pack_training_data.py")]
        command += ["--out", str(packed / "train_media.npz")]
        command += ["--holdout", str(packed / "holdout.npz")]
        built = False
        if not tiny and pack_seconds >= 30:
            try:
                built = subprocess.run(command, cwd=ROOT, timeout=pack_seconds).returncode == 0
            except subprocess.TimeoutExpired:
                built = False
        if built:
            media, holdout = packed / "train_media.npz", packed / "holdout.npz"
        else:
            media, holdout = ROOT / "assets" / "examples", None
    text = config.read_text()
    text = re.sub(r"sources = \[[^\]]*\]", f"sources = [{json.dumps(str(media))}]", text)
    held = f"[{json.dumps(str(holdout))}]" if holdout else "[]"
    text = re.sub(r"holdout = \[[^\]]*\]", f"holdout = {held}", text)
    if tiny:  # a few steps: log each
        text = re.sub(r"log_every = \d+", "log_every = 1", text)
    path = out / "mini.toml"
    path.write_text(text)
    print(f"mini's config {config} with media {media} (held out: {holdout}) -> {path}")
    return path


def train_log_numbers(log: str) -> dict:
    """Steps, pace, last loss, peak memory and held-out scores from a `patchvsr train` log."""
    numbers: dict = {}
    if found := re.findall(r"trained (\d+) steps in (\d+) s", log):
        numbers["steps"], numbers["train_seconds"] = map(int, found[-1])
    if found := re.findall(r"loss ([\d.]+) .*?\s([\d.]+) s/step", log):
        numbers["last_loss"], numbers["s_per_step"] = map(float, found[-1])
    if found := re.findall(r"peak memory ([\d.]+) GiB", log):
        numbers["peak_gib"] = float(found[-1])
    scores = re.findall(r"sample (\S+): bicubic ([\d.]+) dB, model ([\d.]+) dB", log)
    if scores:
        numbers["holdout_y_psnr"] = {
            name: {"bicubic": float(b), "model": float(m)} for name, b, m in scores[-4:]
        }
    return numbers


def mini_report(out: Path) -> dict:
    log_path = out / "train_mini" / "patchvsr-mini" / "train.log"
    log = log_path.read_text() if log_path.exists() else ""
    report = {"config": os.environ.get("MINI_CONFIG", "configs/mini.toml")}
    report |= train_log_numbers(log)
    write_json(out / "train_mini" / "train_mini.json", report)
    return report


def collect(out: Path) -> dict:
    """One section per part: its JSON, or what stopped it (from DIR/status-PART)."""
    report: dict = {}
    files = {
        "upscale_4k": "upscale_4k.json",
        "train_wan": "train_wan/train_wan_gpu.json",
        "train_mini": "train_mini/train_mini.json",
    }
    for section in SECTIONS:
        status_file = out / f"status-{section}"
        status = int(status_file.read_text()) if status_file.exists() else None
        path = out / files[section]
        entry = json.loads(path.read_text()) if path.exists() else {}
        entry["exit_status"] = status
        if status == 124:
            entry["stopped"] = "ran out of its time"
        elif status not in (0, None):
            entry["stopped"] = f"failed (exit status {status}); see {section}.log"
        report[section] = entry
    write_json(out / "device_check.json", report)
    return report


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parts = ["base", "upscale_4k", "upscale_once", "mini_config", "mini_report", "collect"]
    parser.add_argument("part", choices=parts)
    parser.add_argument("--config", default="configs/mini.toml", help="mini_config: CONFIG")
    parser.add_argument("--pack-seconds", type=int, default=240, help="mini_config: packing")
    parser.add_argument("--out", required=True)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on the CPU")
    parser.add_argument("--vae-dtype", default="fp32", help="upscale_once: the VAE's precision")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PATCHVSR_CACHE", str(out / "cache"))
    needs_gpu = args.part in ("base", "upscale_4k", "upscale_once")
    if needs_gpu and not args.tiny and not torch.cuda.is_available():
        print("error: no CUDA GPU (use --tiny for a CPU dry run)", file=sys.stderr)
        return 2
    if args.part == "base":
        write_random_base(out / "wan-random", args.tiny)
    elif args.part == "upscale_once":
        write_json(
            out / f"upscale-{args.vae_dtype}.json", upscale_once(out, args.tiny, args.vae_dtype)
        )
    elif args.part == "upscale_4k":
        print(json.dumps(upscale_4k(out, args.tiny), indent=2, default=str))
    elif args.part == "mini_config":
        mini_config(out, ROOT / args.config, args.tiny, args.pack_seconds)
    elif args.part == "mini_report":
        print(json.dumps(mini_report(out), indent=2))
    else:
        print(json.dumps(collect(out), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
