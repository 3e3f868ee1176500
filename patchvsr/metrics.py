"""Quality metrics, with the conventions of the (video) super-resolution literature.

- PSNR and SSIM on the Y channel of BT.601 YCbCr (MATLAB's `rgb2ycbcr`, as BasicSR computes
  it: Y in [16, 235], not rounded), after cropping `border` pixels on every side (4, or the
  scale factor). SSIM uses the standard 11x11 Gaussian window, sigma 1.5, K1 = 0.01,
  K2 = 0.03, valid filtering, averaged over the map (Wang et al. 2004).
- Seam score: how much larger the intensity jump across patch seams is than the jump between
  neighbouring pixels elsewhere; ~1 means no visible seams.
- Temporal consistency: with a reference, the mean absolute difference between the
  frame-to-frame changes of the prediction and those of the reference (0 = the prediction
  changes over time exactly as the reference does; flicker and lag both raise it). Without
  a reference, the mean absolute frame-to-frame change of the prediction (its flicker, which
  includes real motion). Both on Y, in 8-bit levels; lower is better.

Frames are uint8 RGB `(H, W, 3)` or stacks `(F, H, W, 3)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from patchvsr.method.grid import PatchPlan

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2


def rgb_to_y(frames: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 RGB `(..., 3)` -> float64 `(...)` in [16, 235]."""
    if frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames (..., 3), got {frames.shape}")
    return frames.astype(np.float64) @ _Y_WEIGHTS + 16.0


def _crop(y: np.ndarray, border: int) -> np.ndarray:
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    if border == 0:
        return y
    if y.shape[-2] <= 2 * border or y.shape[-1] <= 2 * border:
        raise ValueError(f"frame {y.shape[-1]}x{y.shape[-2]} too small for a border of {border}")
    return y[..., border:-border, border:-border]


def _pair_y(pred: np.ndarray, ref: np.ndarray, border: int) -> tuple[np.ndarray, np.ndarray]:
    if pred.shape != ref.shape:
        raise ValueError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    return _crop(rgb_to_y(pred), border), _crop(rgb_to_y(ref), border)


def _frames(y: np.ndarray) -> np.ndarray:
    return y[None] if y.ndim == 2 else y


