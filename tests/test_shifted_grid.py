"""The shifted scheme: base patches only, seams moved at every denoising step."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_grid import FAST, lengths, patch_sizes

from patchvsr.method.grid import plan_patches, shift_fraction, step_plan, step_plans
from patchvsr.method.weights import accumulate, coverage, patch_weights

steps = st.integers(min_value=0, max_value=40)


def interior_edges(plan, axis: int) -> set[int]:
    """Seam positions along one axis (0: rows, 1: columns)."""
    starts = {p.box[axis] for p in plan.patches}
    return starts - {0}


@FAST
@given(lengths, lengths, patch_sizes, steps)
def test_each_steps_patches_tile_the_canvas_exactly(height, width, patch, step):
    plan = step_plan(plan_patches(height, width, patch, "shifted"), step)
    assert (coverage(plan) == 1).all()
    for p in plan.patches:
        assert 0 <= p.y0 < p.y1 <= height and 0 <= p.x0 < p.x1 <= width


@FAST
@given(lengths, lengths, patch_sizes, steps, st.sampled_from(["paper", "linear", "gaussian"]))
def test_each_steps_weights_sum_to_one(height, width, patch, step, mode):
    plan = step_plan(plan_patches(height, width, patch, "shifted"), step)
    total = accumulate(plan, patch_weights(plan, mode))
    np.testing.assert_allclose(total, 1.0, atol=1e-9)


@FAST
@given(lengths, lengths, patch_sizes, steps)
def test_every_step_costs_the_same_evaluations_as_plain_tiles(height, width, patch, step):
    tiles = plan_patches(height, width, patch, "tiles")
    shifted = step_plan(plan_patches(height, width, patch, "shifted"), step)
    assert shifted.evaluations_per_step == tiles.evaluations_per_step
    assert not shifted.aux


@FAST
@given(lengths, lengths, patch_sizes, steps)
def test_shifted_edges_stay_on_the_token_lattice(height, width, patch, step):
    plan = step_plan(plan_patches(height, width, patch, "shifted"), step)
    for p in plan.patches:
        for edge, end in ((p.y0, height), (p.y1, height), (p.x0, width), (p.x1, width)):
            assert edge in (0, end) or edge % 16 == 0


@FAST
@given(lengths, lengths, st.sampled_from([64, 96, 128]))
def test_no_seam_sits_in_one_place_twice_in_four_steps(height, width, patch):
    plans = step_plans(plan_patches(height, width, patch, "shifted"), 4)
    for axis, length in ((0, height), (1, width)):
        if length < 2 * patch:
            continue  # one span along this axis: no seam to move
        seen: set[int] = set()
        for plan in plans:
            edges = interior_edges(plan, axis)
            assert edges and not edges & seen
            seen |= edges


@FAST
@given(lengths, lengths, patch_sizes, steps)
def test_shifted_patches_stay_between_half_and_two_and_a_half_patches(height, width, patch, step):
    plan = step_plan(plan_patches(height, width, patch, "shifted"), step)
    for p in plan.patches:
        for side, length in ((p.height, height), (p.width, width)):
            if length >= 2 * patch:
                assert patch // 2 - 8 <= side < 2.5 * patch + 8


def test_the_first_step_is_plain_tiling():
    shifted = plan_patches(576, 1024, 128, "shifted")
    assert step_plan(shifted, 0).patches == plan_patches(576, 1024, 128, "tiles").patches
    assert step_plan(shifted, 0).offset == (0, 0)


def test_consecutive_steps_move_the_seams_by_half_then_a_quarter_of_a_patch():
    assert [shift_fraction(i) for i in range(5)] == [0.0, 0.5, 0.25, -0.25, 0.125]
    plans = step_plans(plan_patches(2160, 3840, 512, "shifted"), 4)
    assert [p.offset for p in plans] == [(0, 0), (256, 256), (128, 128), (-128, -128)]


def test_4k_shifted_takes_28_evaluations_per_step_against_91_for_the_paper_grid():
    paper = plan_patches(2160, 3840, 512, "paper")
    assert paper.evaluations_per_step == 91
    for plan in step_plans(plan_patches(2160, 3840, 512, "shifted"), 8):
        assert plan.evaluations_per_step == 28


def test_other_schemes_use_one_plan_for_every_step():
    paper = plan_patches(576, 1024, 128, "paper")
    assert all(p is paper for p in step_plans(paper, 5))


def test_a_shifted_plan_in_latent_units_keeps_its_offset():
    plan = step_plan(plan_patches(576, 1024, 128, "shifted"), 1)
    latent = plan.scaled(4)
    assert latent.offset == (16, 16)
    assert [p.box for p in latent.patches] == [tuple(c // 4 for c in p.box) for p in plan.patches]
