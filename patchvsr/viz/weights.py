"""How the patch predictions are fused: one patch's weight, the owner of each pixel, and the
weights along a row through a patch, which add up to one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch as LegendSwatch

from patchvsr.method.grid import Patch, PatchPlan
from patchvsr.method.weights import WeightMode, patch_weights
from patchvsr.viz.draw import (
    HIGHLIGHT,
    STYLES,
    check_index,
    default_patch_index,
    describe_patch,
    draw_frame,
    frame_panel_size,
    outline,
    patch_role,
)
from patchvsr.viz.figure import new_figure
from patchvsr.viz.live import Dynamic


def ownership(plan: PatchPlan, weights: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the index of the patch with the largest weight and that weight, (H, W) each."""
    best = np.full((plan.height, plan.width), -1.0)
    owner = np.full((plan.height, plan.width), -1, dtype=np.int64)
    for i, (p, w) in enumerate(zip(plan.patches, weights, strict=True)):
        region, who = best[p.y0 : p.y1, p.x0 : p.x1], owner[p.y0 : p.y1, p.x0 : p.x1]
        wins = w > region
        region[wins] = w[wins]
        who[wins] = i
    return owner, best


def _decimate(image: np.ndarray, limit: int = 1200) -> np.ndarray:
    """Every k-th pixel so the long side is at most `limit`: weight maps are smooth, and
    imshow of a full 4K canvas only costs time."""
    step = max(1, -(-max(image.shape[:2]) // limit))
    return image[::step, ::step]


def weights_figure(
    plan: PatchPlan,
    index: int | None = None,
    mode: WeightMode = "paper",
    frame: np.ndarray | None = None,
) -> Figure:
    """How the patch predictions are fused: (left) the normalised weight of patch `index` over
    the frame, (right) which patch weighs most at each pixel and how much, (bottom) every
    patch's weight along the row through the patch's centre, which add up to one."""
    index = default_patch_index(plan) if index is None else check_index(plan, index)
    fig, dynamic = weights_parts(plan, mode, frame)
    dynamic(index)
    return fig


def weights_parts(
    plan: PatchPlan, mode: WeightMode = "paper", frame: np.ndarray | None = None
) -> tuple[Figure, Dynamic]:
    """The weights figure without a chosen patch, and the function that draws one patch's
    parts on it (see `viz.live`)."""
    weights = patch_weights(plan, mode)
    H, W = plan.height, plan.width

    pw, ph = frame_panel_size(H, W, 5.6)
    fig = new_figure(2 * pw + 1.0, ph + 3.6)
    grid = fig.add_gridspec(2, 2, height_ratios=[ph, 2.2])
    ax_w, ax_o, ax_p = (
        fig.add_subplot(grid[0, 0]),
        fig.add_subplot(grid[0, 1]),
        fig.add_subplot(grid[1, :]),
    )

    # Left: one patch's weight; outside the patch the frame shows through in grey.
    draw_frame(ax_w, frame, H, W, gray=True)
    fig.colorbar(ScalarMappable(Normalize(0, 1), "viridis"), ax=ax_w, shrink=0.85, label="weight")

    # Right: the owner's colour (by role; base patches alternate two greys so neighbours
    # differ), darker where the owner shares the pixel with others.
    owner, best = ownership(plan, weights)
    owner, best = _decimate(owner), _decimate(best)
    palette = np.array([_rgb(STYLES[patch_role(plan, p)]["plot"]) for p in plan.patches])
    for i, p in enumerate(plan.patches):
        if patch_role(plan, p) in ("base", "window") and _checker(plan, p):
            palette[i] = _rgb("#9a9a9a")
    shaded = palette[owner] * (0.25 + 0.75 * best[..., None])
    ax_o.imshow(shaded.clip(0, 1), extent=(0, W, H, 0), interpolation="nearest")
    ax_o.set_xlim(0, W)
    ax_o.set_ylim(H, 0)
    ax_o.tick_params(labelsize=8)
    roles = sorted({patch_role(plan, p) for p in plan.patches}, key=list(STYLES).index)
    ax_o.legend(
        handles=[LegendSwatch(color=STYLES[r]["plot"], label=STYLES[r]["label"]) for r in roles],
        fontsize=8,
        loc="lower right",
        framealpha=0.85,
    )
    ax_o.set_title(
        "Patch with the largest weight at each pixel\n(darker = weight shared with neighbours)",
        fontsize=10,
    )
    _profile_axes(ax_p, plan)

    def dynamic(index: int) -> list:
        patch = plan.patches[check_index(plan, index)]
        # Only the patch's own box: outside it the frame shows through.
        image = ax_w.imshow(
            _decimate(weights[index], 400),
            cmap="viridis",
            vmin=0,
            vmax=1,
            extent=(patch.x0, patch.x1, patch.y1, patch.y0),
            interpolation="nearest",
        )
        ax_w.set_xlim(0, W)  # imshow fits the axes to the image: undo
        ax_w.set_ylim(H, 0)
        title = ax_w.set_title(
            f"Weight of patch {describe_patch(plan, index)}\n'{mode}' weights, normalised",
            fontsize=10,
        )
        edges = [outline(ax, patch, HIGHLIGHT, lw=2.0) for ax in (ax_w, ax_o)]
        # Bottom: a cross-section through the chosen patch's centre, across the seam it
        # blends over (a horizontal-seam patch fades vertically, everything else along a row).
        profile = _plot_profile(ax_p, plan, weights, index, vertical=patch.seam == "h")
        return [image, title, *edges, *profile]

    return fig, dynamic


def _profile_axes(ax, plan: PatchPlan) -> None:
    """The cross-section's axes and legend: by role, so they do not depend on the patch."""
    roles = sorted({patch_role(plan, p) for p in plan.patches}, key=list(STYLES).index)
    handles = [Line2D([], [], color="black", linewidth=2.6, label="selected patch")]
    handles += [
        Line2D(
            [], [], color=STYLES[r]["plot"], ls=STYLES[r]["ls"], lw=1.4, label=STYLES[r]["label"]
        )
        for r in roles
    ]
    handles.append(Line2D([], [], color="#c00000", ls="--", lw=1.2, label="sum of all weights"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    # One axis for rows and columns alike, so that it is drawn once for every patch.
    ax.set_xlim(0, max(plan.height, plan.width))
    ax.set_xlabel("position along the line (output pixels)", fontsize=8)
    ax.set_ylim(-0.03, 1.12)
    ax.set_ylabel("weight", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)


def _plot_profile(
    ax, plan: PatchPlan, weights: Sequence[np.ndarray], index: int, vertical: bool
) -> list:
    """The weights along the row (or column) through patch `index`; returns the artists.
    The axes' limits and labels follow the direction, so they are drawn here too."""
    patch = plan.patches[index]
    length = plan.height if vertical else plan.width
    at = (patch.x0 + patch.x1) // 2 if vertical else (patch.y0 + patch.y1) // 2
    total = np.zeros(length)
    artists = []
    for i, (p, w) in enumerate(zip(plan.patches, weights, strict=True)):
        lo, hi, cross = (p.y0, p.y1, (p.x0, p.x1)) if vertical else (p.x0, p.x1, (p.y0, p.y1))
        if not cross[0] <= at < cross[1]:
            continue
        values = w[:, at - p.x0] if vertical else w[at - p.y0]
        total[lo:hi] += values
        style = STYLES[patch_role(plan, p)]
        chosen = i == index
        (line,) = ax.plot(
            np.arange(lo, hi) + 0.5,
            values,
            color="black" if chosen else style["plot"],
            linestyle="-" if chosen else style["ls"],
            linewidth=2.6 if chosen else 1.4,
            label=f"#{i} (selected)" if chosen else f"#{i} {style['label']}",
            zorder=3 if chosen else 2,
        )
        artists.append(line)
    (line,) = ax.plot(
        np.arange(length) + 0.5,
        total,
        color="#c00000",
        linestyle="--",
        linewidth=1.2,
        label="sum of all weights",
    )
    span = ax.axvspan(
        patch.y0 if vertical else patch.x0,
        patch.y1 if vertical else patch.x1,
        color=HIGHLIGHT,
        alpha=0.25,
        linewidth=0,
    )
    where = f"column x = {at}" if vertical else f"row y = {at}"
    title = ax.set_title(f"Weights of every patch along {where} (they add up to one)", fontsize=10)
    return [*artists, line, span, title]


def _checker(plan: PatchPlan, patch: Patch) -> bool:
    rows = sorted({p.y0 for p in plan.base})
    cols = sorted({p.x0 for p in plan.base})
    return (rows.index(patch.y0) + cols.index(patch.x0)) % 2 == 1


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])
