"""Keeping flat areas as quiet as the input: the `denoise` control's last stage, on the output.

Mini sharpens what it sees. Where the picture has structure, that is detail; where it is flat
(a sky, a wall, skin), what it sharpens is the input's noise, film grain and codec residue, and
its one-step transformer adds a faint grain of its own. So in the flat areas of real clips mini
was grainier than bicubic, even where the input was clean.

The guard is Lee's adaptive filter (1980) on the upscaled picture: each output pixel becomes

    base + g * (out - base),   g = v / (v + k^2),

where `v` is the variance of the input's luma over the 3x3 input pixels around it, `k` the
guard's strength in 8-bit levels, and `base` the input upscaled bilinearly (smoother than
bicubic: it passes less of the input's finest grain and adds no overshoot). Where the input
varies much more than k (edges, texture) g is near 1 and the model's detail stays whole; where
it varies less (flat areas) g falls towards 0 and the pixel goes to the smooth base: the grain a model would add is not added, and the
input's own grain is softened a little. The gate is read from the input, not from the output,
so the model's own grain cannot open it. Everything but the final blend is computed at the
input's size, where it is cheap.

What it costs and gains, on the held-out video set and on real clips: the model card's "The
flat-area guard".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from patchvsr.frames import fold_frames, unfold_frames
from patchvsr.luma import LUMA
from patchvsr.method.box import box_mean
from patchvsr.method.clean_input import STEADY_LEVEL

WINDOW = 3  # input pixels over which the input's variance is read


def guard_strength(k: float, denoise: float) -> float:
    """The guard's k at a `denoise` level: none at 0 (the most faithful detail), rising to full
    at the input filter's steady stage (0.25, the automatic level's floor) and full above, so
    a higher level never leaves flat areas grainier than a lower one."""
    return k * min(1.0, max(0.0, float(denoise)) / STEADY_LEVEL)


@torch.no_grad()
def guard_flat_areas(out: torch.Tensor, lr: torch.Tensor, k: float) -> torch.Tensor:
    """`out` (B, 3, F, H, W) in [-1, 1], a model's upscale of `lr` (B, 3, F, h, w), with its
    flat areas taken towards the smoothed input (Lee's filter, the module docstring). `k` in
    8-bit levels; 0 returns `out` as it is."""
    if k <= 0.0:
        return out
    size = out.shape[-2:]
    small = fold_frames(lr.to(out.dtype))  # (B * F, 3, h, w)
    luma = torch.tensor(LUMA, dtype=small.dtype, device=small.device).view(1, 3, 1, 1)
    y = (small * luma).sum(1, keepdim=True) * 127.5  # 8-bit levels
    mean = box_mean(y, WINDOW)
    variance = (box_mean(y * y, WINDOW) - mean * mean).clamp_(min=0.0)
    gate = F.interpolate(variance / (variance + k * k), size=size, mode="bilinear")
    base = F.interpolate(small, size=size, mode="bilinear")
    guarded = torch.lerp(base, fold_frames(out), gate)
    return unfold_frames(guarded, out.shape[0])
