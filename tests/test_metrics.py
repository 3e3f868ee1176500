"""Metrics: Y-channel PSNR/SSIM with the literature's conventions, seam score, temporal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from patchvsr.io.reader import read_frame
from patchvsr.method.grid import plan_patches
from patchvsr.metrics import (
    psnr_y,
    rgb_to_y,
    seam_lines,
    seam_score,
    ssim_y,
    temporal_consistency,
)
from patchvsr.video.upscalers import bicubic_resize


def _smooth_image(h: int = 96, w: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 2, y * 2, (x + y)], axis=-1) % 256
    noise = np.random.default_rng(0).integers(-3, 4, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_y_channel_is_bt601_in_studio_range():
    rgb = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], np.uint8)
    assert rgb_to_y(rgb) == pytest.approx([16.0, 235.0, 16 + 65.481], abs=1e-6)


def test_psnr_matches_its_definition_and_crops_the_border():
    ref = np.full((40, 40, 3), 100, np.uint8)
    pred = ref.copy()
    pred[10:30, 10:30] += 10  # Y difference: 10 * (65.481 + 128.553 + 24.966) / 255
    dy = 10 * 219 / 255
    mse = dy**2 * (20 * 20) / (32 * 32)
    assert psnr_y(pred, ref, border=4) == pytest.approx(10 * math.log10(255**2 / mse))
    assert psnr_y(ref, ref) == math.inf
    edge = ref.copy()
    edge[:4] = 0  # only inside the cropped border
    assert psnr_y(edge, ref, border=4) == math.inf


def test_ssim_is_one_for_identical_frames_and_drops_with_noise():
    img = _smooth_image()
    assert ssim_y(img, img) == pytest.approx(1.0)
    noisy = np.clip(img + np.random.default_rng(1).normal(0, 20, img.shape), 0, 255)
    assert ssim_y(noisy.astype(np.uint8), img) < 0.9


def test_ssim_matches_scikit_image_gaussian_ssim():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    img = _smooth_image()
    blurred = bicubic_resize(bicubic_resize(img[None], (48, 64)), (96, 128))[0]
    ours = ssim_y(blurred, img, border=4)
    theirs = skimage_metrics.structural_similarity(
        rgb_to_y(blurred)[4:-4, 4:-4],
        rgb_to_y(img)[4:-4, 4:-4],
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ours == pytest.approx(theirs, abs=1e-6)


def test_stacks_give_the_mean_of_per_frame_values():
    a, b = _smooth_image(), np.roll(_smooth_image(), 1, axis=1)
    stack_pred, stack_ref = np.stack([a, b]), np.stack([a, a])
    assert psnr_y(stack_pred, stack_ref) == math.inf  # mean with an identical frame
    assert ssim_y(stack_pred, stack_ref) == pytest.approx((1 + ssim_y(b, a)) / 2)


def test_set5_bicubic_x4_matches_the_published_baseline(shared_data):
    """The literature's Set5 x4 bicubic figures are 28.42 dB / 0.8104 (Y, 4-pixel border)."""
    psnrs, ssims = [], []
    for name in ("baby", "bird", "butterfly", "head", "woman"):
        hr = read_frame(shared_data / "set5" / "HR" / f"{name}.png")
        lr = read_frame(shared_data / "set5" / "LR_bicubic_X4" / f"{name}x4.png")
        h, w = lr.shape[0] * 4, lr.shape[1] * 4
        up = bicubic_resize(lr[None], (h, w))[0]
        psnrs.append(psnr_y(up, hr[:h, :w], border=4))
        ssims.append(ssim_y(up, hr[:h, :w], border=4))
    assert np.mean(psnrs) == pytest.approx(28.42, abs=0.1)
    assert np.mean(ssims) == pytest.approx(0.8104, abs=0.005)


def test_seam_lines_are_the_interior_base_patch_edges():
    plan = plan_patches(1024, 1536, 512)
    assert seam_lines(plan) == ([512], [512, 1024])
    assert seam_lines(plan_patches(256, 256, 512)) == ([], [])


def test_a_step_along_a_patch_seam_scores_clearly_above_a_smooth_image():
    smooth = _smooth_image(96, 128).astype(np.int16)
    plan = plan_patches(96, 128, 32, scheme="tiles")
    seams_y, seams_x = seam_lines(plan)
    seamy = smooth.copy()
    seamy[:, seams_x[1] :] += 12  # a brightness step exactly on a vertical seam
    for y in seams_y:
        seamy[y:] -= 8  # and on every horizontal seam
    seamy = np.clip(seamy, 0, 255)
    clean = seam_score(smooth, seams_y, seams_x)
    stepped = seam_score(seamy, seams_y, seams_x)
    assert 0.7 < clean < 1.3
    assert stepped > 2.0 * clean
    # Any layout and dtype: (H, W), (F, H, W, C), float.
    grey = seamy.mean(axis=-1)
    assert seam_score(grey, seams_y, seams_x) > 2.0
    assert seam_score(np.stack([seamy, seamy]).astype(np.float32), seams_y, seams_x) > 2.0
    assert math.isnan(seam_score(smooth, [], []))


def test_temporal_consistency_compares_changes_over_time():
    rng = np.random.default_rng(0)
    ref = np.stack([np.roll(_smooth_image(), i, axis=1) for i in range(4)])  # panning
    assert temporal_consistency(ref, ref) == 0.0
    assert temporal_consistency(ref) > 0  # flicker of a moving clip includes the motion
    offset = np.clip(ref.astype(int) + 5, 0, 255).astype(np.uint8)
    assert temporal_consistency(offset, ref) < 0.5  # a constant shift does not flicker
    flicker = ref.astype(int) + rng.integers(-10, 11, (4, 1, 1, 1))
    flicker = np.clip(flicker, 0, 255).astype(np.uint8)
    assert temporal_consistency(flicker, ref) > 3.0
