"""Colour correction of a super-resolved video against its upscaled low-resolution input.

Diffusion samplers drift in colour and brightness over few steps; the input already has the
right colours. Two standard fixes (as in StableSR and its successors):
- "wavelet" (default): keep the output's high frequencies, take the low frequencies from the
  input. Fixes local colour shifts too.
- "adain": match each channel's mean and standard deviation to the input's, per frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from patchvsr.frames import fold_frames, unfold_frames

MODES = ("wavelet", "adain", "none")


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-frame, per-channel mean/std of `content` matched to `style`. (B, C, F, H, W)."""
    dims = (-2, -1)
    c_mean, c_std = content.mean(dims, keepdim=True), content.std(dims, keepdim=True) + eps
    s_mean, s_std = style.mean(dims, keepdim=True), style.std(dims, keepdim=True) + eps
    return (content - c_mean) / c_std * s_std + s_mean


def _blur(frames: torch.Tensor, radius: int) -> torch.Tensor:
    """3x3 binomial blur with dilation `radius` (the a trous wavelet's low pass), (N, C, H, W)."""
    kernel = (
        torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], dtype=frames.dtype) / 16
    )
    kernel = kernel.to(frames.device).expand(frames.shape[1], 1, 3, 3)
    padded = F.pad(frames, (radius,) * 4, mode="replicate")
    return F.conv2d(padded, kernel, groups=frames.shape[1], dilation=radius)


def _low_frequency(frames: torch.Tensor, levels: int) -> torch.Tensor:
    low = frames
    for i in range(levels):
        low = _blur(low, 2**i)
    return low


def wavelet(content: torch.Tensor, style: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """`content`'s high frequencies + `style`'s low frequencies. (B, C, F, H, W)."""
    content_f, style_f = fold_frames(content), fold_frames(style)
    out = content_f - _low_frequency(content_f, levels) + _low_frequency(style_f, levels)
    return unfold_frames(out, content.shape[0])


def colour_fix(content: torch.Tensor, style: torch.Tensor, mode: str = "wavelet") -> torch.Tensor:
    if mode == "wavelet":
        return wavelet(content, style)
    if mode == "adain":
        return adain(content, style)
    if mode in ("none", None):
        return content
    raise ValueError(f"unknown colour correction {mode!r}; choose from {', '.join(MODES)}")
