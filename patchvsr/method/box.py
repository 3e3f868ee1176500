"""The mean over square neighbourhoods, as two one-dimensional passes.

`F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)` with a k x k window reads k^2 values
per output; a column pass then a row pass read 2k and give the same means (to float rounding):
the window, clipped at the edges, is always a rectangle, and a rectangle's mean is the mean of
its columns' means. The detail head's pattern filter (9x9) and the input filter's
neighbourhoods (up to 9x9) spend most of their time here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> the mean of each pixel's `size` x `size` neighbourhood (odd `size`),
    over the part of it inside the picture."""
    if size == 1:
        return x
    half = size // 2
    x = F.avg_pool2d(x, (size, 1), 1, (half, 0), count_include_pad=False)
    return F.avg_pool2d(x, (1, size), 1, (0, half), count_include_pad=False)
