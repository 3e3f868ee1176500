"""The shipped PatchVSR-mini really upscales: at x4 it beats bicubic on held-out images.

The images are scikit-image's `chelsea` and `coffee`, which the training pack leaves out
(`scripts/pack_training_data.py`); the low-resolution input is the antialiased bicubic
downscale, as in the SR literature and the model card's table.
"""

import numpy as np
import pytest
import skimage.data
import torch

from patchvsr.metrics import psnr_y, ssim_y
from patchvsr.pipeline.pipeline_patchvsr import upscale_bicubic
from patchvsr.runtime import load_pipeline
from patchvsr.serve.config import mini_installed
from patchvsr.train.degrade import downscale, from_uint8, to_uint8

pytestmark = pytest.mark.skipif(not mini_installed(), reason="the mini model is not installed")


@pytest.fixture(scope="module")
def mini():
    return load_pipeline("mini", device="cpu")


@pytest.mark.parametrize("name", ["chelsea", "coffee"])
def test_mini_beats_bicubic_on_a_held_out_image(mini, name):
    hr = getattr(skimage.data, name)()[None, :256, :256]  # (1, 256, 256, 3)
    lr = downscale(from_uint8(hr), 4, "bicubic")[None]  # (1, 3, 1, 64, 64)
    bicubic = to_uint8(upscale_bicubic(lr, 256, 256)[0])
    out = mini(
        lr,
        scale=4,
        num_inference_steps=mini.config.default_steps,
        strength=mini.config.default_strength,
        generator=torch.Generator().manual_seed(0),
    ).frames
    assert out.shape == hr.shape
    gain = psnr_y(out, hr) - psnr_y(bicubic, hr)
    assert gain > 0.1, f"{name}: {gain:+.2f} dB over bicubic"
    assert ssim_y(out, hr) > ssim_y(bicubic, hr)
    # Detail, not just a brighter or smoother picture: more high-frequency energy than bicubic.
    lap = lambda img: np.abs(np.diff(img.astype(float), 2, axis=2)).mean()  # noqa: E731
    assert lap(out) > lap(bicubic)
