"""The two views of a patch the model gets: the global view of the whole frame with the
patch's region marked, and the local condition, the bicubic upscale of the patch."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from patchvsr import context, location
from patchvsr.grid import PatchPlan
from patchvsr.viz.draw import HALO, HIGHLIGHT, check_index, default_patch_index, describe_patch
from patchvsr.viz.figure import new_figure


def global_view_image(frame: np.ndarray, base: int) -> np.ndarray:
    """The frame as the global branch sees it: `context.global_view` applied to one frame."""
    video = torch.from_numpy(np.array(frame[..., :3], dtype=np.float32)).permute(2, 0, 1)[
        None, :, None
    ]
    view = context.global_view(video, base)[0, :, 0].permute(1, 2, 0)  # (h, w, 3)
    return view.round().clamp(0, 255).to(torch.uint8).numpy()


def patch_condition(frame: np.ndarray, plan: PatchPlan, index: int) -> np.ndarray:
    """The patch's local condition: its box of the bicubic upscale of `frame` to the plan's
    size, cut without upscaling the rest of the frame."""
    patch = plan.patches[check_index(plan, index)]
    sy, sx = frame.shape[0] / plan.height, frame.shape[1] / plan.width
    source = (patch.x0 * sx, patch.y0 * sy, patch.x1 * sx, patch.y1 * sy)
    image = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    return np.asarray(
        image.resize((patch.width, patch.height), Image.Resampling.BICUBIC, box=source)
    )


def context_figure(
    frame: np.ndarray,
    plan: PatchPlan,
    index: int | None = None,
    base: int | None = None,
) -> Figure:
    """The two views of patch `index` the model gets: the input frame with the patch's region,
    the global view (long side `base`, default the patch size; aspect kept, no padding) with
    the ROI marked, and the local condition, the bicubic upscale of the patch."""
    index = default_patch_index(plan) if index is None else check_index(plan, index)
    patch = plan.patches[index]
    base = base or plan.patch_size
    h, w = frame.shape[:2]
    box = location.normalized_box(patch, plan.height, plan.width)
    view = global_view_image(frame, base)
    marked = context.mark_roi(view, box)
    local = patch_condition(frame, plan, index)

    ratios = [w / h, view.shape[1] / view.shape[0], patch.width / patch.height]
    panel_h = min(3.6, 14.0 / sum(ratios))
    fig = new_figure(panel_h * sum(ratios) + 0.8, panel_h + 1.0)
    axes = fig.subplots(1, 3, width_ratios=ratios)
    sy, sx = h / plan.height, w / plan.width
    axes[0].imshow(frame, interpolation="nearest")
    axes[0].add_patch(
        Rectangle(
            (patch.x0 * sx - 0.5, patch.y0 * sy - 0.5),
            patch.width * sx,
            patch.height * sy,
            fill=False,
            edgecolor=HIGHLIGHT,
            linewidth=2.0,
            path_effects=HALO,
        )
    )
    axes[0].set_title(f"Input frame {w}x{h}\npatch #{index} region", fontsize=10)
    axes[1].imshow(marked, interpolation="nearest")
    vh, vw = view.shape[:2]
    axes[1].add_patch(
        Rectangle(
            (box[1] * vw - 0.5, box[0] * vh - 0.5),
            (box[3] - box[1]) * vw,
            (box[2] - box[0]) * vh,
            fill=False,
            edgecolor=HIGHLIGHT,
            linewidth=1.5,
        )
    )
    axes[1].set_title(
        f"Global view {vw}x{vh} (long side {base})\nROI bright, rest dimmed", fontsize=10
    )
    axes[2].imshow(local, interpolation="nearest")
    axes[2].set_title(
        f"Local condition: bicubic x{plan.width / w:.3g}\n{patch.width}x{patch.height} crop",
        fontsize=10,
    )
    for ax in axes:
        ax.tick_params(labelsize=8)
    fig.suptitle(f"What the model sees for patch {describe_patch(plan, index)}", fontsize=11)
    return fig
