"""PatchVSRPipeline on the tiny model: shapes, determinism, joint modulation, parity."""

import numpy as np
import pytest
import torch
from clips import synthetic_clip

from patchvsr.errors import PatchVSRError
from patchvsr.method.fusion import fuse_patches
from patchvsr.method.weights import patch_weights
from patchvsr.pipeline.builders import build_tiny


@pytest.fixture(scope="module")
def pipe():
    return build_tiny()


def _clip(frames=5, height=24, width=40, seed=0):
    return synthetic_clip(frames, height, width, seed)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _predictor(pipe, t: float):
    """The pipeline's patch prediction at timestep t, without global context, at scale 2."""
    return lambda x, c, boxes: pipe.predict_patches(
        x, c, torch.full((len(x),), t), boxes, None, 2.0
    )


@pytest.mark.parametrize(
    ("frames", "size"),
    [
        (5, (48, 80)),
        (7, (37, 51)),
        (1, (32, 30)),
        pytest.param(11, (50, 66), marks=pytest.mark.slow),  # three windows: about 12 s of CPU
    ],
)
def test_output_has_requested_size_and_frame_count(pipe, frames, size):
    out = pipe(_clip(frames), size=size, num_inference_steps=1, generator=_gen())
    assert out.frames.shape == (frames, *size, 3)
    assert out.frames.dtype == np.uint8


@pytest.mark.slow
def test_same_seed_same_output_other_seed_differs(pipe):
    a = pipe(_clip(), scale=2, num_inference_steps=2, generator=_gen(1)).frames
    b = pipe(_clip(), scale=2, num_inference_steps=2, generator=_gen(1)).frames
    c = pipe(_clip(), scale=2, num_inference_steps=2, generator=_gen(2)).frames
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_one_patch_covering_the_frame_equals_full_frame(pipe):
    kwargs = dict(size=(48, 64), num_inference_steps=2, colour_correction="none")
    patched = pipe(_clip(), patch_size=64, generator=_gen(3), **kwargs)
    assert len(patched.plan.patches) == 1
    full = pipe(_clip(), full_frame=True, generator=_gen(3), **kwargs)
    assert np.array_equal(patched.frames, full.frames)


def test_fusing_identical_predictions_reproduces_them(pipe):
    """A model that returns its input: after fusion the canvas must come back unchanged, so
    the fusion itself adds no seams."""

    class Echo(torch.nn.Module):
        base, adapter = pipe.transformer, pipe.adapter

        def forward(self, latents, *args, **kwargs):
            return latents

    plan = pipe.plan_for((96, 160), 32, "paper").scaled(8)
    assert len(plan.aux) > 0
    weights = [torch.from_numpy(w).float() for w in patch_weights(plan, "paper")]
    canvas = torch.randn(1, 4, 3, plan.height, plan.width, generator=_gen())
    original, pipe._model = pipe._model, Echo()
    try:
        fused = fuse_patches(_predictor(pipe, 500.0), canvas, canvas, plan, weights, None, 3)
    finally:
        pipe._model = original
    torch.testing.assert_close(fused, canvas, rtol=0, atol=1e-6)


def test_global_branch_runs_once_per_step(pipe):
    steps = 3
    before = pipe.model.global_calls
    out = pipe(_clip(5, 48, 64), scale=2, num_inference_steps=steps, generator=_gen())
    assert len(out.plan.patches) > 10
    assert pipe.model.global_calls - before == steps


@pytest.mark.slow
def test_long_clip_is_processed_in_blended_windows(pipe):
    clip = _clip(20)
    before = pipe.model.global_calls
    out = pipe(clip, scale=2, num_inference_steps=1, generator=_gen())
    assert out.frames.shape[0] == 20
    windows = pipe.model.global_calls - before
    assert windows >= 3  # 20 frames in windows of 9 overlapping by 4


def test_strength_runs_the_last_part_of_the_schedule(pipe):
    before = pipe.model.global_calls
    pipe(_clip(), scale=2, num_inference_steps=8, strength=0.25, generator=_gen())
    assert pipe.model.global_calls - before == 2


def test_bad_arguments_are_clear_errors(pipe):
    with pytest.raises(PatchVSRError, match="strength"):
        pipe(_clip(), scale=2, strength=0.0)
    with pytest.raises(PatchVSRError, match="scale"):
        pipe(_clip(), scale=-1)
    with pytest.raises(PatchVSRError, match="exactly one"):
        pipe(_clip(), scale=2, size=(10, 10))
    with pytest.raises(PatchVSRError, match="multiple of 16"):
        pipe(_clip(), scale=2, patch_size=40)


def test_size_too_large_for_memory_is_refused_before_work(pipe):
    with pytest.raises(PatchVSRError, match="GiB"):
        pipe(_clip(), size=(16000, 16000), num_inference_steps=1)


