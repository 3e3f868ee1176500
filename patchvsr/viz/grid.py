"""The patch grid over a frame: base patches, auxiliary seam patches by kind, indices."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch as LegendSwatch

from patchvsr.grid import PatchPlan
from patchvsr.viz.draw import (
    HIGHLIGHT,
    STYLES,
    TEXT_HALO,
    check_index,
    describe_patch,
    draw_frame,
    frame_panel_size,
    highlight_patch,
    outline,
    patch_role,
)
from patchvsr.viz.figure import new_figure


def grid_figure(
    frame: np.ndarray | None,
    plan: PatchPlan,
    highlight: int | None = None,
    labels: bool = True,
    title: str | None = None,
) -> Figure:
    """The plan's patches over a frame: base patches solid, auxiliary patches coloured and
    dashed by seam kind (vertical, horizontal, crossing), an optional highlighted patch, and
    each patch's index at its centre (the index that `--patch-index` takes)."""
    if highlight is not None:
        check_index(plan, highlight)
    pw, ph = frame_panel_size(plan.height, plan.width, 10.0)
    narrow = pw < 7.0  # portrait frames: keep room for the title and legend beside the axes
    fig = new_figure(max(pw, 7.0), ph + (1.6 if narrow else 1.2))
    ax = fig.add_subplot()
    draw_frame(ax, frame, plan.height, plan.width)

    # Auxiliary boxes share edges with base boxes; a small inset keeps both lines visible.
    inset = {"base": 0.0, "window": 0.0, "v": 0.006, "h": 0.006, "x": 0.012}
    size = max(plan.height, plan.width)
    order = {"base": 0, "window": 0, "v": 1, "h": 2, "x": 3}
    indexed = sorted(enumerate(plan.patches), key=lambda ip: order[patch_role(plan, ip[1])])
    for i, patch in indexed:
        role = patch_role(plan, patch)
        style = STYLES[role]
        outline(ax, patch, style["color"], style["ls"], 1.6, inset[role] * size)
        if labels:
            ax.text(
                (patch.x0 + patch.x1) / 2,
                (patch.y0 + patch.y1) / 2,
                str(i),
                color=style["color"],
                fontsize=8 if len(plan.patches) > 40 else 9,
                ha="center",
                va="center",
                path_effects=TEXT_HALO,
            )
    if highlight is not None:
        highlight_patch(ax, plan.patches[highlight], f"#{highlight}")

    roles = sorted({patch_role(plan, p) for p in plan.patches}, key=order.get)
    handles = [
        LegendSwatch(
            facecolor="none",
            edgecolor=STYLES[r]["plot"],
            linestyle=STYLES[r]["ls"],
            linewidth=2,
            label=STYLES[r]["label"],
        )
        for r in roles
    ]
    if highlight is not None:
        handles.append(
            LegendSwatch(
                facecolor=HIGHLIGHT, alpha=0.6, label=f"selected: {describe_patch(plan, highlight)}"
            )
        )
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 2 if narrow else 3),
        fontsize=9,
        frameon=False,
    )
    ax.set_title(title or "Patch grid: " + _title_for(plan), fontsize=11)
    return fig


def _title_for(plan: PatchPlan) -> str:
    if plan.scheme == "paper":
        count = f"{len(plan.base)} base + {len(plan.aux)} auxiliary"
    elif plan.scheme == "sliding":
        count = f"{len(plan.patches)} windows, {plan.overlap:.0%} overlap"
    else:
        count = f"{len(plan.patches)} tiles"
    return (
        f"{plan.width}x{plan.height} output, patch {plan.patch_size}, {plan.scheme} scheme\n"
        f"{count} = {plan.evaluations_per_step} model evaluations per step"
    )
