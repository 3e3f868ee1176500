"""What tells the model where a patch lies: its ROI mask on the global view, its sinusoidal
box/scale encoding, and how that encoding tells patches apart."""

from __future__ import annotations

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from patchvsr.method import context, location
from patchvsr.method.grid import PatchPlan
from patchvsr.viz.draw import (
    HALO,
    HIGHLIGHT,
    Box,
    check_index,
    default_patch_index,
    frame_panel_size,
)
from patchvsr.viz.figure import new_figure
from patchvsr.viz.live import Dynamic


def location_inputs(
    plan: PatchPlan, in_size: tuple[int, int], out_size: tuple[int, int]
) -> tuple[list[Box], float]:
    """What the pipeline gives the location encoding for `plan`: each patch's box as
    fractions of the planned frame (padding included, as the model sees it) and the one scale
    factor of the resize from `in_size` to `out_size` (both (height, width), unpadded)."""
    boxes = [location.normalized_box(p, plan.height, plan.width) for p in plan.patches]
    return boxes, location.location_scale(in_size, out_size)


def location_figure(
    plan: PatchPlan,
    index: int | None = None,
    *,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    base: int | None = None,
    num_freqs: int = location.DEFAULT_NUM_FREQS,
) -> Figure:
    """What tells the model where patch `index` lies: its ROI mask on the global view's grid,
    how similar its sinusoidal box/scale encoding is to that of the same box elsewhere, the
    encoding itself (5 values x sin/cos x frequencies), and the encodings of all patches.

    `in_size` and `out_size` = (height, width) of the input clip and of the output set the
    scale factor (`location_inputs`); `in_size` also sets the global view's shape. `base` is
    the global view's long side (default: the patch size)."""
    index = default_patch_index(plan) if index is None else check_index(plan, index)
    fig, dynamic = location_parts(
        plan, in_size=in_size, out_size=out_size, base=base, num_freqs=num_freqs, first=index
    )
    dynamic(index)
    return fig


