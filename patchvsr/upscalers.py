"""The pluggable upscaler: anything with `name`, `window`, `overlap` and `upscale()`.

The job runner (`patchvsr.jobs`) feeds an upscaler temporal windows of `window` frames,
consecutive windows sharing `overlap` frames that it cross-fades. The classical baselines
(bicubic, Lanczos) live here; every other name is delegated to `patchvsr.runtime`, which
loads the diffusion models. Baselines are what comparisons and evaluations measure against,
so they are selected exactly like a model: `--model bicubic`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from patchvsr.errors import PatchVSRError

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


def get_upscaler(name: str, **options: object) -> Upscaler:
    """The upscaler called `name`: a baseline, or a model loaded by `patchvsr.runtime`.

    `options` (steps, strength, patch_size, device, colour, batch_size) go to the model;
    baselines ignore them."""
    key = name.strip().lower()
    if key == "bicubic":
        return BicubicUpscaler(**options)
    if key == "lanczos":
        return LanczosUpscaler(**options)
    try:
        runtime = importlib.import_module("patchvsr.runtime")
    except ModuleNotFoundError as err:
        if err.name != "patchvsr.runtime":
            raise
        raise PatchVSRError(f"unknown model {name!r}; available: {', '.join(BASELINES)}") from None
    return runtime.load_upscaler(name, **options)


__all__ = [
    "BASELINES",
    "BicubicUpscaler",
    "LanczosUpscaler",
    "Progress",
    "Upscaler",
    "bicubic_resize",
    "get_upscaler",
    "lanczos_resize",
]
