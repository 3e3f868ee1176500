"""Location conditioning (normalised box, ROI mask, sinusoidal encoding) and the global view."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from patchvsr.method.context import global_roi_mask, global_view, global_view_size, mark_roi
from patchvsr.method.grid import Patch, plan_patches
from patchvsr.method.location import (
    encoding_dim,
    encoding_similarity_map,
    location_encoding,
    normalized_box,
    roi_mask,
)

sides = st.integers(min_value=1, max_value=8192)


# --- normalised box and ROI mask -------------------------------------------------------------


def test_normalized_box_is_the_fraction_of_the_frame():
    assert normalized_box(Patch(540, 960, 1080, 1920), 2160, 3840) == (0.25, 0.25, 0.5, 0.5)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 600), st.integers(1, 600), st.sampled_from([16, 32, 64]))
def test_boxes_of_a_plan_lie_in_the_unit_square(height, width, patch):
    plan = plan_patches(height, width, patch)
    for p in plan.patches:
        y0, x0, y1, x1 = normalized_box(p, height, width)
        assert 0.0 <= y0 < y1 <= 1.0 and 0.0 <= x0 < x1 <= 1.0


def test_roi_mask_marks_exactly_the_box():
    mask = roi_mask((0.25, 0.5, 0.75, 1.0), 8, 16)
    assert mask.shape == (8, 16) and mask.dtype == np.float32
    expected = np.zeros((8, 16), np.float32)
    expected[2:6, 8:16] = 1
    np.testing.assert_array_equal(mask, expected)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(0, 0.99),
    st.floats(0, 0.99),
    st.floats(0.001, 1),
    st.floats(0.001, 1),
    st.integers(4, 64),
    st.integers(4, 64),
)
def test_roi_mask_is_never_empty_and_its_area_follows_the_box(y0, x0, bh, bw, height, width):
    box = (y0, x0, min(1.0, y0 + bh), min(1.0, x0 + bw))
    mask = roi_mask(box, height, width)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert mask.sum() >= 1  # a box thinner than a cell still shows
    area = (box[2] - box[0]) * (box[3] - box[1]) * height * width
    rows, cols = mask.any(1).sum(), mask.any(0).sum()
    assert abs(rows - (box[2] - box[0]) * height) <= 1 + 1e-9 or rows == 1
    assert abs(cols - (box[3] - box[1]) * width) <= 1 + 1e-9 or cols == 1
    assert mask.sum() <= area + rows + cols + 1


def test_roi_masks_of_base_patches_partition_the_global_view():
    plan = plan_patches(2160, 3840, 512)
    gh, gw = global_view_size(2160, 3840)
    masks = [roi_mask(normalized_box(p, 2160, 3840), gh, gw) for p in plan.base]
    np.testing.assert_array_equal(np.sum(masks, axis=0), np.ones((gh, gw)))


def test_global_roi_mask_has_the_model_layout():
    mask = global_roi_mask((0.0, 0.0, 0.5, 0.5), 18, 32)
    assert mask.shape == (1, 1, 1, 18, 32)
    assert mask.sum() == 9 * 16


# --- sinusoidal encoding ---------------------------------------------------------------------


def test_encoding_has_the_documented_size_and_range():
    enc = location_encoding([(0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0)], 4.0)
    assert enc.shape == (2, encoding_dim()) == (2, 80)
    assert enc.abs().max() <= 1.0
    assert torch.isfinite(enc).all()


def test_every_patch_of_a_4k_plan_gets_its_own_encoding():
    plan = plan_patches(2160, 3840, 512)
    boxes = [normalized_box(p, 2160, 3840) for p in plan.patches]
    enc = location_encoding(boxes, 4.0)
    distances = torch.cdist(enc, enc) + torch.eye(len(boxes)) * 1e9
    assert distances.min() > 0.1


def test_the_scale_changes_the_encoding_and_only_its_part():
    box = [(0.1, 0.2, 0.3, 0.4)]
    a, b = location_encoding(box, 2.0)[0], location_encoding(box, 4.0)[0]
    k = 2 * 8  # sin/cos x 8 frequencies per value; the scale is the fifth value
    assert torch.equal(a[: 4 * k], b[: 4 * k])
    assert not torch.allclose(a[4 * k :], b[4 * k :])


def test_encoding_is_deterministic_and_accepts_tensors():
    boxes = torch.tensor([[0.0, 0.25, 0.5, 0.75]])
    assert torch.equal(location_encoding(boxes, 4.0), location_encoding(boxes.numpy(), [4.0]))


@pytest.mark.parametrize("scale", [0.0, -2.0])
def test_non_positive_scales_are_refused(scale):
    with pytest.raises(ValueError):
        location_encoding([(0, 0, 1, 1)], scale)


def test_similarity_map_peaks_at_the_reference_position():
    box = (0.25, 0.5, 0.5, 0.75)  # a quarter-size box, top-left corner at (0.25, 0.5)
    sim = encoding_similarity_map(box, (0.25, 0.25), 4.0, grid=31)
    assert sim.shape == (31, 31)
    # Corners range over [0, 0.75]: cell 10 is 0.25, cell 20 is 0.5.
    assert np.unravel_index(np.argmax(sim), sim.shape) == (10, 20)
    assert sim.max() == pytest.approx(1.0, abs=1e-5)
    assert sim.min() < 0.9


# --- the global view -------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(sides, sides, st.sampled_from([256, 512, 1024]))
def test_global_view_keeps_the_long_side_and_the_aspect(height, width, base):
    gh, gw = global_view_size(height, width, base)
    assert gh % 16 == 0 and gw % 16 == 0
    assert max(gh, gw) == base
    # The short side is the aspect-kept length rounded to the 16-pixel lattice (at least 16).
    short = min(height, width) * base / max(height, width)
    assert abs(min(gh, gw) - max(16, short)) <= 8 + 1e-9
    # Rounding may make a near-square view square, never turn it around.
    assert (gh >= gw) if height >= width else (gw >= gh)


def test_global_view_of_a_4k_clip_is_512_by_288():
    assert global_view_size(2160, 3840) == (288, 512)
    assert global_view_size(1920, 1080) == (512, 288)


def test_global_view_resizes_a_clip_frame_by_frame_without_padding():
    video = torch.rand(2, 3, 5, 90, 160)  # (B, C, F, H, W) in [0, 1]
    view = global_view(video, base=64)
    assert view.shape == (2, 3, 5, 32, 64)
    assert view.min() >= -1e-6 and view.max() <= 1 + 1e-6
    constant = torch.full((1, 3, 2, 90, 160), 0.5)
    assert torch.allclose(global_view(constant, base=64), torch.tensor(0.5))
    # Each frame is resized on its own: frames do not bleed into each other.
    steps = torch.arange(5.0).view(1, 1, 5, 1, 1).expand(1, 3, 5, 90, 160)
    assert torch.allclose(global_view(steps, base=64).mean(dim=(0, 1, 3, 4)), torch.arange(5.0))


def test_global_view_size_refuses_empty_frames():
    with pytest.raises(ValueError):
        global_view_size(0, 100)


def test_mark_roi_keeps_the_roi_and_dims_the_rest():
    frame = np.full((20, 40, 3), 200, np.uint8)
    marked = mark_roi(frame, (0.0, 0.0, 0.5, 0.5))
    assert marked.dtype == np.uint8 and marked.shape == frame.shape
    assert (marked[:10, :20] == 200).all()
    assert (marked[10:, :] < 100).all() and (marked[:, 20:] < 100).all()
