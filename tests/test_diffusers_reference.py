"""Parity with diffusers' own `WanVideoToVideoPipeline`: the same base model (tiny-wan, fp32),
the same video, prompt embedding, generator, steps and strength give the same latent.

PatchVSR at full frame without an adapter, colour fix off and guidance 1 is exactly Wan's
video-to-video: the scheduler the pipeline holds, `int(steps * strength)` steps from the end of
its timesteps, the clean latent noised at the first of them. Any drift in how steps, strength,
noise or timesteps are taken shows here.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanVideoToVideoPipeline
from PIL import Image

from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.pipeline.scheduling import scheduler_named

TINY_WAN = Path(__file__).resolve().parents[1] / "assets" / "tiny-wan"
FRAMES, HEIGHT, WIDTH = 5, 48, 64
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PATCHVSR_CACHE", str(tmp_path_factory.mktemp("cache")))
    try:
        yield PatchVSRPipeline.from_pretrained(TINY_WAN, dtype=torch.float32)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """(F, H, W, 3) uint8: smooth moving colours, a clip a VAE encodes meaningfully."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    clip = []
    for f in range(FRAMES):
        rgb = [
            np.sin((x + 3 * f) / 9.0),
            np.cos((y - 2 * f) / 7.0),
            np.sin((x + y + 5 * f) / 13.0),
        ]
        clip.append(np.stack(rgb, -1) * 110 + 128)
    return np.clip(np.stack(clip), 0, 255).astype(np.uint8)


def schedulers(pipe) -> dict:
    return {
        "unipc": pipe.scheduler,  # the folder's own, as the hub's Wan folder ships it
        "euler": FlowMatchEulerDiscreteScheduler(shift=3.0),  # one a user sets
    }


def test_the_folder_scheduler_is_the_one_held(pipe):
    assert type(pipe.scheduler).__name__ == "UniPCMultistepScheduler"
    assert pipe.scheduler.config.flow_shift == 3.0


@pytest.mark.parametrize("name", ["unipc", "euler"])
@pytest.mark.parametrize(("steps", "strength"), [(4, 0.75), (8, 0.5)])
def test_latent_equals_wan_video_to_video(pipe, frames, name, steps, strength):
    scheduler = schedulers(pipe)[name]
    held = pipe.scheduler
    pipe.scheduler = copy.deepcopy(scheduler)  # as a diffusers user swaps it
    got = pipe(
        frames,
        size=(HEIGHT, WIDTH),
        num_inference_steps=steps,
        strength=strength,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
        colour_correction="none",
        full_frame=True,
    ).frames
    pipe.scheduler = held

    reference = WanVideoToVideoPipeline(
        tokenizer=None,
        text_encoder=None,
        transformer=pipe.transformer,
        vae=pipe.vae,
        scheduler=copy.deepcopy(scheduler),
    )
    reference.set_progress_bar_config(disable=True)
    want = reference(
        video=[Image.fromarray(frame) for frame in frames],
        prompt_embeds=pipe.prompt_embeds,
        height=HEIGHT,
        width=WIDTH,
        num_inference_steps=steps,
        strength=strength,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(0),
        output_type="latent",
    ).frames

    assert got.shape == want.shape
    diff = float((got - want).abs().max())
    print(f"{name} steps={steps} strength={strength}: max |difference| {diff:.2e}")
    assert diff < TOLERANCE


def test_scheduler_names_keep_the_flow_shift(pipe):
    for name in ("unipc", "euler", "dpm++"):
        scheduler = scheduler_named(name, pipe.scheduler)
        shift = scheduler.config.get("flow_shift", scheduler.config.get("shift"))
        assert shift == 3.0, name


def test_a_negative_prompt_is_embedded_by_the_folders_text_encoder(pipe, frames):
    from patchvsr.pipeline.hub import prompt_cache_path

    def run(**guidance) -> torch.Tensor:
        return pipe(
            frames,
            size=(HEIGHT, WIDTH),
            num_inference_steps=2,
            strength=1.0,
            generator=torch.Generator().manual_seed(0),
            output_type="latent",
            colour_correction="none",
            full_frame=True,
            **guidance,
        ).frames

    plain = run()
    guided = run(guidance_scale=4.0, negative_prompt="blurry, noisy")
    empty = run(guidance_scale=4.0)  # diffusers' default negative prompt: ""
    assert prompt_cache_path(pipe.text_encoder_path, "blurry, noisy").exists()
    assert prompt_cache_path(pipe.text_encoder_path, "").exists()
    assert float((guided - plain).abs().max()) > 1e-3
    assert float((guided - empty).abs().max()) > 1e-5
