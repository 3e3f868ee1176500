"""The neighbourhood mean (`patchvsr.method.box.box_mean`) against the k x k average pool it
replaces: the same means, edges included, whatever the layout and however small the picture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from patchvsr.method.box import box_mean


def _pooled(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.avg_pool2d(x, size, 1, size // 2, count_include_pad=False)


@pytest.mark.parametrize(
    ("shape", "size"),
    [
        ((2, 48, 36, 64), 9),  # the detail head's pattern filter
        ((8, 1, 40, 72), 3),  # the flat-area guard's variance
        ((3, 2, 17, 23), 5),
        ((1, 3, 5, 7), 9),  # a picture smaller than the window
        ((1, 1, 1, 1), 7),
    ],
)
def test_box_mean_is_the_clipped_square_mean(shape, size):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = _pooled(x, size)
    assert box_mean(x, size).shape == x.shape
    torch.testing.assert_close(box_mean(x, size), expected, rtol=0, atol=1e-12)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(box_mean(channels_last, size), expected, rtol=0, atol=1e-12)


def test_box_mean_of_one_is_the_input_and_float32_stays_close():
    x = torch.rand(2, 4, 30, 50, generator=torch.Generator().manual_seed(1))
    assert box_mean(x, 1) is x
    out = box_mean(x, 9)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, _pooled(x, 9), rtol=0, atol=1e-6)


def test_box_mean_keeps_float32_under_a_bf16_autocast():
    """The detail head runs under the CPU's bf16 autocast; its pattern filter needs the means
    in float32, as the average pool gave them."""
    x = torch.rand(1, 48, 24, 40, generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = box_mean(x, 9)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, _pooled(x, 9), rtol=0, atol=1e-6)
