"""The mean over square neighbourhoods, as two one-dimensional passes.

`F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)` with a k x k window reads k^2 values
per output; a column pass then a row pass read 2k and give the same means (to float rounding):
the window, clipped at the edges, is always a rectangle, and a rectangle's mean is the mean of
its columns' means. The detail head's pattern filter (9x9) and the input filter's
neighbourhoods (up to 9x9) spend most of their time here.

The passes are depthwise convolutions with a kernel of ones (zero padding), divided by the
number of pixels each window holds inside the picture: oneDNN runs them 6 times as fast as
`avg_pool2d`'s one-dimensional windows on a CPU (29 ms against 174 ms for (4, 48, 144, 256),
16 ms in channels-last, the detail head's layout), with the same means to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_mean(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> the mean of each pixel's `size` x `size` neighbourhood (odd `size`),
    over the part of it inside the picture."""
    if size == 1:
        return x
    half, channels = size // 2, x.shape[1]
    ones = torch.ones(channels, 1, size, 1, dtype=x.dtype, device=x.device)
    # In x's own dtype even under a caller's bf16 autocast (the detail head runs under one):
    # the pattern filter subtracts means that differ in their last bits.
    with torch.autocast(x.device.type, enabled=False):
        x = F.conv2d(x, ones, padding=(half, 0), groups=channels)
        x = F.conv2d(x, ones.transpose(2, 3), padding=(0, half), groups=channels)
    return x / (_inside(x.shape[-2], half, x) * _inside(x.shape[-1], half, x).view(1, -1))


def _inside(length: int, half: int, like: torch.Tensor) -> torch.Tensor:
    """(length, 1): how many of the window's 2 * half + 1 positions lie in 0..length-1."""
    i = torch.arange(length, device=like.device)
    count = (i + half).clamp(max=length - 1) - (i - half).clamp(min=0) + 1
    return count.to(like.dtype).view(-1, 1)