def location_parts(
    plan: PatchPlan,
    *,
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    base: int | None = None,
    num_freqs: int = location.DEFAULT_NUM_FREQS,
    first: int | None = None,
) -> tuple[Figure, Dynamic]:
    """The location figure without a chosen patch, and the function that draws one patch's
    parts on it (see `viz.live`). The similarity's colour range is that of patch `first`
    (default: the default patch), so every patch is drawn on the same colour bar."""
    H, W = plan.height, plan.width
    boxes, scale = location_inputs(plan, in_size, out_size)
    gh, gw = context.global_view_size(*in_size, base or plan.patch_size)

    pw, ph = frame_panel_size(H, W, 5.4)
    fig = new_figure(2 * pw + 1.2, ph + 4.4)
    grid = fig.add_gridspec(2, 2, height_ratios=[ph, 3.0], width_ratios=[1, 1.15])
    ax_m, ax_s = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_e, ax_a = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])

    ax_m.tick_params(labelsize=8)
    ax_m.set_xlim(-0.5, gw - 0.5)
    ax_m.set_ylim(gh - 0.5, -0.5)
    ax_m.set_aspect("equal")

    maps: dict[int, np.ndarray] = {}  # each patch's map is computed once

    def similarity(index: int) -> np.ndarray:
        if index not in maps:
            box = boxes[index]
            size = (box[2] - box[0], box[3] - box[1])
            maps[index] = location.encoding_similarity_map(
                box, size, scale, grid=64, num_freqs=num_freqs
            )
        return maps[index]

    # The colour range starts near the map's minimum: the shared scale term keeps it well
    # above -1. One range for every patch, so the colour bar is drawn once.
    first = default_patch_index(plan) if first is None else check_index(plan, first)
    low = min(float(similarity(first).min()), 0.99)
    ax_s.set_facecolor("#dddddd")
    centres = np.array([((p.x0 + p.x1) / 2, (p.y0 + p.y1) / 2) for p in plan.patches])
    ax_s.scatter(
        centres[:, 0],
        centres[:, 1],
        s=10,
        c="#33c3ff",
        edgecolors="black",
        linewidths=0.5,
        label="patch centres",
        zorder=3,
    )
    star = dict(marker="*", color=HIGHLIGHT, markeredgecolor="black", linestyle="none")
    handles, _ = ax_s.get_legend_handles_labels()
    ax_s.legend(
        [*handles, Line2D([], [], markersize=12, **star)],
        ["patch centres", "selected patch"],
        fontsize=8,
        loc="lower right",
        framealpha=0.85,
    )
    ax_s.set_xlim(0, W)
    ax_s.set_ylim(H, 0)
    ax_s.tick_params(labelsize=8)
    fig.colorbar(
        ScalarMappable(Normalize(low, 1), "magma"),
        ax=ax_s,
        shrink=0.85,
        label="cosine similarity",
        extend="min",
    )

    values = ["y0", "x0", "y1", "x1", "log2(scale)/4"]
    # The encoding's values are sines and cosines: one fixed range, so its bar is static.
    fig.colorbar(ScalarMappable(Normalize(-1, 1), "RdBu_r"), ax=ax_e, shrink=0.85, label="value")
    ax_e.set_xticks(
        range(2 * num_freqs),
        [f"{f}{k}" for f in ("sin", "cos") for k in range(num_freqs)],
        fontsize=8,
        rotation=90,
    )
    ax_e.set_yticks(range(5), values, fontsize=8)
    ax_e.set_xlim(-0.5, 2 * num_freqs - 0.5)
    ax_e.set_ylim(4.5, -0.5)

    everything = location.location_encoding(boxes, scale, num_freqs).numpy()
    image = ax_a.imshow(
        everything, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest"
    )
    for v in range(1, 5):
        ax_a.axvline(v * 2 * num_freqs - 0.5, color="black", linewidth=0.8)
    ax_a.set_xticks([(v + 0.5) * 2 * num_freqs - 0.5 for v in range(5)], values, fontsize=8)
    ax_a.set_ylabel("patch index", fontsize=8)
    ax_a.tick_params(labelsize=8)
    fig.colorbar(image, ax=ax_a, shrink=0.85)

    def dynamic(index: int) -> list:
        patch = plan.patches[check_index(plan, index)]
        box = boxes[index]
        mask = ax_m.imshow(
            location.roi_mask(box, gh, gw), cmap="gray", vmin=0, vmax=1, interpolation="nearest"
        )
        artists = [mask]
        artists.append(
            ax_m.set_title(
                f"ROI mask of patch #{index} on the global view's grid\n"
                f"({gw}x{gh}, white = inside the patch)",
                fontsize=10,
            )
        )
        # The map's cells are top-left corners; draw it at the box centres they stand for (a
        # box as wide as the frame has one position: spread it over the frame).
        x_lo, x_hi = _centre_span(box[3] - box[1], W)
        y_lo, y_hi = _centre_span(box[2] - box[0], H)
        artists.append(
            ax_s.imshow(
                similarity(index),
                cmap="magma",
                vmin=low,
                vmax=1,
                extent=(x_lo, x_hi, y_hi, y_lo),
                interpolation="bilinear",
                zorder=1,
            )
        )
        ax_s.set_xlim(0, W)
        ax_s.set_ylim(H, 0)
        centre = ((patch.x0 + patch.x1) / 2, (patch.y0 + patch.y1) / 2)
        artists += ax_s.plot(*centre, markersize=14, zorder=4, **star)
        artists.append(
            ax_s.set_title(
                f"Encoding similarity to patch #{index}\n"
                f"(a box of its size centred at each point, scale x{scale:.3g})",
                fontsize=10,
            )
        )

        encoding = everything[index]
        artists.append(
            ax_e.imshow(
                encoding.reshape(5, 2 * num_freqs),
                cmap="RdBu_r",
                vmin=-1,
                vmax=1,
                aspect="auto",
                interpolation="nearest",
            )
        )
        artists.append(ax_e.axvline(num_freqs - 0.5, color="black", linewidth=1.5))
        numbers = ", ".join(f"{v:.2f}" for v in [*box, np.log2(scale) / 4])
        artists.append(
            ax_e.set_title(
                f"Encoding of patch #{index}: {encoding.size} values (frequency pi*2^k)\n"
                f"of {numbers}",
                fontsize=10,
            )
        )
        artists.append(ax_a.axhline(index, color=HIGHLIGHT, linewidth=2.5, path_effects=HALO))
        artists.append(
            ax_a.set_title(
                f"Encodings of all {len(plan.patches)} patches (row #{index} marked)", fontsize=10
            )
        )
        return artists

    return fig, dynamic


def _centre_span(fraction: float, length: int) -> tuple[float, float]:
    low, high = fraction / 2 * length, (1 - fraction / 2) * length
    return (low, high) if high - low >= 1 else (0.0, float(length))
