"""The patch grid: geometry properties over random sizes, and the weights that fuse patches."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchvsr.method.grid import SCHEMES, base_spans, plan_patches
from patchvsr.method.weights import WEIGHT_MODES, accumulate, coverage, patch_weight, patch_weights

# Small patches keep frames small and the patch counts high: the same code paths as 4K with
# 512 patches, at a fraction of the cost.
patch_sizes = st.sampled_from([16, 32, 48, 64, 96, 128])
lengths = st.integers(min_value=1, max_value=700)
schemes = st.sampled_from(SCHEMES)
overlaps = st.sampled_from([0.0, 0.25, 0.5, 0.75])
FAST = settings(max_examples=150, deadline=None)


def make(height, width, patch, scheme, overlap=0.25):
    return plan_patches(height, width, patch, scheme, overlap)


@FAST
@given(lengths, lengths, patch_sizes, schemes, overlaps)
def test_every_pixel_is_covered(height, width, patch, scheme, overlap):
    plan = make(height, width, patch, scheme, overlap)
    assert coverage(plan).min() >= 1


@FAST
@given(lengths, lengths, patch_sizes, schemes, overlaps)
def test_boxes_lie_inside_the_frame_and_are_not_empty(height, width, patch, scheme, overlap):
    plan = make(height, width, patch, scheme, overlap)
    for p in plan.patches:
        assert 0 <= p.y0 < p.y1 <= height
        assert 0 <= p.x0 < p.x1 <= width


@FAST
@given(lengths, lengths, patch_sizes, st.sampled_from(["paper", "tiles"]))
def test_base_patches_tile_the_frame_without_overlap(height, width, patch, scheme):
    plan = make(height, width, patch, scheme)
    base_only = plan_patches(height, width, patch, "tiles")
    assert plan.base == base_only.base
    assert (coverage(base_only) == 1).all()


@FAST
@given(lengths, lengths, patch_sizes, schemes, overlaps)
def test_no_patch_is_smaller_than_the_patch_size_unless_the_frame_is(
    height, width, patch, scheme, overlap
):
    plan = make(height, width, patch, scheme, overlap)
    for p in plan.patches:
        assert p.height >= min(patch, height)
        assert p.width >= min(patch, width)


@FAST
@given(lengths, lengths, patch_sizes, schemes, overlaps)
def test_interior_edges_are_aligned_to_16(height, width, patch, scheme, overlap):
    plan = make(height, width, patch, scheme, overlap)
    for p in plan.patches:
        for edge, length in ((p.y0, height), (p.y1, height), (p.x0, width), (p.x1, width)):
            if 0 < edge < length and edge != length - min(patch, length):
                assert edge % 16 == 0, (p, edge)


@FAST
@given(lengths, lengths, patch_sizes)
def test_base_patch_edges_are_all_aligned_and_stay_below_twice_the_patch(height, width, patch):
    plan = make(height, width, patch, "paper")
    for p in plan.base:
        for edge, length in ((p.y0, height), (p.y1, height), (p.x0, width), (p.x1, width)):
            assert edge in (0, length) or edge % 16 == 0
        if height >= patch:
            assert p.height < 2 * patch
        if width >= patch:
            assert p.width < 2 * patch


@FAST
@given(lengths, lengths, patch_sizes, schemes, overlaps)
def test_planning_is_deterministic(height, width, patch, scheme, overlap):
    assert make(height, width, patch, scheme, overlap) == make(
        height, width, patch, scheme, overlap
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 400),
    st.integers(1, 400),
    st.sampled_from([16, 32, 64, 96]),
    schemes,
    st.sampled_from(WEIGHT_MODES),
)
def test_weights_sum_to_one_everywhere(height, width, patch, scheme, mode):
    plan = make(height, width, patch, scheme)
    weights = patch_weights(plan, mode)
    assert all((w > 0).all() for w in weights)
    assert np.allclose(accumulate(plan, weights), 1.0, atol=1e-9)


@FAST
@given(lengths, lengths, patch_sizes)
def test_auxiliary_patches_sit_on_the_seams_they_name(height, width, patch):
    plan = make(height, width, patch, "paper")
    row_seams = {p.y1 for p in plan.base if p.y1 < height}
    col_seams = {p.x1 for p in plan.base if p.x1 < width}

    def centred_on(start, stop, seams):
        # Centred on the 16-pixel lattice, or pushed inwards by the frame border.
        return any(
            abs((start + stop) / 2 - s) <= 8 or start == 0 or stop in (height, width) for s in seams
        )

    for p in plan.aux:
        if p.seam in "vx":
            assert centred_on(p.x0, p.x1, col_seams)
        if p.seam in "hx":
            assert centred_on(p.y0, p.y1, row_seams)
    # One auxiliary patch per seam segment and per crossing.
    rows, cols = len(row_seams) + 1, len(col_seams) + 1
    assert sum(p.seam == "v" for p in plan.aux) == rows * len(col_seams)
    assert sum(p.seam == "h" for p in plan.aux) == len(row_seams) * cols
    assert sum(p.seam == "x" for p in plan.aux) == len(row_seams) * len(col_seams)


def test_4k_from_512_patches_has_the_expected_counts():
    plan = plan_patches(2160, 3840, 512)
    assert (len(plan.base), len(plan.aux), plan.evaluations_per_step) == (28, 63, 91)
    assert {p.seam for p in plan.aux} == {"v", "h", "x"}
    assert plan.to_dict()["out_size"] == [2160, 3840]


def test_a_multiple_of_the_patch_size_gives_exact_patches_and_centred_seams():
    plan = plan_patches(1024, 1536, 512)
    assert all((p.height, p.width) == (512, 512) for p in plan.patches)
    assert {(p.x0 + p.x1) // 2 for p in plan.aux if p.seam == "v"} == {512, 1024}
    assert {(p.y0 + p.y1) // 2 for p in plan.aux if p.seam == "h"} == {512}


def test_paper_weights_hand_over_from_base_to_seam_patch():
    plan = plan_patches(512, 1024, 512)  # two base patches, one seam patch at x = 512
    weights = patch_weights(plan, "paper")
    aux = next(i for i, p in enumerate(plan.patches) if p.kind == "aux")
    row = weights[aux][256]
    assert row[256] > 0.99  # the seam patch owns its seam line
    assert row[0] < 0.01 and row[-1] < 0.01  # and fades out towards its own edges
    # Before normalisation the raised cosines already add up to one (up to the floor).
    raw = accumulate(plan, [patch_weight(plan, i, "paper") for i in range(len(plan.patches))])
    assert np.allclose(raw, 1.0, atol=0.01)


def test_sliding_windows_overlap_by_the_chosen_fraction():
    plan = plan_patches(512, 2048, 512, "sliding", overlap=0.5)
    starts = sorted(p.x0 for p in plan.patches)
    assert np.diff(starts).tolist() == [256] * (len(starts) - 1)
    assert all((p.height, p.width) == (512, 512) for p in plan.patches)


def test_a_frame_smaller_than_the_patch_gets_one_patch_and_a_note():
    plan = plan_patches(100, 200, 512)
    assert [p.box for p in plan.patches] == [(0, 0, 100, 200)]
    assert plan.notes


@pytest.mark.parametrize("length, patch", [(1000, 512), (1100, 512), (17, 16), (5000, 512)])
def test_base_spans_are_contiguous(length, patch):
    spans = base_spans(length, patch)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_the_plan_in_latent_units_keeps_the_layout():
    plan = plan_patches(1088, 1920, 512)
    latent = plan.scaled(8)
    assert (latent.height, latent.width, latent.patch_size) == (136, 240, 64)
    assert [p.box for p in latent.patches] == [tuple(c // 8 for c in p.box) for p in plan.patches]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": 0, "width": 100},
        {"height": 100, "width": -1},
        {"height": 100, "width": 100, "patch_size": 100},
        {"height": 100, "width": 100, "patch_size": 0},
        {"height": 100, "width": 100, "scheme": "spiral"},
        {"height": 100, "width": 100, "scheme": "sliding", "overlap": 1.0},
    ],
)
def test_bad_requests_are_refused(kwargs):
    with pytest.raises(ValueError):
        plan_patches(**kwargs)
