"""Rough memory budgets: refuse a job that cannot fit before it starts, size patch batches.

The estimates are deliberately simple (activations of one transformer block per token, the
latent canvas, the decoded window) and err on the generous side: their job is to turn an
out-of-memory crash an hour into a job into a one-line refusal at the start.
"""

from __future__ import annotations

import math

import torch

from patchvsr.errors import PatchVSRError
from patchvsr.method.grid import PatchPlan, counted_steps


def available_bytes(device: torch.device | str) -> int:
    """Free memory on `device`: the CUDA allocator's free memory, on MPS what Metal
    recommends for this process less what it holds, or MemAvailable on Linux."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 1024**3


def _tokens(pipe, height: int, width: int, frames: int) -> int:
    codec = pipe.codec
    p_t, p_h, p_w = pipe.transformer.config.patch_size
    f = codec.latent_frames(frames) // p_t
    return f * math.ceil(height / codec.spatial / p_h) * math.ceil(width / codec.spatial / p_w)


def patch_activation_bytes(pipe, plan: PatchPlan, frames: int) -> int:
    """Peak activation bytes of one patch through one block (inference keeps one block's).
    Sized by the largest patch of any step: a shifted grid's steps differ in patch sizes."""
    patches = (p for step in counted_steps(plan) for p in step.patches)
    largest = max(patches, key=lambda p: p.height * p.width)
    tokens = _tokens(pipe, largest.height, largest.width, frames)
    cfg = pipe.transformer.config
    dim = cfg.num_attention_heads * cfg.attention_head_dim
    itemsize = torch.finfo(pipe.transformer.dtype).bits // 8
    # hidden, q/k/v, attention output, the FFN's inner activations, the hints of the branch
    per_token = dim * 8 + cfg.ffn_dim * 2
    if pipe.adapter is not None:
        per_token += dim * (pipe.adapter.config.num_patch_layers + 2)
    return tokens * per_token * itemsize


def canvas_bytes(pipe, plan: PatchPlan, frames: int) -> int:
    """Decoded window in fp32 (input, upscaled, output) and the latent canvases."""
    pixels = plan.height * plan.width * frames * 3 * 4
    latents = _tokens(pipe, plan.height, plan.width, frames) * pipe.codec.channels * 4 * 4 * 6
    return 4 * pixels + latents


def check_fits(pipe, plan: PatchPlan, frames: int, batch_size: int) -> None:
    need = canvas_bytes(pipe, plan, frames) + batch_size * patch_activation_bytes(
        pipe, plan, frames
    )
    have = available_bytes(pipe._execution_device)
    if need > have:
        raise PatchVSRError(
            f"output {plan.width}x{plan.height} x {frames} frames needs about {need / 1024**3:.1f} GiB, "
            f"only {have / 1024**3:.1f} GiB is free; choose a smaller size or fewer frames per window"
        )
