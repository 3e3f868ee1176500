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


def _blur_axis(frames: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """[1, 2, 1] / 4 along `dim` (-2 or -1) with taps `radius` apart, edges replicated."""
    pad = (0, 0, radius, radius) if dim == -2 else (radius, radius, 0, 0)
    padded = F.pad(frames, pad, mode="replicate")
    size = frames.shape[dim]
    before = padded.narrow(dim, 0, size)
    centre = padded.narrow(dim, radius, size)
    after = padded.narrow(dim, 2 * radius, size)
    return (before + after).add_(centre, alpha=2.0).mul_(0.25)


def _blur(frames: torch.Tensor, radius: int) -> torch.Tensor:
    """3x3 binomial blur with dilation `radius` (the a trous wavelet's low pass), (N, C, H, W).
    The kernel is separable, so it runs as two 1-D passes of slices (6 multiply-adds a pixel
    instead of 9, and no dilated depthwise convolution, which is slow on a CPU); replicated
    edges give the same result either way."""
    return _blur_axis(_blur_axis(frames, radius, -2), radius, -1)


def _low_frequency(frames: torch.Tensor, levels: int) -> torch.Tensor:
    low = frames
    for i in range(levels):
        low = _blur(low, 2**i)
    return low


def wavelet(content: torch.Tensor, style: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """`content`'s high frequencies + `style`'s low frequencies. (B, C, F, H, W).

    The low pass is linear (replicated edges included), so content - low(content) +
    low(style) is content - low(content - style): one low pass instead of two."""
    content_f, style_f = fold_frames(content), fold_frames(style)
    out = content_f - _low_frequency(content_f - style_f, levels)
    return unfold_frames(out, content.shape[0])


def colour_fix(content: torch.Tensor, style: torch.Tensor, mode: str = "wavelet") -> torch.Tensor:
    if mode == "wavelet":
        return wavelet(content, style)
    if mode == "adain":
        return adain(content, style)
    if mode in ("none", None):
        return content
    raise ValueError(f"unknown colour correction {mode!r}; choose from {', '.join(MODES)}")
