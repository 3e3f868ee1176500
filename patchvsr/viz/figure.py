"""The figure object every picture is drawn on, and how a figure leaves: PNG bytes, an RGB
array, or a file written atomically.

Figures are bound to the Agg canvas and never touch pyplot: no global figure registry to leak
memory or to race on in the demo's worker threads, and no rcParams changes. They display
themselves in notebooks.
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

DEFAULT_DPI = 100


class PatchVSRFigure(Figure):
    """A Figure on the Agg canvas that renders itself as PNG in notebooks, pyplot or not."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)

    def _repr_png_(self) -> bytes:
        return figure_to_png(self)


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
