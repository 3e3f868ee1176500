"""The denoise control's input filter (`patchvsr.method.clean_input`): noise goes, edges stay,
0 leaves the clip as it is, and the shipped mini runs it before upscaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from patchvsr.frames import frames_to_video
from patchvsr.method.clean_input import STEADY_LEVEL, clean_clip, stage_levels
from patchvsr.metrics import psnr_y
from patchvsr.runtime import MINI_DIR


def _noisy(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, sigma, clean.shape)
    return np.clip(np.round(clean + noise), 0, 255).astype(np.uint8)


def _levels(video: torch.Tensor) -> np.ndarray:
    """(1, 3, F, H, W) in [-1, 1] -> (F, H, W, 3) float 8-bit levels."""
    return ((video[0].permute(1, 2, 3, 0).numpy() + 1.0) * 127.5).astype(np.float64)


def test_level_0_returns_the_clip_itself():
    video = torch.rand(1, 3, 2, 8, 8) * 2 - 1
    assert clean_clip(video, 0.0) is video


def test_noise_goes_and_a_sharp_edge_stays():
    # A still clip: dark left half, bright right half, noise of sigma 6 (the case).
    clean = np.full((3, 48, 64, 3), 60.0)
    clean[:, :, 32:] = 190.0
    noisy = _noisy(clean, 6.0)
    out = _levels(clean_clip(frames_to_video(noisy), 1.0))
    inside = (slice(None), slice(4, -4), slice(4, 28))  # away from the edge and the border
    assert out[inside].std() < 0.4 * noisy[inside].astype(np.float64).std()
    # The edge is still a one-pixel step: the two columns beside it keep their levels.
    assert abs(out[:, 4:-4, 31].mean() - 60.0) < 4.0
    assert abs(out[:, 4:-4, 32].mean() - 190.0) < 4.0
    # Stronger is smoother.
    half = _levels(clean_clip(frames_to_video(noisy), 0.5))
    assert out[inside].std() < half[inside].std() < noisy[inside].astype(np.float64).std()


def test_the_default_level_only_mixes_frames_where_the_picture_stands_still():
    # Left: a still grey area whose noise changes from frame to frame (a codec's flicker);
    # right: a bright bar that moves 4 pixels a frame.
    clip = np.full((3, 32, 64, 3), 100.0)
    clip = _noisy(clip, 4.0).astype(np.float64)
    for t in range(3):
        clip[t, :, 36 + 4 * t : 44 + 4 * t] = 230.0
    clip = clip.astype(np.uint8)
    out = _levels(clean_clip(frames_to_video(clip), STEADY_LEVEL))
    still = (slice(None), slice(4, -4), slice(4, 28))
    flicker_in = np.diff(clip[still].astype(np.float64), axis=0).std()
    assert np.diff(out[still], axis=0).std() < 0.75 * flicker_in
    # The moving bar is not smeared into the frames beside it: where it is in frame 1 it stays
    # bright, where it is in frames 0 and 2 stays grey.
    rows = slice(4, -4)
    assert out[1, rows, 40:48].mean() > 226.0
    assert out[1, rows, 36:40].mean() < 106.0 and out[1, rows, 48:52].mean() < 106.0
    assert stage_levels(STEADY_LEVEL) == (1.0, 0.0) and stage_levels(1.0) == (1.0, 1.0)


def test_a_clean_textured_clip_barely_changes_at_a_low_level():
    y, x = np.mgrid[0:48, 0:64]
    texture = 128 + 80 * np.sin(x / 2.3) * np.cos(y / 3.1)
    clean = np.repeat(np.stack([texture] * 3, -1)[None], 2, 0).round().astype(np.uint8)
    out = _levels(clean_clip(frames_to_video(clean), 0.25))
    assert psnr_y(out.round().clip(0, 255).astype(np.uint8), clean) > 40.0


@pytest.mark.skipif(not (MINI_DIR / "model_index.json").exists(), reason="mini is not here")
def test_shipped_mini_cleans_noise_at_1_and_keeps_its_clean_behaviour_at_0():
    from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

    pipe = PatchVSRPipeline.from_pretrained(MINI_DIR)
    assert pipe.config["clean_input"] and pipe.has_denoise
    y, x = np.mgrid[0:36, 0:48]
    scene = 120 + 50 * np.sin(x / 4.0) + 30 * np.cos(y / 5.0)
    clean = np.repeat(np.stack([scene] * 3, -1)[None], 4, 0).round().astype(np.uint8)
    noisy = _noisy(clean.astype(np.float64), 8.0)

    def run(clip, level):
        return pipe(clip, scale=4, generator=torch.Generator().manual_seed(0), denoise=level).frames

    reference = run(clean, 0.0)  # what mini makes of the clean clip
    zero, one = run(noisy, 0.0), run(noisy, 1.0)
    assert zero.shape == one.shape == reference.shape
    assert np.abs(zero.astype(int) - one.astype(int)).mean() > 0.5
    assert psnr_y(one, reference) > psnr_y(zero, reference) + 2.0