def test_paper_weights_leave_fewer_seams_than_naive_tiling(pipe):
    """Joint modulation at work: the tiny model's fused prediction for one denoising step,
    scored at the base patches' seams. Neighbouring patches disagree there (each sees its own
    box and context); with the auxiliary seam patches and the paper's weights the canvas must
    be much smoother across the seams than with plain tiles. Scored on the latent canvas that
    the scheduler steps, before the random tiny decoder can blur the evidence."""
    from patchvsr.metrics import seam_lines, seam_score

    height, width = 96, 160
    g = _gen()
    smooth = torch.randn(1, 12, 6, 10, generator=g)
    canvas = torch.nn.functional.interpolate(
        smooth, size=(height // 8, width // 8), mode="bilinear"
    )
    canvas = canvas.reshape(1, 4, 3, height // 8, width // 8)
    seams = seam_lines(pipe.plan_for((height, width), 32, "tiles").scaled(8))
    scores = {}
    for scheme, mode in [("paper", "paper"), ("tiles", "uniform")]:
        plan = pipe.plan_for((height, width), 32, scheme).scaled(8)
        weights = [torch.from_numpy(w).float() for w in patch_weights(plan, mode)]
        with torch.no_grad():
            fused = fuse_patches(_predictor(pipe, 700.0), canvas, canvas, plan, weights, None, 8)
        scores[scheme] = seam_score(fused[0].permute(1, 2, 3, 0).numpy(), *seams)
    assert scores["tiles"] > 1.15  # naive tiling: visible seams
    assert scores["paper"] < 1.08  # joint modulation: close to no seams at all


def test_moving_the_pipeline_moves_the_adapter():
    pipe = build_tiny().to(torch.float64)
    assert next(pipe.adapter.parameters()).dtype == torch.float64
    assert pipe.transformer.dtype == torch.float64


def test_steps_times_strength_that_runs_no_step_is_refused(pipe):
    # diffusers' rule: int(4 * 0.2) = 0 steps would run
    with pytest.raises(PatchVSRError, match="runs none"):
        pipe(_clip(), scale=2, num_inference_steps=4, strength=0.2)
    with pytest.raises(PatchVSRError, match="guidance_scale"):
        pipe(_clip(), scale=2, guidance_scale=0.5)
    with pytest.raises(PatchVSRError, match="text encoder"):
        pipe(_clip(), scale=2, guidance_scale=2.0, negative_prompt="blurry")


def test_guidance_against_the_prompt_itself_is_no_guidance(pipe):
    # uncond + g (cond - uncond) = cond when both predictions are the same prompt's
    plain = pipe(_clip(), scale=2, generator=_gen(), output_type="pt").frames
    same = pipe(
        _clip(),
        scale=2,
        generator=_gen(),
        output_type="pt",
        guidance_scale=3.0,
        negative_prompt_embeds=pipe.prompt_embeds,
    ).frames
    guided = pipe(_clip(), scale=2, generator=_gen(), output_type="pt", guidance_scale=3.0)
    guided = guided.frames
    torch.testing.assert_close(same, plain, atol=1e-5, rtol=0)
    assert float((guided - plain).abs().max()) > 1e-3


def test_guidance_runs_the_model_twice_per_step(pipe):
    before = pipe.model.global_calls
    pipe(_clip(), scale=2, num_inference_steps=2, generator=_gen(), guidance_scale=2.0)
    assert pipe.model.global_calls - before == 4  # 2 steps x (prompt, negative)


def test_timesteps_reach_the_model_in_fp32():
    pipe = build_tiny().to(torch.bfloat16)
    seen = []
    original = pipe.model.forward

    def spy(latents, timestep, *args, **kwargs):
        seen.append(timestep.dtype)
        return original(latents, timestep, *args, **kwargs)

    pipe.model.forward = spy
    pipe(_clip(frames=1), scale=2, num_inference_steps=2, generator=_gen())
    assert seen and set(seen) == {torch.float32}


def test_a_multistep_scheduler_restarts_for_every_window():
    from diffusers import UniPCMultistepScheduler

    pipe = build_tiny()
    pipe.scheduler = UniPCMultistepScheduler.from_config(
        pipe.scheduler.config, prediction_type="flow_prediction", use_flow_sigmas=True
    )
    seen = []  # (step index, solver history) as each scheduler step begins
    original = pipe.scheduler.step

    def spy(*args, **kwargs):
        history = sum(x is not None for x in pipe.scheduler.model_outputs)
        seen.append((pipe.scheduler.step_index, history))
        return original(*args, **kwargs)

    pipe.scheduler.step = spy
    pipe(_clip(frames=14), scale=2, num_inference_steps=3, generator=_gen())
    assert len(pipe.windows_for(14)) == 2
    # every window starts the solver from nothing: no index, no history of the last window
    assert seen == [(None, 0), (1, 1), (2, 2)] * 2


def test_model_cpu_offload_runs_a_whole_upscale():
    pipe = build_tiny()
    want = pipe(_clip(), scale=2, generator=_gen()).frames
    pipe.enable_model_cpu_offload(device="cpu")
    assert pipe._execution_device.type == "cpu"
    got = pipe(_clip(), scale=2, generator=_gen()).frames
    np.testing.assert_array_equal(got, want)
