"""The global branch once per denoising step (shared by every patch) against once per patch.

The global view is the same for every patch of a step, so the pipeline runs the global
encoder and all K_g/V_g projections once and hands the result to every patch
(`GlobalKeysValues`). The naive alternative recomputes it for each patch; both give the same
prediction, and the run compares their time and checks that their outputs agree.
"""

from __future__ import annotations

import numpy as np
import torch

from patchvsr.bench.timing import clock
from patchvsr.bench.workload import SCALE, bench_clip, upscale_kwargs
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline


class GlobalPerPatch(torch.nn.Module):
    """A PatchVSRTransformer that runs the global branch again for every patch it predicts."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.inner = model
        self.base, self.adapter = model.base, model.adapter  # what the pipeline checks
        self._global_args = None
        self.global_calls = 0

    def encode_global(self, *args):
        self._global_args = args  # recorded, and run per patch in `forward` instead
        return None

    def forward(self, latents, *args, global_context=None, **kwargs):
        for _ in range(latents.shape[0]):
            global_context = self.inner.encode_global(*self._global_args)
            self.global_calls += 1
        return self.inner(latents, *args, global_context=global_context, **kwargs)


def _timed_run(pipe: PatchVSRPipeline, model, clip, steps: int, batch_size: int | None):
    """One upscale with `model` in the pipeline; (output, seconds, global branch runs)."""
    shared_model, pipe._model = pipe._model, model
    before = model.global_calls
    try:
        start = clock(pipe.device)
        out = pipe(clip, scale=SCALE, output_type="pt", **upscale_kwargs(steps, False, batch_size))
        return out, clock(pipe.device) - start, model.global_calls - before
    finally:
        pipe._model = shared_model


def compare_sharing(
    pipe: PatchVSRPipeline,
    size: int,
    frames: int,
    steps: int,
    batch_size: int | None = None,
    repeats: int = 1,
) -> dict:
    """Both ways, alternating, `repeats` times each; the fastest run of each counts."""
    if pipe.adapter is None:
        return {"error": "the model has no adapter, hence no global branch"}
    clip = bench_clip(frames, size // SCALE, size // SCALE)
    models = {"once_per_step": pipe.model, "once_per_patch": GlobalPerPatch(pipe.model)}
    runs: dict[str, list] = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            runs[name].append(_timed_run(pipe, model, clip, steps, batch_size))
    best = {name: min(r, key=lambda run: run[1]) for name, r in runs.items()}
    shared, naive = best["once_per_step"], best["once_per_patch"]
    diff = (shared[0].frames.float() - naive[0].frames.float()).abs().max().item()
    return {
        "size": size,
        "evaluations_per_step": shared[0].plan.evaluations_per_step,
        "steps": steps,
        "repeats": repeats,
        **{name: {"seconds": b[1], "global_calls": b[2]} for name, b in best.items()},
        "speedup": naive[1] / shared[1],
        "max_abs_difference": float(np.float32(diff)),
    }
