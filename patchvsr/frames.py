"""Layouts of a clip, and the moves between them, in one place.

- frames: (F, H, W, 3) uint8, as files hold them;
- video: (B, C, F, H, W) float in [-1, 1], as the models take it;
- a per-frame batch (B*F, C, H, W), for image operations applied to every frame.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from patchvsr.errors import PatchVSRError


def fold_frames(video: torch.Tensor) -> torch.Tensor:
    """(B, C, F, H, W) -> (B*F, C, H, W): every frame an image of the batch."""
    return rearrange(video, "b c f h w -> (b f) c h w")


def unfold_frames(images: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*F, C, H, W) -> (B, C, F, H, W), the inverse of `fold_frames`."""
    return rearrange(images, "(b f) c h w -> b c f h w", b=batch)


def to_signed(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 levels 0..255 -> float in [-1, 1]."""
    return pixels.float() / 127.5 - 1.0


def to_levels(video: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 levels 0..255 (clamped, rounded)."""
    return ((video.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def frames_to_video(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(F, H, W, 3) uint8 -> (1, 3, F, H, W) in [-1, 1]."""
    frames = torch.as_tensor(np.ascontiguousarray(frames))
    return to_signed(rearrange(frames, "f h w c -> 1 c f h w"))


def video_to_frames(video: torch.Tensor) -> np.ndarray:
    """(1, 3, F, H, W) in [-1, 1] -> (F, H, W, 3) uint8."""
    return rearrange(to_levels(video[0]), "c f h w -> f h w c").cpu().numpy()


def as_video(video) -> torch.Tensor:
    """(F, H, W, 3) uint8 array/tensor, or (1, 3, F, H, W) float in [-1, 1] -> the latter."""
    if not isinstance(video, np.ndarray | torch.Tensor):
        raise PatchVSRError("video must be a (F, H, W, 3) uint8 array or a (1, 3, F, H, W) tensor")
    if video.dtype in (np.uint8, torch.uint8):
        if video.ndim != 4 or video.shape[-1] != 3:
            raise PatchVSRError(f"expected frames of shape (F, H, W, 3), got {tuple(video.shape)}")
        return frames_to_video(video)
    video = torch.as_tensor(video)
    if video.ndim != 5 or tuple(video.shape[:2]) != (1, 3):
        raise PatchVSRError(f"expected a (1, 3, F, H, W) tensor, got {tuple(video.shape)}")
    return video.float()


def upscale_bicubic(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic resize of every frame of (B, C, F, H, W)."""
    h, w = video.shape[-2:]
    out = F.interpolate(
        fold_frames(video),
        size=(height, width),
        mode="bicubic",
        align_corners=False,
        antialias=(height < h or width < w),
    )
    return unfold_frames(out, video.shape[0])


def pad_video(video: torch.Tensor, height: int, width: int, frames: int) -> torch.Tensor:
    """Replicate-pad (B, C, F, H, W) at the bottom/right and at the end in time."""
    f, h, w = video.shape[2:]
    if (h, w) != (height, width):
        padded = F.pad(fold_frames(video), (0, width - w, 0, height - h), mode="replicate")
        video = unfold_frames(padded, video.shape[0])
    if frames > f:
        video = torch.cat([video, video[:, :, -1:].expand(-1, -1, frames - f, -1, -1)], dim=2)
    return video
