"""A figure redrawn for another patch in milliseconds: what makes the demo's Explore instant.

Every picture of a patch has a part that does not depend on the patch (the frame, the grid
of all patches, axes, colour bars, legends) and a part that does (the highlight, the chosen
patch's weight, its titles). Drawing a whole figure costs about a second on a small CPU;
`LiveFigure` draws the patch-independent part once, keeps its pixels, and for each patch
pastes them back and draws only the patch's own artists on top (matplotlib's blitting).

A figure family takes part by splitting its drawing in two: a static figure, and a
`Dynamic` function that adds the artists of one patch and returns them. The public
`*_figure` functions run both, so the CLI, the notebooks and the demo draw the same picture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure

Dynamic = Callable[[int], list[Artist]]  # draws one patch's artists, returns them


def _forget(artist: Artist) -> None:
    """Take a patch's artist out of the figure; titles and axes stay (they are reused)."""
    try:
        artist.remove()
    except (NotImplementedError, ValueError):
        pass


class LiveFigure:
    """`render(index)`: the figure for patch `index` as an RGB array, without redrawing the
    patch-independent part. Thread-safe (the demo serves clicks in worker threads)."""

    def __init__(self, fig: Figure, dynamic: Dynamic, first_index: int) -> None:
        self.fig = fig
        self._dynamic = dynamic
        self._lock = threading.Lock()
        # A first full draw with a patch's artists places everything (constrained layout
        # leaves room for the titles); the layout is then frozen so the artists of every
        # later patch land in the same places.
        artists = dynamic(first_index)
        fig.canvas.draw()
        fig.set_layout_engine("none")
        for artist in artists:
            artist.set_visible(False)
        fig.canvas.draw()
        self._background = fig.canvas.copy_from_bbox(fig.bbox)
        for artist in artists:
            artist.set_visible(True)
            _forget(artist)
        self._artists: list[Artist] = []

    def render(self, index: int) -> np.ndarray:
        with self._lock:
            for artist in self._artists:
                _forget(artist)
            self._artists = self._dynamic(index)
            canvas = self.fig.canvas
            canvas.restore_region(self._background)
            for artist in self._artists:
                artist.set_visible(True)
                self.fig.draw_artist(artist)
            return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])


__all__ = ["Dynamic", "LiveFigure"]
