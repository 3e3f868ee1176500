"""One channel for the picture's brightness, wherever a gate, an estimate or a drawing needs one.

ITU-R BT.601's weights on full-range RGB, the luma of JPEG and of most image code. Scores are
read on studio-range Y instead (`patchvsr.metrics`), as the super-resolution literature reads
them; the two differ by an offset and a scale, not in what they weigh.
"""

from __future__ import annotations

LUMA = (0.299, 0.587, 0.114)  # red, green, blue
