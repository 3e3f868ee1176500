"""From a click on a rendered figure back to the patch under it.

A picture of the grid (`viz.grid_figure`) is a PNG in the page; a click gives a pixel of that
PNG. `AxesMap` remembers where the frame's axes landed in the PNG and what data range they
show (output pixels), so the click becomes a point of the output frame, and `patch_at` finds
the patch there. Plain data, so the page can keep it between events.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from patchvsr.method.grid import PatchPlan


@dataclass(frozen=True)
class AxesMap:
    """Axes box in PNG pixels (left, top, right, bottom; y down) and the data each edge shows."""

    left: float
    top: float
    right: float
    bottom: float
    x_left: float
    x_right: float
    y_top: float
    y_bottom: float

    def to_data(self, px: float, py: float) -> tuple[float, float] | None:
        """(x, y) in data units of the PNG pixel (px, py), None outside the axes."""
        if not (self.left <= px <= self.right and self.top <= py <= self.bottom):
            return None
        fx = (px - self.left) / max(self.right - self.left, 1e-9)
        fy = (py - self.top) / max(self.bottom - self.top, 1e-9)
        return (
            self.x_left + fx * (self.x_right - self.x_left),
            self.y_top + fy * (self.y_bottom - self.y_top),
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AxesMap:
        return cls(**{k: float(data[k]) for k in cls.__dataclass_fields__})


def axes_map(
    fig: Figure, ax: Axes | None = None, dpi: float | None = None, draw: bool = True
) -> AxesMap:
    """Where `ax` (default: the figure's first axes) lies in the figure rendered at `dpi`
    (default the figure's), as `viz.figure_to_png` renders it. Draws the figure first, so
    a constrained layout has placed the axes (`draw=False`: it was drawn already)."""
    ax = ax or fig.axes[0]
    dpi = dpi or fig.dpi
    if draw:
        fig.canvas.draw()
    box = ax.get_window_extent()  # display pixels at fig.dpi, y up
    factor = dpi / fig.dpi
    height = fig.get_figheight() * dpi
    (x_left, x_right), (y_bottom, y_top) = ax.get_xlim(), ax.get_ylim()
    return AxesMap(
        left=box.x0 * factor,
        top=height - box.y1 * factor,
        right=box.x1 * factor,
        bottom=height - box.y0 * factor,
        x_left=x_left,
        x_right=x_right,
        y_top=y_top,
        y_bottom=y_bottom,
    )


def patch_at(plan: PatchPlan, x: float, y: float) -> int | None:
    """Index of the patch at (x, y) in output pixels: of the patches that contain the point,
    the one whose centre is nearest (near a seam that is the auxiliary patch on it, inside a
    base patch the base patch). None outside the frame."""
    inside = [i for i, p in enumerate(plan.patches) if p.x0 <= x <= p.x1 and p.y0 <= y <= p.y1]
    if not inside:
        return None

    def distance(i: int) -> float:
        p = plan.patches[i]
        return ((p.x0 + p.x1) / 2 - x) ** 2 + ((p.y0 + p.y1) / 2 - y) ** 2

    return min(inside, key=distance)


__all__ = ["AxesMap", "axes_map", "patch_at"]
