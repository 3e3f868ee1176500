"""The Wan VAE's precision and memory-sized tiles, on the tiny VAE (same code path as 1.3B)."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import AutoencoderKLWan

from patchvsr.errors import PatchVSRError
from patchvsr.models.configs import TINY_VAE
from patchvsr.pipeline.codec import (
    TILE_OVERLAP,
    LatentCodec,
    tile_side,
    tiled_pixels,
    vae_bytes_per_pixel,
    vae_dtype,
)

# The stated bounds: a decode in bf16 within 40 dB of fp32, memory tiles within 35 dB of one
# whole-frame decode (measured on this VAE: 55.7 dB and 45.5 dB).
BF16_PSNR_DB = 40.0
TILED_PSNR_DB = 35.0


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR of two videos in [-1, 1] (peak-to-peak 2)."""
    mse = float(((a.float().clamp(-1, 1) - b.float().clamp(-1, 1)) ** 2).mean())
    return 10 * math.log10(4.0 / mse) if mse else math.inf


@pytest.fixture(scope="module")
def latent():
    torch.manual_seed(0)
    vae = AutoencoderKLWan(**TINY_VAE).eval()
    g = torch.Generator().manual_seed(0)
    small = torch.rand(1, 15, 12, 20, generator=g) * 2 - 1
    video = torch.nn.functional.interpolate(small, size=(96, 160), mode="bilinear")
    with torch.no_grad():
        z = LatentCodec(vae).encode(video.reshape(1, 3, 5, 96, 160))
    return vae, z


def decode(vae, z) -> torch.Tensor:
    with torch.no_grad():
        return LatentCodec(vae).decode(z).float()


@pytest.mark.slow
def test_bf16_decode_stays_within_the_stated_psnr_of_fp32(latent):
    vae, z = latent
    reference = decode(vae, z)
    low = AutoencoderKLWan.from_config(vae.config).eval()
    low.load_state_dict(vae.state_dict())
    low.to(torch.bfloat16)
    out = decode(low, z)
    assert out.shape == reference.shape
    assert BF16_PSNR_DB <= psnr(out, reference) < math.inf


def test_tiles_sized_to_a_small_memory_stay_within_the_stated_psnr(latent):
    vae, z = latent
    codec = LatentCodec(vae)
    assert codec.maybe_tile(96, 160, free_bytes=10**12) is None and not vae.use_tiling
    whole = decode(vae, z)
    tile = codec.maybe_tile(96, 160, free_bytes=1)
    try:
        assert tile == 128 and vae.use_tiling and vae.tile_sample_min_width == 128
        assert vae.tile_sample_stride_width == 128 - TILE_OVERLAP
        tiled = decode(vae, z)
    finally:
        vae.disable_tiling()
    assert TILED_PSNR_DB <= psnr(tiled, whole) < math.inf


def test_tiles_grow_with_free_memory_and_fit_it():
    per_pixel = vae_bytes_per_pixel(torch.bfloat16)
    sides = [tile_side(2160, 3840, gib * 2**30, per_pixel) for gib in (8, 24, 80)]
    assert sides == sorted(sides) and sides[0] < sides[-1]
    for gib, side in zip((8, 24, 80), sides, strict=True):
        assert side % 32 == 0
        assert side * side * per_pixel <= gib * 2**30 or side == 128
    assert tile_side(540, 960, 10**13, per_pixel) is None  # the whole frame fits


def test_bigger_tiles_compute_less_of_the_frame_twice():
    frame = 2160 * 3840
    assert 1.7 < tiled_pixels(2160, 3840, 256) / frame < 1.8  # diffusers' default tiles
    assert tiled_pixels(2160, 3840, 1024) / frame < 1.15
    assert tiled_pixels(2160, 3840, None) == frame


def test_bf16_halves_the_planned_memory_and_is_a_choice_with_fp32_the_default():
    assert vae_bytes_per_pixel(torch.bfloat16) * 2 == vae_bytes_per_pixel(torch.float32)
    assert vae_dtype() == torch.float32
    assert vae_dtype("bf16") == torch.bfloat16
    assert vae_dtype("FP32") == torch.float32
    with pytest.raises(PatchVSRError, match="unknown VAE dtype 'fp16'"):
        vae_dtype("fp16")
