"""Pictures of the method, one module per family of figures:

- `grid`: the patch grid over a frame;
- `weights`: how the patch predictions are fused;
- `location`: the location conditioning (ROI mask and box/scale encoding);
- `context`: the global view and the local condition of a patch;
- `compare`: images side by side with zoomed crops;
- `live`: a figure redrawn for another patch without redrawing the rest (the demo's
  Explore), from the `*_parts` functions of the families above;
- `seams`: the shifted grid's steps, and differences around the seams;
- `loss`: a training loss curve beside a reference level;
- `figure` (the figure object and how it is written) and `draw` (styles and drawing pieces
  every family shares).

The CLI (`python -m patchvsr viz`), the Gradio demo and the notebooks all draw with these
functions, so they show the same thing: `from patchvsr import viz; viz.grid_figure(...)`.
Each returns a matplotlib `Figure` bound to the Agg canvas (see `figure`).

Frames are RGB uint8 arrays (H, W, 3) of the *input* clip; plans are in *output* pixels, on
the frame the pipeline plans (padding included).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from patchvsr.method.grid import PatchPlan
from patchvsr.method.weights import WeightMode
from patchvsr.viz.compare import auto_crop, compare_figure, resize_rgb
from patchvsr.viz.context import (
    context_figure,
    context_parts,
    global_view_image,
    patch_condition,
)
from patchvsr.viz.draw import (
    HIGHLIGHT,
    STYLES,
    check_index,
    default_patch_index,
    describe_patch,
    patch_role,
)
from patchvsr.viz.figure import (
    figure_to_array,
    figure_to_png,
    new_figure,
    save_figure,
)
from patchvsr.viz.grid import grid_figure, grid_parts
from patchvsr.viz.live import Dynamic, LiveFigure
from patchvsr.viz.location import location_figure, location_inputs, location_parts
from patchvsr.viz.loss import loss_figure
from patchvsr.viz.seams import seam_difference_figure, shifted_steps_figure
from patchvsr.viz.weights import ownership, weights_figure, weights_parts


def figure_set(
    frame: np.ndarray,
    plan: PatchPlan,
    index: int | None = None,
    mode: WeightMode = "paper",
    out_size: tuple[int, int] | None = None,
) -> dict[str, Figure]:
    """The four pictures of one patch of a plan over one input frame, keyed "grid",
    "weights", "location", "context": what the demo shows and a notebook can show.

    `out_size` = (height, width) of the output, which sets the location encoding's scale;
    by default the plan's frame (right when the plan is not padded)."""
    index = default_patch_index(plan) if index is None else check_index(plan, index)
    in_size = frame.shape[:2]
    out_size = out_size or (plan.height, plan.width)
    return {
        "grid": grid_figure(frame, plan, highlight=index),
        "weights": weights_figure(plan, index, mode, frame),
        "location": location_figure(plan, index, in_size=in_size, out_size=out_size),
        "context": context_figure(frame, plan, index),
    }


__all__ = [
    "HIGHLIGHT",
    "STYLES",
    "auto_crop",
    "compare_figure",
    "context_figure",
    "context_parts",
    "default_patch_index",
    "describe_patch",
    "figure_set",
    "figure_to_array",
    "figure_to_png",
    "global_view_image",
    "grid_figure",
    "grid_parts",
    "Dynamic",
    "LiveFigure",
    "location_figure",
    "location_inputs",
    "location_parts",
    "loss_figure",
    "new_figure",
    "ownership",
    "patch_condition",
    "patch_role",
    "resize_rgb",
    "save_figure",
    "seam_difference_figure",
    "shifted_steps_figure",
    "weights_figure",
    "weights_parts",
]
