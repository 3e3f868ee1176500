"""The shifted scheme end to end: its cost in `plan`, and the pipeline stepping through it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from clips import synthetic_clip

from patchvsr.cli import main
from patchvsr.method.grid import plan_patches
from patchvsr.method.step_layout import StepLayouts
from patchvsr.method.weights import accumulate
from patchvsr.pipeline.builders import build_tiny


@pytest.fixture(scope="module")
def pipe():
    return build_tiny()


def test_plan_json_for_4k_shifted_costs_a_tenth_of_one_full_frame_pass(capsys):
    code = main(["plan", "--in-size", "960x540", "--scale", "4", "--scheme", "shifted", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["scheme"] == "shifted"
    assert data["evaluations_per_step"] == 28 and data["num_aux"] == 0
    work = data["work"]
    assert work["full_frame_flops"] / work["flops_per_step"] >= 10


def test_plan_counts_the_heaviest_shifted_step():
    from patchvsr.cost import estimate_work

    shifted = estimate_work(plan_patches(2160, 3840, 512, "shifted"))
    tiles = estimate_work(plan_patches(2160, 3840, 512, "tiles"))
    # Step 2 moves the seams by half a patch: larger corner patches, more attention work.
    assert shifted.tokens_per_step == tiles.tokens_per_step
    assert shifted.flops_per_step > tiles.flops_per_step
    assert max(shifted.tokens_per_patch) > max(tiles.tokens_per_patch)


def test_step_fusion_gives_each_step_its_own_plan_with_weights_summing_to_one():
    plan = plan_patches(96, 160, 64, "shifted")
    fusion = StepLayouts(plan, 8, "paper", torch.device("cpu"), torch.float64)
    layouts = set()
    for step in range(4):
        latent, weights = fusion(step)
        total = accumulate(latent, [w.numpy() for w in weights])
        np.testing.assert_allclose(total, 1.0, atol=1e-9)
        layouts.add(tuple(p.box for p in latent.patches))
    assert len(layouts) == 4
    assert fusion(5) is fusion(5)  # built once per layout


def test_one_shifted_step_is_plain_tiling(pipe):
    clip = synthetic_clip(1, 12, 20, 0)
    kwargs = dict(scale=4, patch_size=32, num_inference_steps=1)
    tiles = pipe(clip, scheme="tiles", generator=torch.Generator().manual_seed(0), **kwargs)
    shifted = pipe(clip, scheme="shifted", generator=torch.Generator().manual_seed(0), **kwargs)
    assert np.array_equal(tiles.frames, shifted.frames)


def test_several_shifted_steps_move_the_seams(pipe):
    clip = synthetic_clip(1, 12, 20, 0)
    kwargs = dict(scale=4, patch_size=32, num_inference_steps=3, output_type="latent")
    tiles = pipe(clip, scheme="tiles", generator=torch.Generator().manual_seed(0), **kwargs)
    shifted = pipe(clip, scheme="shifted", generator=torch.Generator().manual_seed(0), **kwargs)
    assert shifted.plan.evaluations_per_step == tiles.plan.evaluations_per_step
    assert not torch.equal(tiles.frames, shifted.frames)


def test_the_default_scheme_is_shifted_from_two_steps_and_the_paper_grid_at_one(pipe):
    clip = synthetic_clip(1, 12, 20, 0)
    kwargs = dict(scale=4, patch_size=32, output_type="latent")
    one = pipe(clip, num_inference_steps=1, generator=torch.Generator().manual_seed(0), **kwargs)
    two = pipe(clip, num_inference_steps=2, generator=torch.Generator().manual_seed(0), **kwargs)
    assert one.plan.scheme == "paper" and two.plan.scheme == "shifted"
    # Strength counts the steps that run: 4 steps at strength 0.25 run one.
    low = pipe(clip, num_inference_steps=4, strength=0.25, generator=torch.Generator(), **kwargs)
    assert low.plan.scheme == "paper"


def test_memory_check_sizes_a_shifted_grid_by_its_largest_step(pipe):
    """A shifted step can hold patches larger than step 0's: the activation estimate (and so
    the out-of-memory check and the batch size) follows the largest patch of any step."""
    from patchvsr.method.grid import step_plans
    from patchvsr.pipeline.memory import patch_activation_bytes

    shifted = pipe.plan_for((216, 384), 32, "shifted")
    area = [max(p.height * p.width for p in s.patches) for s in step_plans(shifted, 8)]
    assert max(area) > area[0]  # the case the check must not miss
    largest = max(
        (p for s in step_plans(shifted, 8) for p in s.patches), key=lambda p: p.height * p.width
    )
    one_patch = plan_patches(largest.height, largest.width, largest.height, "tiles", align=16)
    assert patch_activation_bytes(pipe, shifted, 4) == patch_activation_bytes(pipe, one_patch, 4)
