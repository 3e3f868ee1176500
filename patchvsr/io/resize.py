"""The classical resizes of a clip's frames, bicubic and Lanczos (PIL's filters): the baselines
a comparison and an evaluation measure against, and the side-by-side video's scaling."""

from __future__ import annotations

import numpy as np
from PIL import Image


def check_frames(frames: np.ndarray, out_size: tuple[int, int]) -> tuple[int, int]:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (F, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}")
    out_h, out_w = (int(v) for v in out_size)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"output size must be positive, got {out_w}x{out_h}")
    return out_h, out_w


def _pil_resize(frames: np.ndarray, out_size: tuple[int, int], method: int) -> np.ndarray:
    out_h, out_w = check_frames(frames, out_size)
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