def psnr_y(pred: np.ndarray, ref: np.ndarray, border: int = 4) -> float:
    """PSNR (dB) on Y with `border` pixels cropped; for a stack, the mean of per-frame PSNRs.
    Identical frames give +inf."""
    yp, yr = _pair_y(pred, ref, border)
    values = []
    for p, r in zip(_frames(yp), _frames(yr), strict=True):
        mse = float(np.mean((p - r) ** 2))
        values.append(math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse))
    return float(np.mean(values))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter, 'valid' region only. x: (N, 1, H, W) float64."""
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return F.conv2d(x, g.view(1, 1, 1, -1))


def ssim_y(pred: np.ndarray, ref: np.ndarray, border: int = 4) -> float:
    """SSIM on Y with `border` pixels cropped; for a stack, the mean of per-frame SSIMs."""
    yp, yr = _pair_y(pred, ref, border)
    p = torch.from_numpy(np.ascontiguousarray(_frames(yp)))[:, None]  # (F, 1, H, W)
    r = torch.from_numpy(np.ascontiguousarray(_frames(yr)))[:, None]
    if min(p.shape[-2:]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after the border crop, got {p.shape}")
    g = _gaussian_window()
    mu_p, mu_r = _filter_valid(p, g), _filter_valid(r, g)
    var_p = _filter_valid(p * p, g) - mu_p**2
    var_r = _filter_valid(r * r, g) - mu_r**2
    cov = _filter_valid(p * r, g) - mu_p * mu_r
    ssim_map = ((2 * mu_p * mu_r + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_p**2 + mu_r**2 + _SSIM_C1) * (var_p + var_r + _SSIM_C2)
    )
    return float(ssim_map.mean(dim=(1, 2, 3)).mean())


def temporal_consistency(pred: np.ndarray, ref: np.ndarray | None = None) -> float:
    """Mean |(pred[t+1] - pred[t]) - (ref[t+1] - ref[t])| on Y; without `ref`, the mean
    |pred[t+1] - pred[t]| (flicker). `(F, H, W, 3)` with F >= 2; lower is better."""
    if pred.ndim != 4 or len(pred) < 2:
        raise ValueError(f"need a stack of at least two RGB frames, got {pred.shape}")
    dp = np.diff(rgb_to_y(pred), axis=0)
    if ref is None:
        return float(np.mean(np.abs(dp)))
    if ref.shape != pred.shape:
        raise ValueError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    return float(np.mean(np.abs(dp - np.diff(rgb_to_y(ref), axis=0))))


# --- seams -----------------------------------------------------------------------------------


def seam_lines(plan: PatchPlan) -> tuple[list[int], list[int]]:
    """Interior edges of the base patches: the rows `y` (and columns `x`) where one base
    patch ends and the next begins, i.e. the seam lies between pixel y-1 and y."""
    ys = sorted({p.y0 for p in plan.base if p.y0 > 0})
    xs = sorted({p.x0 for p in plan.base if p.x0 > 0})
    return ys, xs


def _intensity(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C) or (F, H, W, C) in any dtype -> (F, H, W) float64, channel mean."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 2:
        return a[None]
    if a.ndim == 3:
        return a.mean(axis=-1)[None]
    if a.ndim == 4:
        return a.mean(axis=-1)
    raise ValueError(f"expected (H, W), (H, W, C) or (F, H, W, C), got {a.shape}")


@dataclass
class SeamStats:
    """Sums of absolute neighbour jumps, split into across-seam and elsewhere, per axis
    (0: jumps between rows, across horizontal seams; 1: between columns). Accumulates over
    frames so that a long video is scored without holding it."""

    seam_sum: list[float] = field(default_factory=lambda: [0.0, 0.0])
    seam_count: list[int] = field(default_factory=lambda: [0, 0])
    other_sum: list[float] = field(default_factory=lambda: [0.0, 0.0])
    other_count: list[int] = field(default_factory=lambda: [0, 0])

    def add(self, image_or_frames: np.ndarray, seams_y: list[int], seams_x: list[int]) -> None:
        v = _intensity(image_or_frames)
        for axis, seams in ((0, seams_y), (1, seams_x)):
            # jumps[..., i] is the jump between pixel i and i+1; a seam at s is jump s-1.
            jumps = np.abs(np.diff(v, axis=axis + 1))
            n = jumps.shape[axis + 1]
            at_seam = np.zeros(n, dtype=bool)
            idx = [s - 1 for s in seams if 0 < s <= n]
            at_seam[idx] = True
            shape = [1, 1, 1]
            shape[axis + 1] = n
            mask = np.broadcast_to(at_seam.reshape(shape), jumps.shape)
            self.seam_sum[axis] += float(jumps[mask].sum())
            self.seam_count[axis] += int(mask.sum())
            self.other_sum[axis] += float(jumps[~mask].sum())
            self.other_count[axis] += int((~mask).sum())

    def score(self) -> float:
        """Per axis, mean seam jump / mean other jump; the two axes averaged, weighted by
        their number of seam pixels. NaN when there are no seams."""
        ratios, weights = [], []
        for axis in (0, 1):
            if self.seam_count[axis] == 0:
                continue
            seam = self.seam_sum[axis] / self.seam_count[axis]
            other = self.other_sum[axis] / max(1, self.other_count[axis])
            if other == 0:
                ratio = 1.0 if seam == 0 else math.inf
            else:
                ratio = seam / other
            ratios.append(ratio)
            weights.append(self.seam_count[axis])
        if not ratios:
            return math.nan
        return float(np.average(ratios, weights=weights))


def seam_score(image_or_frames: np.ndarray, seams_y: list[int], seams_x: list[int]) -> float:
    """Mean absolute intensity jump across the seam lines divided by the mean jump between
    neighbouring pixels elsewhere along the same axis: ~1.0 no visible seams, >1 seams.
    `seams_y`/`seams_x` are the first row/column after each seam (see `seam_lines`)."""
    stats = SeamStats()
    stats.add(image_or_frames, seams_y, seams_x)
    return stats.score()


__all__ = [
    "SeamStats",
    "psnr_y",
    "rgb_to_y",
    "seam_lines",
    "seam_score",
    "ssim_y",
    "temporal_consistency",
]
