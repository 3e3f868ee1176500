"""The flat-area guard (`patchvsr.method.flat_guard`): flat areas of an upscale as quiet as the
input's bicubic upscale, detail at edges and texture kept, nothing done at denoise 0; and the
measure the model card's grain table uses (`patchvsr.flat_pattern.flat_grain`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from patchvsr.flat_pattern import flat_grain
from patchvsr.frames import frames_to_video, video_to_frames
from patchvsr.method.flat_guard import guard_flat_areas, guard_strength
from patchvsr.models.configs import MINI_DIR
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.video.upscalers import bicubic_resize


def _half_flat_clip(sigma: float, seed: int = 0) -> np.ndarray:
    """4 frames of 64x96: the left half a flat grey with grain of `sigma` levels, the right
    half a fine texture (every pixel its own level, 120 +- 40)."""
    rng = np.random.default_rng(seed)
    x = np.arange(96)[None, :]
    picture = np.where(x < 48, 120.0, 120 + 40 * rng.uniform(-1, 1, (64, 96)))
    clip = np.repeat(np.stack([picture] * 3, -1)[None], 4, 0)
    grain = rng.normal(0, sigma, clip.shape[:3])[..., None]
    return np.clip(clip + grain, 0, 255).astype(np.uint8)


def test_the_guard_follows_the_denoise_level():
    assert guard_strength(6.0, 0.0) == 0.0  # denoise 0: the most faithful detail, untouched
    assert guard_strength(6.0, 0.125) == pytest.approx(3.0)
    assert guard_strength(6.0, 0.25) == 6.0  # auto's floor
    assert guard_strength(6.0, 0.5) == guard_strength(6.0, 1.0) == 6.0
    out = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    assert guard_flat_areas(out, torch.zeros(1, 3, 2, 4, 4), 0.0) is out


def test_grain_added_on_flat_areas_goes_and_detail_on_texture_stays():
    lr = _half_flat_clip(1.0)
    up = bicubic_resize(lr, (256, 384))
    # An upscaler that adds +-4 levels of fine grain everywhere, texture and flat areas alike.
    grain = np.random.default_rng(1).choice([-4, 4], up.shape[:3])[..., None]
    sharpened = np.clip(up.astype(int) + grain, 0, 255).astype(np.uint8)
    out = guard_flat_areas(frames_to_video(sharpened), frames_to_video(lr), 6.0)
    guarded = video_to_frames(out)
    flat, texture = np.s_[:, 16:-16, 16:176], np.s_[:, :, :, 16:-16, 208:-16]
    assert flat_grain(sharpened[flat], up[flat]) > 3.0
    assert flat_grain(guarded[flat], up[flat]) <= flat_grain(up[flat], up[flat]) + 0.1
    # On the texture the input varies by far more than k: most of the added detail stays.
    kept = (out - frames_to_video(up))[texture]
    added = frames_to_video(sharpened)[texture] - frames_to_video(up)[texture]
    assert float((kept - added).abs().mean()) < 0.1 * float(added.abs().mean())


@pytest.fixture(scope="module")
def mini():
    return PatchVSRPipeline.from_pretrained(MINI_DIR)


def _run(pipe, clip, denoise):
    return pipe(clip, scale=4, generator=torch.Generator().manual_seed(0), denoise=denoise).frames


def test_shipped_mini_is_no_grainier_than_bicubic_on_flat_areas_at_its_default(mini):
    assert mini.config["flat_guard"] > 0
    lr = _half_flat_clip(2.0)
    up = bicubic_resize(lr, (256, 384))
    flat = np.s_[:, 16:-16, 16:176]
    default = _run(mini, lr, None)
    assert flat_grain(default[flat], up[flat]) <= flat_grain(up[flat], up[flat])
    # Without the guard mini sharpens the grain: the guard is what keeps it quiet.
    unguarded = PatchVSRPipeline.from_pretrained(MINI_DIR)
    unguarded.register_to_config(flat_guard=0.0)
    raw = _run(unguarded, lr, None)
    assert flat_grain(raw[flat], up[flat]) > flat_grain(default[flat], up[flat]) + 0.2
    # At denoise 0 the guard is off: the output is the unguarded model's, to the bit.
    np.testing.assert_array_equal(_run(mini, lr, 0.0), _run(unguarded, lr, 0.0))
