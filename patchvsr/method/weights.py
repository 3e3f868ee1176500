"""The weight maps that fuse a plan's patches on one canvas (`fusion`), and the count of
patches over each cell.

Each patch's weight is the outer product of two 1-D profiles (`axis_profile`) that taper only
towards interior edges: at a frame border there is no neighbour to hand over to. The paper's
raised cosine makes an auxiliary patch and the base patches under it add up to one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from patchvsr.method.grid import PatchPlan

WeightMode = Literal["paper", "gaussian", "linear", "uniform"]
WEIGHT_MODES: tuple[str, ...] = ("paper", "gaussian", "linear", "uniform")

# A floor keeps every weight positive, so a pixel is never left without a contributor even at
# a patch edge where its profile reaches zero.
_FLOOR = 1e-3


def axis_profile(start: int, stop: int, length: int, ramp: int, mode: WeightMode) -> np.ndarray:
    """1-D weight of one patch along one axis, sampled at cell centres. Tapers only towards *interior* edges: at a frame border there is no
    neighbour to hand over to, so the weight stays 1."""
    cells = np.arange(start, stop, dtype=np.float64) + 0.5
    size = stop - start
    if mode == "uniform":
        return np.ones(size)
    if mode == "gaussian":
        # MultiDiffusion / Mixture-of-Diffusers style: a bell over the whole patch.
        sigma = size / 4.0
        return np.exp(-0.5 * ((cells - (start + stop) / 2.0) / sigma) ** 2) + _FLOOR
    dist = np.full(size, np.inf)
    if start > 0:
        dist = np.minimum(dist, cells - start)
    if stop < length:
        dist = np.minimum(dist, stop - cells)
    t = np.clip(dist / max(ramp, 1e-9), 0.0, 1.0)
    if mode == "linear":
        return t + _FLOOR
    if mode == "paper":
        # Raised cosine: an auxiliary patch of width 2*ramp peaks on its seam line (its centre)
        # and decays outwards; the base patch under it fades with the complementary cos^2, so
        # with 50% overlap the weights add up to exactly one before normalisation.
        return np.sin(0.5 * np.pi * t) ** 2 + _FLOOR
    raise ValueError(f"unknown weight mode {mode!r}; choose from {', '.join(WEIGHT_MODES)}")


def patch_weight(plan: PatchPlan, index: int, mode: WeightMode = "paper") -> np.ndarray:
    """Unnormalised weight map (h, w) of patch `index` of the plan."""
    p = plan.patches[index]
    wy = axis_profile(p.y0, p.y1, plan.height, plan.ramp, mode)
    wx = axis_profile(p.x0, p.x1, plan.width, plan.ramp, mode)
    return np.outer(wy, wx)


def patch_weights(plan: PatchPlan, mode: WeightMode = "paper") -> list[np.ndarray]:
    """Normalised weight maps, one (h, w) array per patch: summed on the canvas they give
    exactly one at every pixel."""
    raw = [patch_weight(plan, i, mode) for i in range(len(plan.patches))]
    total = accumulate(plan, raw)
    return [w / total[p.y0 : p.y1, p.x0 : p.x1] for p, w in zip(plan.patches, raw, strict=True)]


def accumulate(plan: PatchPlan, maps: list[np.ndarray]) -> np.ndarray:
    """Sum per-patch maps onto the (H, W) canvas."""
    canvas = np.zeros((plan.height, plan.width))
    for p, m in zip(plan.patches, maps, strict=True):
        canvas[p.y0 : p.y1, p.x0 : p.x1] += m
    return canvas


def coverage(plan: PatchPlan) -> np.ndarray:
    """How many patches cover each pixel, (H, W) ints."""
    count = np.zeros((plan.height, plan.width), dtype=np.int32)
    for p in plan.patches:
        count[p.y0 : p.y1, p.x0 : p.x1] += 1
    return count


__all__ = [
    "WEIGHT_MODES",
    "WeightMode",
    "accumulate",
    "axis_profile",
    "coverage",
    "patch_weight",
    "patch_weights",
]
