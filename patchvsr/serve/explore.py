"""What the demo's Explore tab shows, and the demo's wording of errors.

The plan is `patchvsr.request.plan_for` with the geometry of the 1.3B model (read from its
configuration, no weights), the same call `python -m patchvsr plan` makes and the pipeline
runs: the padded frame on the model's token lattice.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from patchvsr import viz
from patchvsr.cost import plan_report
from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import VideoInfo
from patchvsr.io.reader import read_frame
from patchvsr.method.grid import PatchPlan
from patchvsr.method.location import normalized_box
from patchvsr.models.configs import PlanGeometry, geometry_for
from patchvsr.request import Request, RequestError, parse_size, plan_for, plan_request
from patchvsr.viz.pick import axes_map

EXPLORE_MODEL = "wan2.1-1.3b"  # whose plan Explore draws (its cost is what the report counts)
FIGURES = ("grid", "weights", "location", "context")
# How the page names the settings that a refused request names.
PAGE_NAMES = {
    "scale": "Scale",
    "size": "Output size",
    "patch": "Patch size",
    "overlap": "Overlap",
    "scheme": "Scheme",
    "steps": "Steps",
    "strength": "Strength",
}


def page_message(err: PatchVSRError, path: str | None = None) -> str:
    """An error as the page says it: settings by their names on the page, an upload's server
    path shortened to its file name."""
    text = err.worded(PAGE_NAMES) if isinstance(err, RequestError) else str(err)
    return text.replace(str(path), Path(path).name) if path else text


@lru_cache(maxsize=1)
def explore_geometry() -> PlanGeometry:
    return geometry_for(EXPLORE_MODEL)


def page_request(info: VideoInfo, scale, size: str, patch, scheme: str, overlap) -> Request:
    """The request the page's settings describe (an explicit size wins over the scale)."""
    return Request.make(
        (info.height, info.width),
        scale=float(scale),
        size=parse_size(size) if size and size.strip() else None,
        patch_size=int(patch),
        scheme=scheme,
        overlap=float(overlap) if scheme == "sliding" else None,
    )


def page_plan(info: VideoInfo, scale, size: str, patch, scheme: str, overlap) -> tuple:
    """(request, plan) for the page's settings."""
    request = page_request(info, scale, size, patch, scheme, overlap)
    return request, plan_request(explore_geometry(), request)


def patch_index(plan: PatchPlan, index: int) -> int:
    """The chosen patch of the plan: -1 means the default one; past the end, the last."""
    return viz.default_patch_index(plan) if index < 0 else min(int(index), len(plan.patches) - 1)


def describe_selection(plan: PatchPlan, index: int) -> str:
    p = plan.patches[index]
    return (
        f"selected      {viz.describe_patch(plan, index)}: x {p.x0}-{p.x1}, y {p.y0}-{p.y1} "
        f"of {plan.width}x{plan.height}"
    )


@lru_cache(maxsize=16)
def clip_frame(path: str, index: int) -> np.ndarray:
    return read_frame(path, index)


def explore_view(path: str, frame: int, request: Request, plan: PatchPlan, index: int, weights):
    """The four pictures (arrays), the report and where the grid's axes lie (for clicks)."""
    figures = viz.figure_set(
        clip_frame(path, int(frame)), plan, index, weights, out_size=request.out_hw
    )
    pictures = [viz.figure_to_array(figures[k]) for k in FIGURES]
    where = axes_map(figures["grid"]).to_dict()
    report = (
        describe_selection(plan, index) + "\n" + plan_report(plan, request.in_hw, request.out_hw)
    )
    return pictures, report, where


def crop_of(out_hw: tuple[int, int], patch, scheme: str, overlap, index: int) -> tuple:
    """The region of the patch chosen in Explore, on a checked output size, to zoom into, and
    its label; (None, "") when there is no such plan or the patch covers much of the frame (a
    zoom that shows nothing new)."""
    try:
        sliding = float(overlap) if scheme == "sliding" else None
        plan = plan_for(explore_geometry(), out_hw, int(patch), scheme, sliding)
    except PatchVSRError:
        return None, ""
    index = patch_index(plan, index)
    box = normalized_box(plan.patches[index], plan.height, plan.width)
    if (box[2] - box[0]) * (box[3] - box[1]) > 0.25:
        return None, ""
    return box, f"patch {viz.describe_patch(plan, index)}"
