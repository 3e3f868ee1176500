"""Pictures of the method: the patch grid, its blending weights, the location conditioning, the
global view and side-by-side comparisons.

The CLI (`python -m patchvsr viz`), the Gradio demo and the notebooks all draw with these
functions, so they show the same thing. Each returns a matplotlib `Figure` bound to the Agg
canvas and never touches pyplot: no global figure registry to leak memory or to race on in the
demo's worker threads, and no rcParams changes. Figures display themselves in notebooks.

Frames are RGB uint8 arrays (H, W, 3) of the *input* clip; plans are in *output* pixels. A frame
is drawn stretched over the output extent, so patch boxes are plotted in their own coordinates
and the upscaled frame is never materialised (a 4K canvas would cost memory for nothing).
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch as LegendSwatch
from matplotlib.patches import Rectangle
from PIL import Image

from patchvsr import context, location
from patchvsr.grid import Patch, PatchPlan, WeightMode, patch_weights

Box = tuple[float, float, float, float]  # normalised (y0, x0, y1, x1), end exclusive
DEFAULT_DPI = 100

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
_HALO = [patheffects.withStroke(linewidth=3.2, foreground="black", alpha=0.55)]
_TEXT_HALO = [patheffects.withStroke(linewidth=2.2, foreground="black")]


class PatchVSRFigure(Figure):
    """A Figure on the Agg canvas that renders itself as PNG in notebooks, pyplot or not."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


# --- output helpers --------------------------------------------------------------------------


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of `width` x `height` inches with constrained layout."""
    return PatchVSRFigure(figsize=(width, height), dpi=DEFAULT_DPI, layout="constrained")


def figure_to_png(fig: Figure, dpi: float | None = None) -> bytes:
    """Encode a figure as PNG bytes; its size in pixels is figsize x dpi."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi, facecolor="white")
    return buffer.getvalue()


def figure_to_array(fig: Figure, dpi: float | None = None) -> np.ndarray:
    """Render a figure to an RGB array (H, W, 3) uint8, exactly the pixels of `figure_to_png`."""
    with Image.open(io.BytesIO(figure_to_png(fig, dpi))) as image:
        return np.asarray(image.convert("RGB"))


_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg"}


