"""The global view: the whole clip resized to the base model's size, with the patch's ROI.

Aspect ratio: the clip is resized so that its *long* side equals the base size and the short
side keeps the aspect ratio (rounded to the latent alignment), without padding. Squashing to a
square would distort the shapes that the global branch is there to recognise, and padding would
spend tokens on nothing; the transformer's rotary position embedding takes any token grid.

The global context end to end: this module makes the view (pixels) and its ROI mask; the
pipeline encodes the view once per window (`PatchVSRPipeline.encode_inputs`); the adapter's
global encoder turns it into per-block keys and values once per step
(`models.adapter.GlobalKeysValues`, where each patch adds only its mask's offset); the base
blocks attend to them through the new cross-attention (`models.attention`);
`viz.context_figure` draws what the model receives.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from patchvsr.method.location import roi_mask


def global_view_size(height: int, width: int, base: int = 512, align: int = 16) -> tuple[int, int]:
    """(h, w) of the global view: long side `base`, aspect kept, both multiples of `align`."""
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    s = base / max(height, width)
    h = max(align, align * round(height * s / align))
    w = max(align, align * round(width * s / align))
    return h, w


def global_view(video: torch.Tensor, base: int = 512, align: int = 16) -> torch.Tensor:
    """Resize a clip (B, C, F, H, W) to its global view (B, C, F, h, w), frame by frame with
    antialiasing (area-like for downscaling, so fine texture does not alias)."""
    b, c, f, h, w = video.shape
    gh, gw = global_view_size(h, w, base, align)
    frames = video.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    out = F.interpolate(
        frames.float(), size=(gh, gw), mode="bilinear", antialias=True, align_corners=False
    )
    return out.reshape(b, f, c, gh, gw).permute(0, 2, 1, 3, 4).to(video.dtype)


def global_roi_mask(
    box: tuple[float, float, float, float], height: int, width: int
) -> torch.Tensor:
    """The ROI mask (1, 1, 1, h, w) on a global-view grid (pixels or latent cells)."""
    return torch.from_numpy(roi_mask(box, height, width))[None, None, None]


def mark_roi(
    frame: np.ndarray, box: tuple[float, float, float, float], dim: float = 0.35
) -> np.ndarray:
    """An RGB frame (h, w, 3) uint8 with everything outside the ROI darkened, for pictures."""
    mask = roi_mask(box, frame.shape[0], frame.shape[1])[..., None]
    out = frame.astype(np.float32) * (dim + (1.0 - dim) * mask)
    return out.clip(0, 255).astype(np.uint8)
