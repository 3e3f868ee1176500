"""The prepared CUDA benchmark (`scripts/bench_gpu.sh`): one run, one JSON, a few minutes.

    python -m extras.bench_gpu --out DIR [--steps 2] [--full-frame-steps 1] [--tiny]

1. The 1.3B configuration (random weights, bf16, built on the GPU) at 3840x2160, 33 frames:
   patch-wise steps on the paper's grid and one full-frame step of the same model; seconds
   per step, peak memory, model FLOP utilisation.
2. One 1920x1080, 33-frame, one-step upscale through the whole `PatchVSRPipeline` with a
   random Wan VAE of the real configuration: where the time goes, VAE included.
3. A full 4K upscale's time, extrapolated from the two (stated as such).

`--tiny` runs the same code on the CPU with the tiny configuration and small sizes, as a check
that the script works before a GPU is spent on it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

from extras.bench_cuda import cuda_benchmark
from patchvsr.bench.breakdown import MODEL_PARTS, time_breakdown
from patchvsr.pipeline.builders import build_wan_1_3b
from patchvsr.pipeline.scheduling import steps_run

# How `patchvsr.runtime` runs the 1.3B model with an adapter by default: 8 steps, strength 0.6
# (int(8 x 0.6) = 4 run, as diffusers counts them).
DEFAULT_STEPS, DEFAULT_STRENGTH = 8, 0.6
FULL_4K, HD, FRAMES = (2160, 3840), (1080, 1920), 33
TINY_FULL, TINY_HD, TINY_FRAMES = (64, 96), (32, 64), 5


def environment(device: str) -> dict:
    import diffusers

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor(),
    }
    if device == "cuda":
        env["cuda"] = torch.version.cuda
        env["gpu_memory_bytes"] = torch.cuda.get_device_properties(0).total_memory
    return env


def pipeline_run(device: str, dtype: torch.dtype, out_hw, frames: int, small: bool) -> dict:
    """One one-step upscale through the whole pipeline, timed by parts (after a warm-up)."""
    pipe = build_wan_1_3b(device, dtype, with_vae=True, small=small)
    time_breakdown(pipe, (out_hw[0] // 4, out_hw[1] // 4), 1, 1)  # warm-up, smaller
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    result = time_breakdown(pipe, out_hw, frames, 1)
    result["peak_bytes"] = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return result


def extrapolate(steps: dict, hd: dict, full_hw, hd_hw) -> dict:
    """A full 4K upscale: the measured seconds per step times the steps a default run takes,
    plus everything outside the transformer measured at 1080p, scaled by the pixel count."""
    run_steps = max(1, steps_run(DEFAULT_STEPS, DEFAULT_STRENGTH))
    per_step = steps["patch-wise"]["seconds_per_step"]
    parts = hd["parts"]
    outside = hd["seconds"] - parts["transformer"] - parts["global branch"]
    pixels = (full_hw[0] * full_hw[1]) / (hd_hw[0] * hd_hw[1])
    return {
        "steps": run_steps,
        "denoising_seconds": run_steps * per_step,
        "outside_transformer_seconds": outside * pixels,
        "seconds": run_steps * per_step + outside * pixels,
        "how": f"{run_steps} steps x measured 4K step + 1080p non-transformer time x {pixels:g}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m extras.bench_gpu", description=__doc__)
    parser.add_argument("--out", required=True, help="folder for bench_gpu.json")
    parser.add_argument("--steps", type=int, default=2, help="timed patch-wise steps at 4K")
    parser.add_argument("--full-frame-steps", type=int, default=1, help="timed full-frame steps")
    parser.add_argument("--skip-pipeline", action="store_true", help="no 1080p pipeline run")
    parser.add_argument("--tiny", action="store_true", help="tiny configuration on the CPU")
    args = parser.parse_args(argv)

    device = "cpu" if args.tiny else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA GPU (use --tiny for a CPU dry run)", file=sys.stderr)
        return 2
    dtype = torch.float32 if args.tiny else torch.bfloat16
    full_hw, hd_hw, frames = (
        (TINY_FULL, TINY_HD, TINY_FRAMES) if args.tiny else (FULL_4K, HD, FRAMES)
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 VAE on the tensor cores
    torch.backends.cudnn.allow_tf32 = True

    started = time.perf_counter()
    report = {"environment": environment(device), "tiny": args.tiny}
    report["steps_4k"] = cuda_benchmark(
        full_hw, frames, args.steps, args.full_frame_steps, small=args.tiny, device=device
    )
    _write(out, report)
    if not args.skip_pipeline:
        print(f"pipeline: {hd_hw[1]}x{hd_hw[0]}x{frames}, one step, VAE included ...", flush=True)
        report["pipeline_1080p"] = pipeline_run(device, dtype, hd_hw, frames, args.tiny)
        report["extrapolated_4k_upscale"] = extrapolate(
            report["steps_4k"], report["pipeline_1080p"], full_hw, hd_hw
        )
    report["wall_seconds"] = time.perf_counter() - started
    _write(out, report)
    print(summary(report))
    return 0


def _write(out: Path, report: dict) -> None:
    (out / "bench_gpu.json").write_text(json.dumps(report, indent=2) + "\n")


def summary(report: dict) -> str:
    from patchvsr.bench.report import format_breakdown, format_cuda

    steps = dict(report["steps_4k"])
    if "extrapolated_4k_upscale" in report:
        steps["extrapolated_4k_upscale"] = report["extrapolated_4k_upscale"]
    lines = [format_cuda(steps)]
    if "pipeline_1080p" in report:
        lines.append(format_breakdown(report["pipeline_1080p"], MODEL_PARTS))
    return "\n\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