def save_figure(fig: Figure, path: str | os.PathLike, dpi: float | None = None) -> Path:
    """Write a figure atomically: a temporary file in the target folder, then a rename, so a
    reader never sees half a file and a failure leaves nothing behind. The format follows the
    suffix (.png, .jpg, .pdf, .svg)."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported figure format {path.suffix!r}; use {', '.join(_FORMATS)}")
    # A unique name opened with O_EXCL (not mkstemp: its 0600 mode would stick to the figure).
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as handle:
            fig.savefig(handle, format=fmt, dpi=dpi or fig.dpi, facecolor="white")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def resize_rgb(image: np.ndarray, size: tuple[int, int], method: str = "bicubic") -> np.ndarray:
    """Resize an RGB uint8 image to `size` = (height, width) with PIL ("bicubic", "bilinear",
    "nearest", "lanczos")."""
    resample = getattr(Image.Resampling, method.upper())
    out = Image.fromarray(np.ascontiguousarray(image)).resize((size[1], size[0]), resample)
    return np.asarray(out)


# --- small shared pieces ---------------------------------------------------------------------


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
    patch = plan.patches[_check_index(plan, index)]
    return f"#{index} {STYLES[patch_role(plan, patch)]['label']} ({patch.width}x{patch.height})"


def _check_index(plan: PatchPlan, index: int) -> int:
    if not 0 <= index < len(plan.patches):
        raise IndexError(
            f"patch index {index} out of range: the plan has {len(plan.patches)} patches (0-{len(plan.patches) - 1})"
        )
    return index


def _frame_panel_size(height: int, width: int, panel_width: float) -> tuple[float, float]:
    """Panel (width, height) in inches for a frame, capped so tall frames stay on screen."""
    panel_height = panel_width * height / width
    if panel_height > 0.9 * panel_width:  # portrait or square: shrink the width instead
        panel_height = 0.9 * panel_width
        panel_width = panel_height * width / height
    return panel_width, panel_height


def _draw_frame(ax, frame: np.ndarray | None, height: int, width: int, gray: bool = False) -> None:
    """The input frame stretched over the output extent (y down), or a neutral background."""
    if frame is None:
        ax.imshow(np.full((2, 2, 3), 0.25), extent=(0, width, height, 0))
    elif gray:
        luma = frame[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        ax.imshow(luma, cmap="gray", vmin=0, vmax=255, extent=(0, width, height, 0), alpha=0.6)
    else:
        ax.imshow(frame, extent=(0, width, height, 0), interpolation="bilinear")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.tick_params(labelsize=7)


def _outline(ax, patch: Patch, color: str, ls="-", lw: float = 1.6, inset: float = 0.0) -> None:
    ax.add_patch(
        Rectangle(
            (patch.x0 + inset, patch.y0 + inset),
            patch.width - 2 * inset,
            patch.height - 2 * inset,
            fill=False,
            edgecolor=color,
            linestyle=ls,
            linewidth=lw,
            path_effects=_HALO,
        )
    )


def _highlight(ax, patch: Patch, text: str) -> None:
    ax.add_patch(
        Rectangle(
            (patch.x0, patch.y0),
            patch.width,
            patch.height,
            facecolor=HIGHLIGHT,
            alpha=0.18,
            edgecolor="none",
        )
    )
    _outline(ax, patch, HIGHLIGHT, lw=3.0)
    ax.text(
        patch.x0 + 0.03 * patch.width,
        patch.y0 + 0.05 * patch.height,
        text,
        color=HIGHLIGHT,
        fontsize=10,
        fontweight="bold",
        va="top",
        path_effects=_TEXT_HALO,
    )


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


# --- the patch grid --------------------------------------------------------------------------


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
        _check_index(plan, highlight)
    pw, ph = _frame_panel_size(plan.height, plan.width, 10.0)
    narrow = pw < 7.0  # portrait frames: keep room for the title and legend beside the axes
    fig = new_figure(max(pw, 7.0), ph + (1.6 if narrow else 1.2))
    ax = fig.add_subplot()
    _draw_frame(ax, frame, plan.height, plan.width)

    # Auxiliary boxes share edges with base boxes; a small inset keeps both lines visible.
    inset = {"base": 0.0, "window": 0.0, "v": 0.006, "h": 0.006, "x": 0.012}
    size = max(plan.height, plan.width)
    order = {"base": 0, "window": 0, "v": 1, "h": 2, "x": 3}
    indexed = sorted(enumerate(plan.patches), key=lambda ip: order[patch_role(plan, ip[1])])
    for i, patch in indexed:
        role = patch_role(plan, patch)
        style = STYLES[role]
        _outline(ax, patch, style["color"], style["ls"], 1.6, inset[role] * size)
        if labels:
            ax.text(
                (patch.x0 + patch.x1) / 2,
                (patch.y0 + patch.y1) / 2,
                str(i),
                color=style["color"],
                fontsize=7 if len(plan.patches) > 40 else 9,
                ha="center",
                va="center",
                path_effects=_TEXT_HALO,
            )
    if highlight is not None:
        _highlight(ax, plan.patches[highlight], f"#{highlight}")

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


# --- blending weights ------------------------------------------------------------------------


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
    index = default_patch_index(plan) if index is None else _check_index(plan, index)
    weights = patch_weights(plan, mode)
    patch = plan.patches[index]
    H, W = plan.height, plan.width

    pw, ph = _frame_panel_size(H, W, 5.6)
    fig = new_figure(2 * pw + 1.0, ph + 3.6)
    grid = fig.add_gridspec(2, 2, height_ratios=[ph, 2.2])
    ax_w, ax_o, ax_p = (
        fig.add_subplot(grid[0, 0]),
        fig.add_subplot(grid[0, 1]),
        fig.add_subplot(grid[1, :]),
    )

    # Left: one patch's weight; outside the patch the frame shows through in grey.
    canvas = np.full((H, W), np.nan)
    canvas[patch.y0 : patch.y1, patch.x0 : patch.x1] = weights[index]
    _draw_frame(ax_w, frame, H, W, gray=True)
    image = ax_w.imshow(
        _decimate(canvas),
        cmap="viridis",
        vmin=0,
        vmax=1,
        extent=(0, W, H, 0),
        interpolation="nearest",
    )
    _outline(ax_w, patch, HIGHLIGHT, lw=2.0)
    fig.colorbar(image, ax=ax_w, shrink=0.85, label="weight")
    ax_w.set_title(
        f"Weight of patch {describe_patch(plan, index)}\n'{mode}' weights, normalised", fontsize=10
    )

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
    ax_o.tick_params(labelsize=7)
    _outline(ax_o, patch, HIGHLIGHT, lw=2.0)
    roles = sorted({patch_role(plan, p) for p in plan.patches}, key=list(STYLES).index)
    ax_o.legend(
        handles=[LegendSwatch(color=STYLES[r]["plot"], label=STYLES[r]["label"]) for r in roles],
        fontsize=7,
        loc="lower right",
        framealpha=0.85,
    )
    ax_o.set_title(
        "Patch with the largest weight at each pixel\n(darker = weight shared with neighbours)",
        fontsize=10,
    )

    # Bottom: a cross-section through the chosen patch's centre, across the seam it blends
    # over (a horizontal-seam patch fades vertically, everything else is cut along a row).
    _plot_profile(ax_p, plan, weights, index, vertical=patch.seam == "h")
    return fig


def _plot_profile(
    ax, plan: PatchPlan, weights: Sequence[np.ndarray], index: int, vertical: bool
) -> None:
    patch = plan.patches[index]
    length = plan.height if vertical else plan.width
    at = (patch.x0 + patch.x1) // 2 if vertical else (patch.y0 + patch.y1) // 2
    total = np.zeros(length)
    for i, (p, w) in enumerate(zip(plan.patches, weights, strict=True)):
        lo, hi, cross = (p.y0, p.y1, (p.x0, p.x1)) if vertical else (p.x0, p.x1, (p.y0, p.y1))
        if not cross[0] <= at < cross[1]:
            continue
        values = w[:, at - p.x0] if vertical else w[at - p.y0]
        total[lo:hi] += values
        style = STYLES[patch_role(plan, p)]
        chosen = i == index
        ax.plot(
            np.arange(lo, hi) + 0.5,
            values,
            color="black" if chosen else style["plot"],
            linestyle="-" if chosen else style["ls"],
            linewidth=2.6 if chosen else 1.4,
            label=f"#{i} (selected)" if chosen else f"#{i} {style['label']}",
            zorder=3 if chosen else 2,
        )
    ax.plot(
        np.arange(length) + 0.5,
        total,
        color="#c00000",
        linestyle="--",
        linewidth=1.2,
        label="sum of all weights",
    )
    ax.axvspan(
        patch.y0 if vertical else patch.x0,
        patch.y1 if vertical else patch.x1,
        color=HIGHLIGHT,
        alpha=0.25,
        linewidth=0,
    )
    ax.set_xlim(0, length)
    ax.set_ylim(-0.03, 1.12)
    ax.set_xlabel(f"{'y' if vertical else 'x'} (output pixels)", fontsize=8)
    ax.set_ylabel("weight", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    # Many patches cross a wide frame; list the nearest few and the sum, not a wall of labels.
    keep = [k for k, label in enumerate(labels) if "selected" in label or "sum" in label]
    keep += [k for k in range(len(labels)) if k not in keep][: max(0, 8 - len(keep))]
    ax.legend(
        [handles[k] for k in keep],
        [labels[k] for k in keep],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
    )
    where = f"column x = {at}" if vertical else f"row y = {at}"
    ax.set_title(f"Weights of every patch along {where} (they add up to one)", fontsize=10)


def _checker(plan: PatchPlan, patch: Patch) -> bool:
    rows = sorted({p.y0 for p in plan.base})
    cols = sorted({p.x0 for p in plan.base})
    return (rows.index(patch.y0) + cols.index(patch.x0)) % 2 == 1


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])


# --- location conditioning -------------------------------------------------------------------


def location_figure(
    plan: PatchPlan,
    index: int | None = None,
    scale: float = 4.0,
    in_size: tuple[int, int] | None = None,
    base: int | None = None,
    num_freqs: int = location.DEFAULT_NUM_FREQS,
) -> Figure:
    """What tells the model where patch `index` lies: its ROI mask on the global view's grid,
    how similar its sinusoidal box/scale encoding is to that of the same box elsewhere, the
    encoding itself (5 values x sin/cos x frequencies), and the encodings of all patches.

    `in_size` = (height, width) of the input clip sets the global view's shape (default: the
    output's); `base` is the global view's long side (default: the patch size)."""
    index = default_patch_index(plan) if index is None else _check_index(plan, index)
    patch = plan.patches[index]
    H, W = plan.height, plan.width
    box = location.normalized_box(patch, H, W)
    gh, gw = context.global_view_size(*(in_size or (H, W)), base or plan.patch_size)

    pw, ph = _frame_panel_size(H, W, 5.4)
    fig = new_figure(2 * pw + 1.2, ph + 4.4)
    grid = fig.add_gridspec(2, 2, height_ratios=[ph, 3.0], width_ratios=[1, 1.15])
    ax_m, ax_s = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_e, ax_a = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])

    mask = location.roi_mask(box, gh, gw)
    ax_m.imshow(mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax_m.tick_params(labelsize=7)
    ax_m.set_title(
        f"ROI mask of patch #{index} on the global view's grid\n({gw}x{gh}, white = inside the patch)",
        fontsize=10,
    )

    bh, bw = box[2] - box[0], box[3] - box[1]
    sim = location.encoding_similarity_map(box, (bh, bw), scale, grid=96, num_freqs=num_freqs)
    # The map's cells are top-left corners; draw it at the box centres they stand for (a box as
    # wide as the frame has one position: spread it over the frame). The colour range starts
    # at the map's minimum: the shared scale term keeps it well above -1.
    x_lo, x_hi = _centre_span(bw, W)
    y_lo, y_hi = _centre_span(bh, H)
    extent = (x_lo, x_hi, y_hi, y_lo)
    ax_s.set_facecolor("#dddddd")
    low = min(float(sim.min()), 0.99)
    image = ax_s.imshow(
        sim, cmap="magma", vmin=low, vmax=1, extent=extent, interpolation="bilinear"
    )
    centres = np.array([((p.x0 + p.x1) / 2, (p.y0 + p.y1) / 2) for p in plan.patches])
    ax_s.scatter(
        centres[:, 0],
        centres[:, 1],
        s=10,
        c="#33c3ff",
        edgecolors="black",
        linewidths=0.5,
        label="patch centres",
    )
    ax_s.scatter(
        [(patch.x0 + patch.x1) / 2],
        [(patch.y0 + patch.y1) / 2],
        s=140,
        marker="*",
        c=HIGHLIGHT,
        edgecolors="black",
        label=f"patch #{index}",
    )
    ax_s.set_xlim(0, W)
    ax_s.set_ylim(H, 0)
    ax_s.tick_params(labelsize=7)
    ax_s.legend(fontsize=7, loc="lower right", framealpha=0.85)
    fig.colorbar(image, ax=ax_s, shrink=0.85, label="cosine similarity")
    ax_s.set_title(
        f"Encoding similarity to patch #{index}\n(a box of its size centred at each point, scale x{scale:g})",
        fontsize=10,
    )

    values = ["y0", "x0", "y1", "x1", "log2(scale)/4"]
    encoding = (
        location.location_encoding([box], scale, num_freqs).numpy()[0].reshape(5, 2 * num_freqs)
    )
    ax_e.imshow(encoding, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax_e.axvline(num_freqs - 0.5, color="black", linewidth=1.5)
    ax_e.set_yticks(
        range(5),
        [f"{n} = {v:.3f}" for n, v in zip(values, [*box, np.log2(scale) / 4], strict=True)],
        fontsize=7,
    )
    ax_e.set_xticks(
        range(2 * num_freqs),
        [f"{f}{k}" for f in ("sin", "cos") for k in range(num_freqs)],
        fontsize=6,
        rotation=90,
    )
    ax_e.set_title(
        f"Encoding of patch #{index}: {encoding.size} values (frequency pi*2^k)", fontsize=10
    )

    boxes = [location.normalized_box(p, H, W) for p in plan.patches]
    everything = location.location_encoding(boxes, scale, num_freqs).numpy()
    image = ax_a.imshow(
        everything, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest"
    )
    ax_a.axhline(index, color=HIGHLIGHT, linewidth=2.5, path_effects=_HALO)
    for v in range(1, 5):
        ax_a.axvline(v * 2 * num_freqs - 0.5, color="black", linewidth=0.8)
    ax_a.set_xticks([(v + 0.5) * 2 * num_freqs - 0.5 for v in range(5)], values, fontsize=7)
    ax_a.set_ylabel("patch index", fontsize=8)
    ax_a.tick_params(labelsize=7)
    fig.colorbar(image, ax=ax_a, shrink=0.85)
    ax_a.set_title(
        f"Encodings of all {len(plan.patches)} patches (row #{index} marked)", fontsize=10
    )
    return fig


def _centre_span(fraction: float, length: int) -> tuple[float, float]:
    low, high = fraction / 2 * length, (1 - fraction / 2) * length
    return (low, high) if high - low >= 1 else (0.0, float(length))


# --- the global view -------------------------------------------------------------------------


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
    patch = plan.patches[_check_index(plan, index)]
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
    index = default_patch_index(plan) if index is None else _check_index(plan, index)
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
            path_effects=_HALO,
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
        ax.tick_params(labelsize=7)
    fig.suptitle(f"What the model sees for patch {describe_patch(plan, index)}", fontsize=11)
    return fig


# --- all of the above ----------------------------------------------------------------------


def figure_set(
    frame: np.ndarray,
    plan: PatchPlan,
    index: int | None = None,
    mode: WeightMode = "paper",
) -> dict[str, Figure]:
    """The four pictures of one patch of a plan over one input frame, keyed "grid",
    "weights", "location", "context": what the demo shows and a notebook can show."""
    index = default_patch_index(plan) if index is None else _check_index(plan, index)
    in_size = frame.shape[:2]
    return {
        "grid": grid_figure(frame, plan, highlight=index),
        "weights": weights_figure(plan, index, mode, frame),
        "location": location_figure(plan, index, plan.width / in_size[1], in_size=in_size),
        "context": context_figure(frame, plan, index),
    }


# --- comparisons -----------------------------------------------------------------------------


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
    pw, ph = _frame_panel_size(H, W, min(6.0, 16.0 / n))
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
                    path_effects=_HALO,
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


__all__ = [
    "DEFAULT_DPI",
    "STYLES",
    "PatchVSRFigure",
    "auto_crop",
    "compare_figure",
    "context_figure",
    "default_patch_index",
    "describe_patch",
    "figure_to_array",
    "figure_set",
    "figure_to_png",
    "global_view_image",
    "grid_figure",
    "location_figure",
    "new_figure",
    "ownership",
    "patch_condition",
    "patch_role",
    "resize_rgb",
    "save_figure",
    "weights_figure",
]
