"""Clips the tests make: real structure for a model to work on, no file needed."""

from __future__ import annotations

import numpy as np


def synthetic_clip(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """(F, H, W, 3) uint8: moving gradients with fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    out = []
    for t in range(frames):
        r = 128 + 100 * np.sin((x + 2 * t) / 7.0)
        g = 128 + 100 * np.cos((y - t) / 5.0)
        b = 128 + 60 * np.sin((x + y) / 9.0)
        out.append(np.stack([r, g, b], -1) + rng.normal(0, 4, (height, width, 3)))
    return np.clip(out, 0, 255).astype(np.uint8)
