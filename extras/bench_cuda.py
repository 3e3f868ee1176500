"""The real 1.3B configuration on a CUDA GPU: seconds per step at 4K, memory, utilisation.

Random weights built directly on the GPU in bf16 (timing does not depend on the weights'
values). The denoising steps are the pipeline's own (`encode_global` once per step, then
fused over the paper's grid on the latent canvas, one scheduler step: `denoise_step`) on random
latents of the clip's size, so no VAE work is mixed into the step time. Model FLOP utilisation
is the counted forward FLOPs of a step (`flops.StepCounter`, the same plan) over the measured
step time and the GPU's dense bf16 peak.
"""

from __future__ import annotations

import torch

from patchvsr.bench.flops import StepCounter, global_latent_shape, latent_shape, scheme_plan
from patchvsr.bench.timing import clock
from patchvsr.pipeline.builders import build_wan_1_3b
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.pipeline.window import Window

# Dense bf16 peaks from the vendors' datasheets (FLOP/s), by a substring of the device name;
# the first match wins, so the PCIe part comes before the plain name.
BF16_PEAK = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
)


def bf16_peak(name: str) -> float | None:
    return next((peak for key, peak in BF16_PEAK if key in name), None)


def denoise_steps(
    pipe: PatchVSRPipeline,
    out_hw: tuple[int, int],
    frames: int,
    steps: int,
    scheme: str = "paper",
    batch_size: int | None = None,
) -> dict:
    """Run `steps` denoising steps on random latents of an out_hw x frames clip; seconds of
    each step and the peak GPU memory."""
    device, dtype = pipe.device, pipe.transformer.dtype
    plan = scheme_plan(pipe, out_hw, scheme)
    gen = torch.Generator(device).manual_seed(0)

    def randn(shape: tuple) -> torch.Tensor:
        return torch.randn((1, *shape), generator=gen, device=device, dtype=dtype)

    latents = randn(latent_shape(pipe, plan.height, plan.width, frames))
    pipe.scheduler.set_timesteps(steps, device=device)
    window = Window(
        num_frames=frames,
        out_hw=out_hw,
        scale=4.0,
        plan=plan,
        layouts=pipe.step_layouts(plan),
        upscaled=latents.new_empty(0),  # decoding is not timed
        base=latents,
        cond=randn(latents.shape[1:]),
        glob=randn(global_latent_shape(pipe, out_hw, frames)),
        latents=latents,
        timesteps=pipe.scheduler.timesteps,
        residual=False,
        batch_size=batch_size or pipe.auto_batch_size(plan),
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    with torch.no_grad():
        for i, t in enumerate(window.timesteps):
            start = clock(device)
            window.latents = pipe.denoise_step(window, t, i)
            seconds.append(clock(device) - start)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {
        "evaluations_per_step": plan.evaluations_per_step,
        "batch_size": window.batch_size,
        "step_seconds": seconds,
        "peak_bytes": peak,
    }


def cuda_benchmark(
    out_hw: tuple[int, int] = (2160, 3840),
    frames: int = 33,
    steps: int = 2,
    full_frame_steps: int = 1,
    small: bool = False,
    device: str = "cuda",
    log=print,
) -> dict:
    """Patch-wise steps (after one warm-up step) and, for comparison, full-frame steps of the
    same model at the same size. `small` runs the tiny configuration (a CPU dry run)."""
    dtype = torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    log(f"cuda: building the {'tiny' if small else '1.3B'} configuration on {device} ...")
    pipe = build_wan_1_3b(device, dtype, with_vae=False, small=small)
    counter = StepCounter(build_wan_1_3b("meta", dtype, with_vae=False, small=small))
    name = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else "cpu"
    peak = bf16_peak(name)

    result = {
        "device": name,
        "model": "tiny configuration" if small else "1.3B configuration, random weights",
        "dtype": str(dtype).removeprefix("torch."),
        "size": list(out_hw),
        "frames": frames,
    }
    for mode, scheme, n in (
        ("patch-wise", "paper", steps),
        ("full-frame", "full-frame", full_frame_steps),
    ):
        if n < 1:
            continue
        log(f"cuda: {mode} {out_hw[1]}x{out_hw[0]}x{frames}, {n} step(s) ...")
        if mode == "patch-wise":
            denoise_steps(pipe, out_hw, frames, 1, scheme)  # warm-up: kernels, allocator
        run = denoise_steps(pipe, out_hw, frames, n, scheme)
        flops = counter.step(out_hw, frames, scheme)["flops"]
        per_step = min(run["step_seconds"])
        run.update(
            seconds_per_step=per_step,
            flops_per_step=flops,
            tflops_per_second=flops / per_step / 1e12,
            mfu=flops / per_step / peak if peak else None,
        )
        result[mode] = run
    if "full-frame" in result and "patch-wise" in result:
        result["speedup"] = (
            result["full-frame"]["seconds_per_step"] / result["patch-wise"]["seconds_per_step"]
        )
    result["bf16_peak_flops"] = peak
    return result
