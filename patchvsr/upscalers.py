"""The pluggable upscaler: anything with `name`, `window`, `overlap` and `upscale()`.

The job runner (`patchvsr.jobs`) feeds an upscaler temporal windows of `window` frames,
consecutive windows sharing `overlap` frames that it cross-fades. The classical baselines
(bicubic, Lanczos) live here; every other name is delegated to `patchvsr.runtime`, which
loads the diffusion models. Baselines are what comparisons and evaluations measure against,
so they are selected exactly like a model: `--model bicubic`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

Progress = Callable[[int, int, str], None]
BASELINES = ("bicubic", "lanczos")


@runtime_checkable
class Upscaler(Protocol):
    name: str
    window: int  # frames per temporal window the runner feeds at once
    overlap: int  # frames shared by consecutive windows; the runner cross-fades them

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
        ...


def _check_frames(frames: np.ndarray, out_size: tuple[int, int]) -> tuple[int, int]:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (F, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    out_h, out_w = (int(v) for v in out_size)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"output size must be positive, got {out_w}x{out_h}")
    return out_h, out_w


def _pil_resize(frames: np.ndarray, out_size: tuple[int, int], method: int) -> np.ndarray:
    out_h, out_w = _check_frames(frames, out_size)
    if frames.shape[1:3] == (out_h, out_w):
        return frames.copy()
    return np.stack([np.asarray(Image.fromarray(f).resize((out_w, out_h), method)) for f in frames])


def bicubic_resize(frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, out_h, out_w, 3) uint8, bicubic.

    PIL's filter: cubic kernel a = -0.5 with antialiasing when shrinking, which is MATLAB's
    `imresize`, the reference upscale of the (V)SR literature. `out_size` is (out_h, out_w)."""
    return _pil_resize(frames, out_size, Image.Resampling.BICUBIC)


def lanczos_resize(frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, out_h, out_w, 3) uint8 with PIL's Lanczos-3 filter."""
    return _pil_resize(frames, out_size, Image.Resampling.LANCZOS)


class _Baseline:
    """A classical interpolation filter: frame by frame, no temporal model, no randomness."""

    name = "baseline"
    window = 32
    overlap = 0

    def __init__(self, **options: object) -> None:
        # Model options from the command line (steps, strength, patch_size, ...) mean
        # nothing to an interpolation filter; they are accepted so every model takes the
        # same call.
        self.options = options

    def _resize(self, frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError

    def upscale(
        self,
        frames: np.ndarray,
        out_size: tuple[int, int],
        *,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> np.ndarray:
        _check_frames(frames, out_size)
        out = []
        for i in range(len(frames)):
            out.append(self._resize(frames[i : i + 1], out_size)[0])
            if progress is not None:
                progress(i + 1, len(frames), "frames")
        return np.stack(out)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(window={self.window})"


class BicubicUpscaler(_Baseline):
    name = "bicubic"

    def _resize(self, frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        return bicubic_resize(frames, out_size)


class LanczosUpscaler(_Baseline):
    name = "lanczos"

    def _resize(self, frames: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
        return lanczos_resize(frames, out_size)


class PatchVSRUpscaler:
    """A loaded pipeline behind the `Upscaler` interface. None for `steps`, `strength` and
    `patch_size` means the model's own."""

    def __init__(
        self,
        pipe,
        name: str,
        steps: int | None = None,
        strength: float | None = None,
        patch_size: int | None = None,
        colour: bool = True,
        batch_size: int | None = None,
    ) -> None:
        self.pipe, self.name = pipe, name
        self.steps, self.strength, self.patch_size = steps, strength, patch_size
        self.colour = "wavelet" if colour else "none"
        self.batch_size = batch_size
        self.window = pipe.config.window
        self.overlap = pipe.config.window_overlap

    def upscale(
        self,
        frames: np.ndarray,
        out_size: tuple[int, int],
        *,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> np.ndarray:
        import torch

        out = self.pipe(
            frames,
            size=tuple(out_size),
            num_inference_steps=self.steps,
            strength=self.strength,
            patch_size=self.patch_size,
            generator=torch.Generator().manual_seed(seed),
            colour_correction=self.colour,
            batch_size=self.batch_size,
            progress=progress,
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
) -> Upscaler:
    """The upscaler called `name`: a baseline, or a model loaded by `patchvsr.runtime`.

    The options go to the model; baselines ignore them."""
    key = name.strip().lower()
    if key in BASELINES:
        return (BicubicUpscaler if key == "bicubic" else LanczosUpscaler)()
    from patchvsr.runtime import load_pipeline

    pipe = load_pipeline(name, device=device, adapter=adapter)
    if patch_size is not None:
        pipe.plan_for((patch_size, patch_size), patch_size)  # the model's alignment rule
    return PatchVSRUpscaler(pipe, name, steps, strength, patch_size, colour, batch_size)


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
