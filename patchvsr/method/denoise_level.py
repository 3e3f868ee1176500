"""The `denoise` level of mini's detail head: checked, or estimated from the input ("auto").

0 keeps the most faithful detail (clean sources); 1 removes heavy noise, film grain and codec
blocks. `None` is "auto": the level is read off the low-resolution clip itself, from how much
fine-scale noise its flattest areas hold (Immerkaer's estimator on 8x8 blocks of the Y plane,
a low percentile of them: the flattest blocks carry noise and grain but little texture) and
how strongly its 8x8 block edges stand out (blockiness of DCT codecs), never below `FLOOR`.
Measured on the held-out clips, neither estimate separates clean from noisy input well (see
`FLOOR`), so auto is mostly the floor, raised only for plainly noisy or blocky input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from patchvsr.errors import PatchVSRError
from patchvsr.luma import LUMA

# Immerkaer's Laplacian difference kernel: zero on any locally linear picture, so what is left
# in flat areas is noise.
_KERNEL = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
_BLOCK = 8
# Noise sigma (8-bit levels) mapped to level 0 and 1, and the blockiness (edge energy at 8x8
# block borders over elsewhere) mapped to 0 and 1. Measured, see the module docstring.
SIGMA_RANGE = (4.0, 8.0)
BLOCKINESS_RANGE = (1.6, 2.4)
# The level auto never goes below: the estimates above cannot tell a fully textured clean
# picture from a noisy one (on the held-out clips, clean ones read 0.0-4.4 levels of noise and
# noisy ones 0.8-5.3), so they only raise the level where the input is plainly noisy or blocky.
FLOOR = 0.25
PERCENTILE = 0.2


def check_denoise(denoise: float | None) -> float | None:
    """`denoise` as a float in [0, 1], or None (auto); a one-line error otherwise."""
    if denoise is None:
        return None
    if isinstance(denoise, bool) or not isinstance(denoise, int | float):
        raise PatchVSRError(f"denoise must be a number in [0, 1] or auto, got {denoise!r}")
    value = float(denoise)
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise PatchVSRError(f"denoise must be in [0, 1] (or auto), got {denoise}")
    return value


def _luma(video: torch.Tensor) -> torch.Tensor:
    """(1, 3, F, H, W) in [-1, 1] -> (F, 1, H, W) Y in 8-bit levels."""
    rgb = (video[0].float().clamp(-1, 1) + 1.0) * 127.5
    y = LUMA[0] * rgb[0] + LUMA[1] * rgb[1] + LUMA[2] * rgb[2]
    return y[:, None]


def noise_sigma(video: torch.Tensor) -> float:
    """Noise sigma (8-bit levels) of a (1, 3, F, H, W) clip: Immerkaer's estimate on each 8x8
    block of Y, the `PERCENTILE` quantile over blocks (flat areas, where texture does not
    pass for noise)."""
    y = _luma(video)
    lap = F.conv2d(y, _KERNEL.view(1, 1, 3, 3).to(y))
    h, w = (lap.shape[2] // _BLOCK) * _BLOCK, (lap.shape[3] // _BLOCK) * _BLOCK
    if h == 0 or w == 0:
        return 0.0
    blocks = F.avg_pool2d(lap[:, :, :h, :w].abs(), _BLOCK)
    sigma = math.sqrt(math.pi / 2.0) / 6.0 * blocks.flatten()
    return float(torch.quantile(sigma, PERCENTILE))


def blockiness(video: torch.Tensor) -> float:
    """How much stronger horizontal and vertical steps are across 8-pixel block borders than
    elsewhere (1: no block structure)."""
    y = _luma(video)
    dx = (y[..., 1:] - y[..., :-1]).abs().mean(dim=(0, 1, 2))  # per column border
    dy = (y[..., 1:, :] - y[..., :-1, :]).abs().mean(dim=(0, 1, 3))  # per row border
    ratios = []
    for d in (dx, dy):
        if d.numel() < 2 * _BLOCK:
            continue
        border = d[_BLOCK - 1 :: _BLOCK].mean()
        ratios.append(float(border / d.mean().clamp(min=1e-6)))
    return max(ratios, default=1.0)


def _ramp(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    return min(1.0, max(0.0, (value - low) / (high - low)))


def estimate_denoise(video: torch.Tensor) -> float:
    """The "auto" level for a (1, 3, F, H, W) low-resolution clip in [-1, 1]."""
    noise = _ramp(noise_sigma(video), SIGMA_RANGE)
    return max(FLOOR, noise, _ramp(blockiness(video), BLOCKINESS_RANGE))
