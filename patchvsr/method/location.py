"""Where a patch lies: its normalised box, its ROI mask in the global view, and the
sinusoidal encoding of box and scale that the model's location embedder reads.

The paper conditions each patch on its crop position and the scale factor (besides the ROI
mask). We encode the normalised box (y0, x0, y1, x1 in [0, 1]) and log2 of the scale with
sine/cosine features at octave frequencies, the way SDXL encodes its crop/size
micro-conditioning; the model maps them through an MLP into the timestep embedding.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from patchvsr.method.grid import Patch

if TYPE_CHECKING:
    import torch

# log2(scale) / _SCALE_RANGE maps scales 1..16 onto [0, 1].
_SCALE_RANGE = 4.0
DEFAULT_NUM_FREQS = 8


def location_scale(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> float:
    """The scale factor the location encoding gets: the mean of the two axes' factors, so a
    non-square resize (1000x564 from 250x141) has one number that both axes agree on."""
    return (out_hw[0] / in_hw[0] + out_hw[1] / in_hw[1]) / 2


def normalized_box(patch: Patch, height: int, width: int) -> tuple[float, float, float, float]:
    """Patch box as fractions of the frame: (y0, x0, y1, x1) in [0, 1]."""
    return (patch.y0 / height, patch.x0 / width, patch.y1 / height, patch.x1 / width)


def roi_mask(box: tuple[float, float, float, float], height: int, width: int) -> np.ndarray:
    """Binary (height, width) float32 mask of a normalised box on a grid of that size.

    A cell is inside when its centre is; a box thinner than one cell still marks the cell
    under its centre, so every patch is visible in the mask."""
    y0, x0, y1, x1 = box
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    rows = (ys >= y0) & (ys < y1)
    cols = (xs >= x0) & (xs < x1)
    if not rows.any():
        rows[min(height - 1, int((y0 + y1) / 2 * height))] = True
    if not cols.any():
        cols[min(width - 1, int((x0 + x1) / 2 * width))] = True
    return np.outer(rows, cols).astype(np.float32)


def encoding_dim(num_freqs: int = DEFAULT_NUM_FREQS) -> int:
    """Length of the location encoding: 5 values (box + scale) x sin/cos x frequencies."""
    return 5 * 2 * num_freqs


def location_encoding(
    boxes: torch.Tensor | np.ndarray | list,
    scales: torch.Tensor | np.ndarray | list | float,
    num_freqs: int = DEFAULT_NUM_FREQS,
) -> torch.Tensor:
    """Sinusoidal encoding of normalised boxes (N, 4) and scale factors (N,) -> (N, 10 * num_freqs).

    Frequencies are pi * 2^k, k = 0..num_freqs-1: the lowest varies once over the frame, the
    highest resolves about 1/2^num_freqs of it, enough to tell neighbouring patches of a 4K
    grid apart."""
    import torch  # here: a request that only needs `location_scale` loads no torch

    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    scales = torch.as_tensor(np.asarray(scales, dtype=np.float32)).reshape(-1)
    if scales.numel() == 1:
        scales = scales.expand(boxes.shape[0])
    if (scales <= 0).any():
        raise ValueError("scale factors must be positive")
    values = torch.cat([boxes, (torch.log2(scales) / _SCALE_RANGE)[:, None]], dim=1)  # (N, 5)
    freqs = math.pi * 2.0 ** torch.arange(num_freqs, dtype=torch.float32)  # (K,)
    angles = values[:, :, None] * freqs  # (N, 5, K)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (N, 5 * 2K)


def encoding_similarity_map(
    reference: tuple[float, float, float, float],
    box_size: tuple[float, float],
    scale: float,
    grid: int = 64,
    num_freqs: int = DEFAULT_NUM_FREQS,
) -> np.ndarray:
    """Cosine similarity (grid, grid) between the encoding of `reference` and that of a box of
    the same size placed at every position of the frame (its top-left corner on the grid).
    Shows how the location encoding tells positions apart."""
    bh, bw = box_size
    ys = np.linspace(0.0, max(0.0, 1.0 - bh), grid)
    xs = np.linspace(0.0, max(0.0, 1.0 - bw), grid)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    boxes = np.stack([yy, xx, yy + bh, xx + bw], axis=-1).reshape(-1, 4)
    enc = location_encoding(boxes, scale, num_freqs)
    ref = location_encoding([reference], scale, num_freqs)
    import torch

    sim = torch.nn.functional.cosine_similarity(enc, ref, dim=1)
    return sim.reshape(grid, grid).numpy()
