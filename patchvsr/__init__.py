"""PatchVSR: patch-wise video super-resolution with a video diffusion transformer.

    from patchvsr import PatchVSRPipeline
    from patchvsr.models.configs import MINI_DIR

    pipe = PatchVSRPipeline.from_pretrained(MINI_DIR)  # mini's weights, in the package
    frames = pipe(frames, scale=4).frames  # (F, H, W, 3) uint8 in and out

The pipeline loads on first use, so `import patchvsr.method.grid` stays light.
"""

from __future__ import annotations

__all__ = ["PatchVSRPipeline"]


def __getattr__(name: str):
    if name == "PatchVSRPipeline":
        from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

        return PatchVSRPipeline
    raise AttributeError(f"module 'patchvsr' has no attribute {name!r}")
