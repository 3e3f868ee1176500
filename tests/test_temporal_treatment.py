"""Mini's temporal treatment: one noise field per clip, and its detail held steady where the
picture stands still; a still picture stays still across windows."""

import numpy as np
import pytest
import torch

from patchvsr.method.temporal_detail import clip_noise, steady_detail
from patchvsr.metrics import temporal_consistency
from patchvsr.runtime import load_pipeline
from patchvsr.serve.config import mini_installed


def test_clip_noise_is_one_field_held_over_the_frames():
    shape = (1, 3, 5, 6, 7)
    g = torch.Generator().manual_seed(3)
    a = clip_noise(shape, g)
    assert a.shape == shape
    assert torch.equal(a[:, :, 0], a[:, :, 4]) and a.std() > 0.5
    torch.randn(10, generator=g)  # a later window draws after other draws of the generator
    assert torch.equal(clip_noise(shape, g), a)
    assert not torch.equal(clip_noise(shape, g, salt=1), a)  # the condition's own field
    assert not torch.equal(clip_noise(shape, torch.Generator().manual_seed(4)), a)


@pytest.mark.slow
@pytest.mark.skipif(not mini_installed(), reason="the mini model is not installed")
def test_mini_keeps_a_still_picture_still_across_windows():
    """7 identical frames, in mini's windows of 4: with fresh noise per frame the added detail
    changes from frame to frame; with the clip's noise field it stays (nearly) the same, across
    the window boundary too."""
    pipe = load_pipeline("mini", device="cpu")
    assert pipe.config.clip_noise
    frame = np.random.default_rng(0).integers(0, 255, (1, 48, 64, 3), dtype=np.uint8)
    still = np.repeat(frame, 7, axis=0)

    def flicker() -> float:
        out = pipe(still, scale=4, generator=torch.Generator().manual_seed(0)).frames
        assert out.shape == (7, 192, 256, 3)
        return temporal_consistency(out)

    steady = flicker()
    pipe.register_to_config(clip_noise=False)
    fresh = flicker()
    assert steady < 0.25 * fresh, (steady, fresh)


def test_steady_detail_averages_detail_where_the_picture_stands_still():
    g = torch.Generator().manual_seed(0)
    still = (torch.rand(1, 3, 1, 24, 32, generator=g) * 1.6 - 0.8).expand(1, 3, 5, 24, 32)
    detail = 0.05 * torch.randn(1, 3, 5, 24, 32, generator=g)
    out = steady_detail(still + detail, still, still)
    kept = out - still
    # the middle frame's detail is the mean of the 5 frames around it
    torch.testing.assert_close(kept[:, :, 2], detail.mean(2), atol=1e-5, rtol=0)
    assert (kept[:, :, 1:] - kept[:, :, :-1]).abs().mean() < 0.5 * (
        detail[:, :, 1:] - detail[:, :, :-1]
    ).abs().mean()


def test_steady_detail_leaves_a_changed_frame_its_own_detail():
    g = torch.Generator().manual_seed(1)
    frames = (torch.rand(1, 3, 1, 24, 32, generator=g) * 0.5).repeat(1, 1, 3, 1, 1)
    frames[:, :, 1] -= 0.5  # a cut: 64 levels darker
    detail = 0.05 * torch.randn(1, 3, 3, 24, 32, generator=g)
    out = steady_detail(frames + detail, frames, frames)
    torch.testing.assert_close(out[:, :, 1], (frames + detail)[:, :, 1], atol=1e-5, rtol=0)
    # the unchanged frames 0 and 2 share their detail
    torch.testing.assert_close(
        out[:, :, 0] - frames[:, :, 0], detail[:, :, ::2].mean(2), atol=1e-5, rtol=0
    )
