"""Multi-patch joint modulation: the model's predictions for every patch of a denoising step,
fused on one latent canvas with the grid's weights.

The weights of a plan sum to one at every canvas cell (`weights.patch_weights`), so the fused
canvas is a weighted sum with no division. A partial sum over some of the patches is a valid
share of it: processes that each fuse their own share and add the canvases up get the same
result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import torch

from patchvsr.method.grid import PatchPlan
from patchvsr.method.location import normalized_box

# (latents (B, C, f, h, w), condition latents (B, C, f, h, w), boxes (B, 4)) -> (B, C, f, h, w)
PatchPredictor = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def patch_batches(plan: PatchPlan, indices: Sequence[int], batch_size: int) -> list[list[int]]:
    """`indices` of the plan's patches in batches of one size each (one model call each)."""
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in indices:
        groups[(plan.patches[i].height, plan.patches[i].width)].append(i)
    return [
        group[start : start + batch_size]
        for group in groups.values()
        for start in range(0, len(group), batch_size)
    ]


def fuse_patches(
    predict: PatchPredictor,
    latents: torch.Tensor,  # (1, C, f, Hl, Wl) the canvas
    cond: torch.Tensor,  # (1, C, f, Hl, Wl) its condition latents
    plan: PatchPlan,  # in latent cells
    weights: Sequence[torch.Tensor],  # (h, w) per patch, summing to one over the canvas
    indices: Sequence[int] | None = None,
    batch_size: int = 1,
) -> torch.Tensor:
    """Sum over the patches `indices` (all by default) of weight x prediction, on a canvas
    shaped like `latents`."""
    fused = torch.zeros_like(latents)
    indices = range(len(plan.patches)) if indices is None else indices
    for batch in patch_batches(plan, indices, batch_size):
        chunk = [plan.patches[i] for i in batch]
        x = torch.cat([latents[..., p.y0 : p.y1, p.x0 : p.x1] for p in chunk])
        c = torch.cat([cond[..., p.y0 : p.y1, p.x0 : p.x1] for p in chunk])
        boxes = torch.tensor(
            [normalized_box(p, plan.height, plan.width) for p in chunk], dtype=torch.float32
        )
        for p, pred, i in zip(chunk, predict(x, c, boxes), batch, strict=True):
            fused[0, :, :, p.y0 : p.y1, p.x0 : p.x1] += pred * weights[i]
    return fused
