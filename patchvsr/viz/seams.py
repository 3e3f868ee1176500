"""Seams: where the shifted grid puts them from step to step, and where two outputs differ
around them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from patchvsr.luma import LUMA
from patchvsr.method.grid import PatchPlan, step_plan
from patchvsr.viz.draw import HALO, draw_frame, frame_panel_size, outline
from patchvsr.viz.figure import new_figure

# One colour and dash per step, told apart in greyscale too.
_STEP_STYLES = [("#ffffff", "-"), ("#ffa31a", (0, (6, 3))), ("#33c3ff", (0, (2, 2)))]


def shifted_steps_figure(
    frame: np.ndarray | None, plan: PatchPlan, steps: int = 2, title: str | None = None
) -> Figure:
    """The patches of a shifted plan's first `steps` denoising steps over one frame, one
    colour per step: a seam of one step lies inside a patch of the next."""
    if plan.scheme != "shifted":
        raise ValueError(f"a shifted plan is needed, got the {plan.scheme} scheme")
    if not 1 <= steps <= len(_STEP_STYLES):
        raise ValueError(f"steps must be in 1-{len(_STEP_STYLES)}, got {steps}")
    pw, ph = frame_panel_size(plan.height, plan.width, 9.0)
    fig = new_figure(pw, ph + 1.1)
    ax = fig.add_subplot()
    draw_frame(ax, frame, plan.height, plan.width, gray=True)
    handles = []
    for k in range(steps):
        colour, ls = _STEP_STYLES[k]
        step = step_plan(plan, k)
        for patch in step.patches:
            outline(ax, patch, colour, ls, 2.0)
        dy, dx = step.offset
        handles.append(
            Line2D(
                [],
                [],
                color=colour if k else "#4a4a4a",
                ls=ls,
                lw=2,
                label=f"step {k + 1}: {len(step.patches)} patches, seams moved {dx:+d} px (x), "
                f"{dy:+d} px (y)",
            )
        )
    fig.legend(handles=handles, loc="outside lower center", ncol=1, fontsize=9, frameon=False)
    ax.set_title(
        title
        or f"Shifted grid, {plan.width}x{plan.height}, patch {plan.patch_size}: "
        f"the first {steps} steps",
        fontsize=11,
    )
    return fig


def _luma(image: np.ndarray) -> np.ndarray:
    return image[..., :3].astype(np.float32) @ np.array(LUMA, np.float32)


def _block_mean(image: np.ndarray, block: int) -> np.ndarray:
    """Means over block x block squares (the ragged edge dropped)."""
    h, w = image.shape[0] // block * block, image.shape[1] // block * block
    return image[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))


def seam_difference_figure(
    images: Sequence[np.ndarray],
    reference: np.ndarray,
    names: Sequence[str],
    seams: tuple[Sequence[int], Sequence[int]],
    title: str | None = None,
) -> Figure:
    """Each image's luma difference from `reference` (H, W, 3 uint8 each), averaged over square
    blocks (at most 320 across, so the map shows structure rather than pixel noise) on one
    colour scale stretched to the largest block values, with the base patches' seams
    (`metrics.seam_lines`) drawn as thin lines: a seam that an image leaves shows up as a
    bright line on a drawn one."""
    ref = _luma(reference)
    h, w = ref.shape
    block = max(1, -(-max(h, w) // 320))
    diffs = [_block_mean(np.abs(_luma(image) - ref), block) for image in images]
    top = float(np.percentile(np.concatenate([d.ravel() for d in diffs]), 99.5))
    top = max(0.1, float(np.ceil(top * 10) / 10))
    pw, ph = frame_panel_size(h, w, 4.6)
    fig = new_figure(pw * len(images) + 1.0, ph + 0.9)
    axes = fig.subplots(1, len(images), squeeze=False)[0]
    for ax, diff, name in zip(axes, diffs, names, strict=True):
        shown = ax.imshow(
            diff, cmap="magma", vmin=0, vmax=top, interpolation="nearest", extent=(0, w, h, 0)
        )
        for y in seams[0]:
            ax.axhline(y - 0.5, color="#33c3ff", lw=0.8, ls=(0, (4, 3)), path_effects=HALO)
        for x in seams[1]:
            ax.axvline(x - 0.5, color="#33c3ff", lw=0.8, ls=(0, (4, 3)), path_effects=HALO)
        ax.set_title(f"{name}\nmean {diff.mean():.2f} levels", fontsize=10)
        ax.tick_params(labelsize=8)
    bar = fig.colorbar(shown, ax=list(axes), shrink=0.85)
    per = f", {block}x{block} block means" if block > 1 else ""
    bar.set_label(f"|luma difference|\n(levels of 255{per})", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    fig.suptitle(
        title or "Difference from the reference; dashed: the base patches' seams", fontsize=11
    )
    return fig
