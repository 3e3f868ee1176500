"""The clip every benchmark upscales, and one timed upscale with its memory probes."""

from __future__ import annotations

import time

import numpy as np
import torch

from patchvsr.bench.rss import PeakTracker
from patchvsr.bench.timing import timed_calls
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

SCALE = 4  # every benchmark upscales x4, the paper's setting


def bench_clip(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """(F, H, W, 3) uint8: moving gradients with fine noise, real structure for the model."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        r = 128 + 100 * np.sin((x + 2 * t) / 7.0)
        g = 128 + 100 * np.cos((y - t) / 5.0)
        b = 128 + 60 * np.sin((x + y) / 9.0)
        out.append(np.stack([r, g, b], -1) + rng.normal(0, 4, (height, width, 3)))
    return np.clip(out, 0, 255).astype(np.uint8)


def upscale_kwargs(steps: int, full_frame: bool, batch_size: int | None) -> dict:
    return dict(
        num_inference_steps=steps,
        full_frame=full_frame,
        batch_size=batch_size,
        generator=torch.Generator().manual_seed(0),
    )


def warm_up(pipe: PatchVSRPipeline, frames: int) -> None:
    """One small run first, so one-time costs (kernel selection, first allocations) stay out
    of the timed run. Smaller than any measured run, so its freed memory cannot hide theirs."""
    side = max(1, pipe.config.base_size // 2 // SCALE)
    pipe(bench_clip(frames, side, side), scale=SCALE, **upscale_kwargs(1, False, None))


def timed_upscale(
    pipe: PatchVSRPipeline,
    size: int,
    frames: int,
    steps: int,
    full_frame: bool,
    batch_size: int | None,
) -> dict:
    """Upscale a clip to size x size; wall time, time in the denoising steps, peak memory of
    the process and the peak growth during a denoising step (the model's working memory)."""
    clip = bench_clip(frames, size // SCALE, size // SCALE)
    tracker = PeakTracker()
    probes = {"denoise": (tracker.begin_section, tracker.end_section)}
    targets = {"denoise": (pipe, "denoise_step")}
    with timed_calls(targets, pipe.device, probes) as t:
        start = time.perf_counter()
        out = pipe(clip, scale=SCALE, **upscale_kwargs(steps, full_frame, batch_size))
        wall = time.perf_counter() - start
    plan = out.plan
    return {
        "size": size,
        "mode": "full-frame" if full_frame else "patch-wise",
        "evaluations_per_step": plan.evaluations_per_step,
        "seconds": wall,
        "denoise_seconds": t.seconds["denoise"],
        "peak_bytes": tracker.peak,
        "baseline_bytes": tracker.baseline,
        "step_peak_bytes": tracker.section_peak if tracker.can_reset else None,
    }
