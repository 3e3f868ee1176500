"""The two views of a patch the model gets: the global view of the whole frame with the
patch's region marked, and the local condition, the bicubic upscale of the patch."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image

from patchvsr.method import context, location
from patchvsr.method.grid import PatchPlan
from patchvsr.viz.draw import HALO, HIGHLIGHT, check_index, default_patch_index, describe_patch
from patchvsr.viz.figure import new_figure
from patchvsr.viz.live import Dynamic


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
    fig, dynamic = context_parts(frame, plan, base, patches=[plan.patches[index]])
    dynamic(index)
    return fig


def context_parts(
    frame: np.ndarray, plan: PatchPlan, base: int | None = None, patches=None
) -> tuple[Figure, Dynamic]:
    """The context figure without a chosen patch, and the function that draws one patch's
    parts on it (see `viz.live`). The local condition's panel fits the largest of `patches`
    (default: all of the plan's)."""
    base = base or plan.patch_size
    h, w = frame.shape[:2]
    view = global_view_image(frame, base)
    vh, vw = view.shape[:2]
    patches = patches or plan.patches
    local_w, local_h = max(p.width for p in patches), max(p.height for p in patches)

    ratios = [w / h, vw / vh, local_w / local_h]
    panel_h = min(3.6, 14.0 / sum(ratios))
    fig = new_figure(panel_h * sum(ratios) + 0.8, panel_h + 1.0)
    axes = fig.subplots(1, 3, width_ratios=ratios)
    sy, sx = h / plan.height, w / plan.width
    axes[0].imshow(frame, interpolation="nearest")
    axes[1].set_xlim(-0.5, vw - 0.5)
    axes[1].set_ylim(vh - 0.5, -0.5)
    axes[2].set_xlim(-0.5, local_w - 0.5)
    axes[2].set_ylim(local_h - 0.5, -0.5)
    for ax in axes:
        ax.set_aspect("equal")
        ax.tick_params(labelsize=8)

    def dynamic(index: int) -> list:
        patch = plan.patches[check_index(plan, index)]
        box = location.normalized_box(patch, plan.height, plan.width)
        region = Rectangle(
            (patch.x0 * sx - 0.5, patch.y0 * sy - 0.5),
            patch.width * sx,
            patch.height * sy,
            fill=False,
            edgecolor=HIGHLIGHT,
            linewidth=2.0,
            path_effects=HALO,
        )
        roi = Rectangle(
            (box[1] * vw - 0.5, box[0] * vh - 0.5),
            (box[3] - box[1]) * vw,
            (box[2] - box[0]) * vh,
            fill=False,
            edgecolor=HIGHLIGHT,
            linewidth=1.5,
        )
        marked = axes[1].imshow(context.mark_roi(view, box), interpolation="nearest")
        local = axes[2].imshow(patch_condition(frame, plan, index), interpolation="nearest")
        for ax, limits in zip(axes[1:], ((vw, vh), (local_w, local_h)), strict=True):
            ax.set_xlim(-0.5, limits[0] - 0.5)  # imshow fits the axes to the image: undo
            ax.set_ylim(limits[1] - 0.5, -0.5)
        return [
            axes[0].add_patch(region),
            axes[0].set_title(f"Input frame {w}x{h}\npatch #{index} region", fontsize=10),
            marked,
            axes[1].add_patch(roi),
            axes[1].set_title(
                f"Global view {vw}x{vh} (long side {base})\nROI bright, rest dimmed",
                fontsize=10,
            ),
            local,
            axes[2].set_title(
                f"Local condition: bicubic x{plan.width / w:.3g}\n"
                f"{patch.width}x{patch.height} crop",
                fontsize=10,
            ),
            fig.suptitle(
                f"What the model sees for patch {describe_patch(plan, index)}", fontsize=11
            ),
        ]

    return fig, dynamic
