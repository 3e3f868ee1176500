"""Temporal windows for long videos.

A clip longer than what the model takes at once is processed in overlapping windows; the
overlap is cross-faded so window boundaries do not flicker. The same 1-D taper as the patch
grid's weights is used, along time instead of space. The noise the windows share and the
steady detail of a one-step model are in `patchvsr.method.temporal_detail` (this module loads no
torch: the job runner plans windows before any model is loaded).
"""

from __future__ import annotations

import numpy as np

from patchvsr.method.weights import axis_profile


def plan_windows(num_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Spans [start, stop) of at most `window` frames covering [0, num_frames), consecutive
    spans sharing at least `overlap` frames; the last span ends at the last frame."""
    if num_frames <= 0:
        raise ValueError("a clip needs at least one frame")
    if window <= 0 or not 0 <= overlap < window:
        raise ValueError(f"need window > overlap >= 0, got window={window}, overlap={overlap}")
    if num_frames <= window:
        return [(0, num_frames)]
    stride = window - overlap
    starts = list(range(0, num_frames - window, stride)) + [num_frames - window]
    return [(s, s + window) for s in starts]


def window_weights(spans: list[tuple[int, int]], num_frames: int) -> list[np.ndarray]:
    """Per-frame blend weights for each span, summing to one over the clip at every frame."""
    if len(spans) == 1:
        return [np.ones(spans[0][1] - spans[0][0])]
    overlaps = [a[1] - b[0] for a, b in zip(spans[:-1], spans[1:], strict=True)]
    ramp = max(1, min(overlaps))
    raw = [axis_profile(s, e, num_frames, ramp, "linear") for s, e in spans]
    total = np.zeros(num_frames)
    for (s, e), w in zip(spans, raw, strict=True):
        total[s:e] += w
    return [w / total[s:e] for (s, e), w in zip(spans, raw, strict=True)]
