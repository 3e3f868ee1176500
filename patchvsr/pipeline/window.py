"""One temporal window on its way through the denoiser, as plain data.

`PatchVSRPipeline.__call__` fills a `Window` (the clip's frames encoded on the latent canvas,
the plan in latent cells and its weights, the timesteps, the prompt embeddings),
`denoise_step` advances its `latents` by one step, `decode_window` turns it back into pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from patchvsr.method.grid import PatchPlan
from patchvsr.method.step_layout import StepLayouts
from patchvsr.models.detail import remove_video_pitch_pattern


@dataclass
class Window:
    num_frames: int
    out_hw: tuple[int, int]  # the output (H, W), before the canvas's padding
    scale: float  # what the location encoding gets
    plan: PatchPlan  # pixels, on the padded canvas
    layouts: StepLayouts  # each step's plan in latent cells and its weights
    upscaled: torch.Tensor  # (1, 3, F, H, W) bicubic upscale, the colour reference
    # (1, C, f, Hl, Wl) what a residual prediction is added to: the upscaled clip's latent,
    # sharpened by a detail head if the model has one (`residual_base`)
    base: torch.Tensor
    cond: torch.Tensor  # (1, C, f, Hl, Wl) noise-augmented condition latent
    glob: torch.Tensor | None  # (1, C, f, gh, gw) latent of the global view (None: no adapter)
    latents: torch.Tensor  # (1, C, f, Hl, Wl) the canvas being denoised
    timesteps: torch.Tensor  # the steps still to run
    residual: bool  # the model predicts the residual over `base`
    batch_size: int  # patches per model call
    text: torch.Tensor | None = None  # (1, L, text_dim) prompt embedding; None: the fixed one
    negative_text: torch.Tensor | None = None  # (1, L, text_dim), for guidance
    guidance_scale: float = 1.0  # > 1: classifier-free guidance against `negative_text`
    # A residual's pattern of this period is removed (a detail head's `pitch`; 0: none)
    pitch: int = 0

    def result(self) -> torch.Tensor:
        """The canvas as the model's output latent: with the base added for a residual model,
        its residual without a pattern at the codec's pitch where the model asks for that
        (`patchvsr.models.detail.remove_pitch_pattern`; the head's share already has none)."""
        if not self.residual:
            return self.latents
        residual = self.latents
        if self.pitch:
            residual = remove_video_pitch_pattern(residual, self.pitch)
        return residual + self.base

    def layout(self, step: int) -> tuple[PatchPlan, list[torch.Tensor]]:
        """The plan (latent cells) and weights of step `step`, counted from the first step
        this window runs (so a one-step run of a shifted grid is plain tiling); every scheme
        but "shifted" has one layout for all steps."""
        return self.layouts(step)
