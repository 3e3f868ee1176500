"""One temporal window on its way through the denoiser, as plain data.

`PatchVSRPipeline.prepare_window` fills a `Window` (the clip's frames encoded on the latent
canvas, the plan in latent cells and its weights, the schedule), `denoise_step` advances its
`latents` by one step, `decode_window` turns it back into pixels. `DenoiseSettings` holds what
stays the same for every window of a call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from patchvsr.grid import PatchPlan
from patchvsr.models.detail import remove_video_pitch_pattern
from patchvsr.step_layout import StepLayouts


@dataclass(frozen=True)
class DenoiseSettings:
    num_inference_steps: int
    strength: float  # share of the schedule run, from the noise level it starts at
    weight_mode: str = "paper"
    colour_correction: str = "wavelet"
    batch_size: int = 1  # patches per model call
    generator: torch.Generator | None = None
    denoise: float | None = None  # the detail head's denoise level, resolved (not "auto")


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
    batch_size: int
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
