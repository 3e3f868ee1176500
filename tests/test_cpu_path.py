"""The CPU path's speed-ups change no result beyond what they promise: the colour fix's
separable low pass is the 3x3 a trous wavelet's, and bf16 matrix products leave the canvas,
the fusion and the output dtype as they were, within a stated distance of fp32."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from clips import synthetic_clip

from patchvsr.method.colorfix import wavelet
from patchvsr.metrics import psnr_y
from patchvsr.pipeline.builders import build_tiny
from patchvsr.runtime import cpu_has_native_bf16


def reference_wavelet(content: torch.Tensor, style: torch.Tensor, levels: int = 5):
    """The textbook form: two low passes, each a depthwise 3x3 binomial kernel, dilated."""

    def low(x):
        kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
        kernel = kernel.expand(x.shape[1], 1, 3, 3)
        for i in range(levels):
            r = 2**i
            x = F.conv2d(
                F.pad(x, (r,) * 4, mode="replicate"), kernel, groups=x.shape[1], dilation=r
            )
        return x

    fold = lambda v: v.permute(0, 2, 1, 3, 4).flatten(0, 1)  # noqa: E731
    out = fold(content) - low(fold(content)) + low(fold(style))
    b, c, f = content.shape[:3]
    return out.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4)


@pytest.mark.parametrize("shape", [(1, 3, 2, 40, 72), (2, 3, 1, 9, 7), (1, 3, 3, 1, 33)])
def test_wavelet_colour_fix_equals_the_two_pass_3x3_form(shape):
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(shape, generator=gen) * 2 - 1
    style = torch.rand(shape, generator=gen) * 2 - 1
    assert torch.allclose(wavelet(content, style), reference_wavelet(content, style), atol=1e-5)


def test_wavelet_takes_the_colours_of_a_flat_style():
    content = torch.rand(1, 3, 2, 32, 32, generator=torch.Generator().manual_seed(1))
    style = torch.full_like(content, 0.25)
    out = wavelet(content, style)
    # The mean colour comes from the style; the detail stays the content's.
    assert out.mean().item() == pytest.approx(0.25, abs=0.02)
    assert torch.allclose(out - out.mean(), content - content.mean(), atol=0.35)


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="this CPU has no native bf16")
def test_bf16_matmuls_keep_the_output_within_45_db_of_fp32():
    pipe = build_tiny(seed=0)
    clip = synthetic_clip(5, 24, 40, 0)
    kwargs = dict(scale=2, num_inference_steps=2)
    fp32 = pipe(clip, generator=torch.Generator().manual_seed(0), **kwargs).frames
    pipe.enable_bf16_matmuls()
    try:
        out = pipe(clip, generator=torch.Generator().manual_seed(0), **kwargs)
        latent = pipe(
            clip, generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs
        )
    finally:
        pipe.enable_bf16_matmuls(False)
    assert out.frames.shape == fp32.shape and out.frames.dtype == np.uint8
    assert latent.frames.dtype == torch.float32  # the canvas stays in the pipeline's dtype
    assert not np.array_equal(out.frames, fp32)  # the products did run in bf16
    assert psnr_y(out.frames, fp32) > 45.0


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_upscale_takes_one_thread_per_core_that_other_work_leaves(monkeypatch, torch_threads):
    from patchvsr import runtime

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for busy, threads in ((0, 4), (1, 3), (3, 1), (9, 1)):
        monkeypatch.setattr(runtime, "busy_cores", lambda busy=busy: busy)
        assert runtime.use_free_cores() == threads == torch.get_num_threads()


def test_busy_cores_counts_the_other_running_tasks(tmp_path):
    from patchvsr.runtime import busy_cores

    stat = tmp_path / "stat"
    stat.write_text("cpu  1 2 3\nprocs_running 4\nprocs_blocked 0\n")
    assert busy_cores(samples=3, interval=0.0, stat=str(stat)) == 3  # this process not counted
    assert busy_cores(samples=1, interval=0.0, stat=str(tmp_path / "missing")) == 0


def test_a_thread_count_the_user_set_is_kept(monkeypatch, torch_threads):
    from patchvsr import runtime

    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(runtime, "busy_cores", lambda: 0)
    assert runtime.use_free_cores() == 1 == torch.get_num_threads()
