"""No added pattern: flat and smooth areas get no texture at the pitch of mini's 4x
space-to-depth codec (`patchvsr.flat_pattern`, `patchvsr.models.detail.remove_pitch_pattern`)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from patchvsr.flat_pattern import pattern_amplitude, pitch_peak
from patchvsr.models.configs import MINI_DIR
from patchvsr.models.detail import remove_pitch_pattern
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.video.upscalers import bicubic_resize


def _flat_clip(sigma: float, seed: int = 1) -> np.ndarray:
    """A smooth shaded 96x64 clip of 4 frames with grey noise of `sigma` levels."""
    y, x = np.mgrid[0:64, 0:96]
    shade = 110 + 30 * (x / 96) + 20 * (y / 64)
    clip = np.repeat(np.stack([shade, shade * 0.9, shade * 0.8], -1)[None], 4, 0)
    noise = np.random.default_rng(seed).normal(0, sigma, clip.shape[:3])[..., None]
    return np.clip(clip + noise, 0, 255).astype(np.uint8)


def test_the_measures_see_a_pitch_pattern_and_not_noise():
    clean = bicubic_resize(_flat_clip(4.0), (256, 384))
    patterned = clean.astype(np.float64)
    patterned[:, :, 1::4] += 1.0  # one level on every fourth column
    patterned = patterned.clip(0, 255).astype(np.uint8)
    assert pattern_amplitude(clean) < 0.05 < 0.3 < pattern_amplitude(patterned)
    assert pitch_peak(patterned) > 10 * pitch_peak(clean)


def test_a_pitch_pattern_is_removed_and_smooth_content_and_noise_stay():
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    pattern = ((x % 4 == 1).float() - 0.25).expand(1, 3, 64, 64)
    smooth = (torch.sin(x / 7) * torch.cos(y / 9)).expand(1, 3, 64, 64)
    out = F.pixel_shuffle(remove_pitch_pattern(F.pixel_unshuffle(pattern + smooth, 4), 4), 4)
    inner = (out - smooth)[..., 8:-8, 8:-8]
    assert inner.abs().mean() < 0.02 * pattern.abs().mean() * 4  # 0.375 -> under 0.03
    noise = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    kept = F.pixel_shuffle(remove_pitch_pattern(F.pixel_unshuffle(noise, 4), 4), 4)
    assert float(((kept - noise) ** 2).mean() / (noise**2).mean()) < 0.05


def test_mini_adds_no_pattern_to_flat_noisy_areas():
    """Mini at its default and at both ends of the denoise control, on a flat clip with grain:
    the part of its output that repeats every 4 pixels stays under 0.03 levels (the third
    generation, without the pitch filter, left 0.12-0.13)."""
    pipe = PatchVSRPipeline.from_pretrained(MINI_DIR)
    for sigma in (2.0, 4.0):
        lr = _flat_clip(sigma)
        bicubic = pattern_amplitude(bicubic_resize(lr, (256, 384)))
        for denoise in (None, 0.0, 1.0):
            out = pipe(lr, scale=4, generator=torch.Generator().manual_seed(0), denoise=denoise)
            assert pattern_amplitude(out.frames) < max(0.03, 2 * bicubic), (sigma, denoise)
