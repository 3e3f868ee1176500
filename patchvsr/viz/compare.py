"""Images side by side (e.g. bicubic vs result) with zoomed crops of the same region."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from patchvsr.viz.draw import HALO, Box, frame_panel_size
from patchvsr.viz.figure import new_figure


def resize_rgb(image: np.ndarray, size: tuple[int, int], method: str = "bicubic") -> np.ndarray:
    """Resize an RGB uint8 image to `size` = (height, width) with PIL ("bicubic", "bilinear",
    "nearest", "lanczos")."""
    resample = getattr(Image.Resampling, method.upper())
    out = Image.fromarray(np.ascontiguousarray(image)).resize((size[1], size[0]), resample)
    return np.asarray(out)


def auto_crop(image: np.ndarray, fraction: float = 0.25) -> Box:
    """A square crop (side `fraction` of the short side) around the most detailed region,
    measured by gradient energy: where upscalers differ most."""
    luma = image[..., :3].astype(np.float32).mean(axis=-1)
    energy = np.abs(np.diff(luma, axis=0))[:, :-1] + np.abs(np.diff(luma, axis=1))[:-1, :]
    h, w = luma.shape
    side = max(2, int(round(fraction * min(h, w))))
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    k = min(side, energy.shape[0], energy.shape[1])
    sums = integral[k:, k:] - integral[:-k, k:] - integral[k:, :-k] + integral[:-k, :-k]
    y, x = np.unravel_index(np.argmax(sums), sums.shape)
    return (y / h, x / w, min(1.0, (y + side) / h), min(1.0, (x + side) / w))


_CROP_COLOURS = ["#ffe600", "#33c3ff", "#ff4fb8", "#b6ff5c"]


def compare_figure(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    crops: Sequence[Box] | None = None,
    title: str | None = None,
) -> Figure:
    """Two or more images side by side (e.g. bicubic vs result), each with its size, and below
    them the same zoomed crops of each, pixel for pixel (nearest neighbour). Images of different
    sizes are shown over the same extent; crops are normalised boxes (y0, x0, y1, x1), by
    default one around the most detailed region of the last image."""
    if len(images) < 2:
        raise ValueError("a comparison needs at least two images")
    titles = list(titles) if titles is not None else [f"image {i + 1}" for i in range(len(images))]
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    crops = list(crops) if crops is not None else [auto_crop(images[-1])]
    H, W = max(im.shape[0] for im in images), max(im.shape[1] for im in images)

    n = len(images)
    pw, ph = frame_panel_size(H, W, min(6.0, 16.0 / n))
    crop_h = pw * 0.9
    fig = new_figure(n * pw + 0.4, ph + len(crops) * crop_h + 0.9)
    grid = fig.add_gridspec(1 + len(crops), n, height_ratios=[ph] + [crop_h] * len(crops))
    for col, (image, name) in enumerate(zip(images, titles, strict=True)):
        ax = fig.add_subplot(grid[0, col])
        ax.imshow(image, extent=(0, W, H, 0), interpolation="bilinear")
        ax.set_title(f"{name}\n{image.shape[1]}x{image.shape[0]}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        for k, (y0, x0, y1, x1) in enumerate(crops):
            colour = _CROP_COLOURS[k % len(_CROP_COLOURS)]
            ax.add_patch(
                Rectangle(
                    (x0 * W, y0 * H),
                    (x1 - x0) * W,
                    (y1 - y0) * H,
                    fill=False,
                    edgecolor=colour,
                    linewidth=2,
                    path_effects=HALO,
                )
            )
            zoom = fig.add_subplot(grid[1 + k, col])
            h, w = image.shape[:2]
            r0, r1 = int(y0 * h), max(int(y0 * h) + 1, int(round(y1 * h)))
            c0, c1 = int(x0 * w), max(int(x0 * w) + 1, int(round(x1 * w)))
            zoom.imshow(image[r0:r1, c0:c1], interpolation="nearest")
            zoom.set_xticks([])
            zoom.set_yticks([])
            for spine in zoom.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(3)
            zoom.set_title(f"crop {k + 1}: {c1 - c0}x{r1 - r0} px", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
