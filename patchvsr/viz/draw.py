"""What every family of figures shares: one style per patch role, the input frame stretched
over the output extent, patch outlines and the highlighted patch, and the patch chosen when
none is given.

A frame is drawn stretched over the output extent, so patch boxes are plotted in their own
coordinates and the upscaled frame is never materialised (a 4K canvas would cost memory for
nothing).
"""

from __future__ import annotations

import numpy as np
from matplotlib import patheffects
from matplotlib.patches import Rectangle

from patchvsr.luma import LUMA
from patchvsr.method.grid import Patch, PatchPlan

Box = tuple[float, float, float, float]  # normalised (y0, x0, y1, x1), end exclusive

# One colour per patch role. Base edges are light so they read on dark and bright footage alike
# (a dark halo is added under every line); auxiliary patches are told apart by colour *and*
# dash pattern, so the picture survives greyscale printing and colour blindness.
STYLES: dict[str, dict] = {
    "base": {"color": "#ffffff", "plot": "#4a4a4a", "ls": "-", "label": "base patch"},
    "v": {"color": "#ffa31a", "plot": "#e08600", "ls": (0, (7, 3)), "label": "aux: vertical seam"},
    "h": {
        "color": "#33c3ff",
        "plot": "#0a8fd1",
        "ls": (0, (3, 2)),
        "label": "aux: horizontal seam",
    },
    "x": {
        "color": "#ff4fb8",
        "plot": "#d1007a",
        "ls": (0, (1, 1.5)),
        "label": "aux: seam crossing",
    },
    "window": {"color": "#b6ff5c", "plot": "#4d9900", "ls": "-", "label": "sliding window"},
}
HIGHLIGHT = "#ffe600"
HALO = [patheffects.withStroke(linewidth=3.2, foreground="black", alpha=0.55)]
TEXT_HALO = [patheffects.withStroke(linewidth=2.2, foreground="black")]


def default_patch_index(plan: PatchPlan) -> int:
    """The patch a picture shows when none is chosen: the auxiliary patch nearest the frame
    centre (it shows the seam blending), else the patch nearest the centre."""
    candidates = plan.aux or list(plan.patches)
    cy, cx = plan.height / 2, plan.width / 2

    def distance(p: Patch) -> float:
        return ((p.y0 + p.y1) / 2 - cy) ** 2 + ((p.x0 + p.x1) / 2 - cx) ** 2

    return plan.patches.index(min(candidates, key=distance))


def patch_role(plan: PatchPlan, patch: Patch) -> str:
    """Key into STYLES: "base", a seam kind "v"/"h"/"x", or "window" for sliding windows."""
    if plan.scheme == "sliding":
        return "window"
    return patch.seam or "base"


def describe_patch(plan: PatchPlan, index: int) -> str:
    patch = plan.patches[check_index(plan, index)]
    return f"#{index} {STYLES[patch_role(plan, patch)]['label']} ({patch.width}x{patch.height})"


def check_index(plan: PatchPlan, index: int) -> int:
    if not 0 <= index < len(plan.patches):
        raise IndexError(
            f"patch index {index} out of range: the plan has {len(plan.patches)} patches (0-{len(plan.patches) - 1})"
        )
    return index


def frame_panel_size(height: int, width: int, panel_width: float) -> tuple[float, float]:
    """Panel (width, height) in inches for a frame, capped so tall frames stay on screen."""
    panel_height = panel_width * height / width
    if panel_height > 0.9 * panel_width:  # portrait or square: shrink the width instead
        panel_height = 0.9 * panel_width
        panel_width = panel_height * width / height
    return panel_width, panel_height


def draw_frame(ax, frame: np.ndarray | None, height: int, width: int, gray: bool = False) -> None:
    """The input frame stretched over the output extent (y down), or a neutral background."""
    if frame is None:
        ax.imshow(np.full((2, 2, 3), 0.25), extent=(0, width, height, 0))
    elif gray:
        luma = frame[..., :3].astype(np.float32) @ np.array(LUMA, np.float32)
        ax.imshow(luma, cmap="gray", vmin=0, vmax=255, extent=(0, width, height, 0), alpha=0.6)
    else:
        ax.imshow(frame, extent=(0, width, height, 0), interpolation="bilinear")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.tick_params(labelsize=8)


def outline(ax, patch: Patch, color: str, ls="-", lw: float = 1.6, inset: float = 0.0):
    return ax.add_patch(
        Rectangle(
            (patch.x0 + inset, patch.y0 + inset),
            patch.width - 2 * inset,
            patch.height - 2 * inset,
            fill=False,
            edgecolor=color,
            linestyle=ls,
            linewidth=lw,
            path_effects=HALO,
        )
    )


def highlight_patch(ax, patch: Patch, text: str) -> list:
    """A patch filled and outlined in the highlight colour, with `text` in its corner; returns
    the artists drawn."""
    fill = ax.add_patch(
        Rectangle(
            (patch.x0, patch.y0),
            patch.width,
            patch.height,
            facecolor=HIGHLIGHT,
            alpha=0.18,
            edgecolor="none",
        )
    )
    edge = outline(ax, patch, HIGHLIGHT, lw=3.0)
    label = ax.text(
        patch.x0 + 0.03 * patch.width,
        patch.y0 + 0.05 * patch.height,
        text,
        color=HIGHLIGHT,
        fontsize=12,
        fontweight="bold",
        va="top",
        path_effects=TEXT_HALO,
    )
    return [fill, edge, label]
