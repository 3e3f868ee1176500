"""The pluggable upscaler: anything with `name`, `window`, `overlap` and `upscale()`.

The job runner (`patchvsr.video.jobs`) feeds an upscaler temporal windows of `window` frames,
consecutive windows sharing `overlap` frames that it cross-fades. The classical baselines
(bicubic, Lanczos) live here; every other name is delegated to `patchvsr.runtime`, which
loads the diffusion models. Baselines are what comparisons and evaluations measure against,
so they are selected exactly like a model: `--model bicubic`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from patchvsr.errors import PatchVSRError
from patchvsr.io.resize import bicubic_resize, check_frames, lanczos_resize

Progress = Callable[[int, int, str], None]
BASELINES = ("bicubic", "lanczos")


class Upscaler:
    """What the job runner calls. Any object with these three attributes and `upscale()` will
    do; this base checks the frames once and leaves `_upscale` to each kind."""

    name: str = "upscaler"
    window: int = 32  # frames per temporal window the runner feeds at once
    overlap: int = 0  # frames shared by consecutive windows; the runner cross-fades them

    def upscale(
        self,
        frames: np.ndarray,
        out_size: tuple[int, int],
        *,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> np.ndarray:
        """frames (F, H, W, 3) uint8 RGB -> (F, out_h, out_w, 3) uint8 RGB.

        `out_size` is (out_h, out_w); `progress(done, total, what)` reports work done."""
        return self._upscale(frames, check_frames(frames, out_size), seed, progress)

    def _upscale(
        self, frames: np.ndarray, out_hw: tuple[int, int], seed: int, progress: Progress | None
    ) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(window={self.window})"


class _Baseline(Upscaler):
    """A classical interpolation filter: frame by frame, no temporal model, no randomness."""

    name = "baseline"

    def _resize(self, frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError

    def _upscale(
        self, frames: np.ndarray, out_hw: tuple[int, int], seed: int, progress: Progress | None
    ) -> np.ndarray:
        out = []
        for i in range(len(frames)):
            out.append(self._resize(frames[i : i + 1], out_hw)[0])
            if progress is not None:
                progress(i + 1, len(frames), "frames")
        return np.stack(out)


class BicubicUpscaler(_Baseline):
    name = "bicubic"

    def _resize(self, frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        return bicubic_resize(frames, out_size)


class LanczosUpscaler(_Baseline):
    name = "lanczos"

    def _resize(self, frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        return lanczos_resize(frames, out_size)


FILTER_WINDOW = 16  # frames the job runner gives a model with an input filter at once


class PatchVSRUpscaler(Upscaler):
    """A loaded pipeline behind the `Upscaler` interface. None for `steps`, `strength`,
    `patch_size` and `scheme` means the model's own; `guidance_scale` and
    `negative_prompt_embeds` go to the pipeline as they are; `denoise` None is "auto": estimated once,
    from the first window this upscaler is given, and kept for the rest of the clip (a level
    that changed from window to window would flicker)."""

    def __init__(
        self,
        pipe,
        name: str,
        steps: int | None = None,
        strength: float | None = None,
        patch_size: int | None = None,
        colour: bool = True,
        batch_size: int | None = None,
        scheme: str | None = None,
        guidance_scale: float = 1.0,
        negative_prompt_embeds=None,
        denoise: float | None = None,
    ) -> None:
        from patchvsr.method.denoise_level import check_denoise

        self.pipe, self.name = pipe, name
        self.guidance_scale = guidance_scale
        self.negative_prompt_embeds = negative_prompt_embeds
        self.denoise = check_denoise(denoise)
        self.steps, self.strength, self.patch_size = steps, strength, patch_size
        self.scheme = scheme
        self.colour = "wavelet" if colour else "none"
        self.batch_size = batch_size
        self.window = pipe.config.window
        self.overlap = pipe.config.window_overlap
        if pipe.config.get("clean_input", False) and not self.overlap:
            # The input filter compares each frame with the ones beside it, within what it is
            # given: windows of several of the model's own give it its neighbours (the
            # pipeline still denoises the model's windows inside) and leave a clip's edge
            # every FILTER_WINDOW frames instead of every few.
            self.window *= max(1, -(-FILTER_WINDOW // self.window))

    def _upscale(
        self, frames: np.ndarray, out_hw: tuple[int, int], seed: int, progress: Progress | None
    ) -> np.ndarray:
        import torch

        if self.denoise is None and getattr(self.pipe, "has_denoise", False):
            from patchvsr.frames import frames_to_video
            from patchvsr.method.denoise_level import estimate_denoise

            self.denoise = estimate_denoise(frames_to_video(frames))
        out = self.pipe(
            frames,
            size=out_hw,
            num_inference_steps=self.steps,
            strength=self.strength,
            guidance_scale=self.guidance_scale,
            negative_prompt_embeds=self.negative_prompt_embeds,
            patch_size=self.patch_size,
            scheme=self.scheme,
            generator=torch.Generator().manual_seed(seed),
            colour_correction=self.colour,
            batch_size=self.batch_size,
            progress=progress,
            denoise=self.denoise,
        )
        return out.frames


def get_upscaler(
    name: str,
    steps: int | None = None,
    strength: float | None = None,
    patch_size: int | None = None,
    device: str = "auto",
    colour: bool = True,
    batch_size: int | None = None,
    adapter: str | None = None,
    scheme: str | None = None,
    scheduler: str | None = None,
    guidance_scale: float | None = None,
    negative_prompt: str | None = None,
    vae_dtype: str | None = None,
    denoise: float | None = None,
) -> Upscaler:
    """The upscaler called `name`: a baseline, or a model loaded by `patchvsr.runtime`.

    The options go to the model; baselines ignore them. `scheduler` (unipc, euler, dpm++)
    replaces the model's own, with its flow shift (`patchvsr.pipeline.scheduling.scheduler_named`);
    `negative_prompt` is embedded once, here, by the model's text encoder."""
    key = name.strip().lower()
    if key in BASELINES:
        return (BicubicUpscaler if key == "bicubic" else LanczosUpscaler)()
    from patchvsr.pipeline.scheduling import scheduler_named
    from patchvsr.runtime import load_pipeline

    pipe = load_pipeline(name, device=device, adapter=adapter, vae_dtype=vae_dtype)
    if patch_size is not None:
        pipe.plan_for((patch_size, patch_size), patch_size)  # the model's alignment rule
    if scheduler is not None:
        pipe.scheduler = scheduler_named(scheduler, pipe.scheduler)
    guidance = 1.0 if guidance_scale is None else guidance_scale
    negative = None
    if negative_prompt is not None:
        if guidance <= 1.0:
            raise PatchVSRError("a negative prompt needs guidance: set a guidance scale above 1")
        negative = pipe.encode_text(negative_prompt)
    return PatchVSRUpscaler(
        pipe,
        name,
        steps,
        strength,
        patch_size,
        colour,
        batch_size,
        scheme,
        guidance,
        negative,
        denoise=denoise,
    )


__all__ = [
    "BASELINES",
    "BicubicUpscaler",
    "LanczosUpscaler",
    "PatchVSRUpscaler",
    "Progress",
    "Upscaler",
    "bicubic_resize",
    "get_upscaler",
    "lanczos_resize",
]
