"""One noise field per clip: the one-step mini model does not flicker on a still picture."""

import numpy as np
import pytest
import torch

from patchvsr.metrics import temporal_consistency
from patchvsr.runtime import load_pipeline
from patchvsr.serve.config import mini_installed
from patchvsr.temporal import clip_noise


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


@pytest.mark.skipif(not mini_installed(), reason="the mini model is not installed")
def test_mini_keeps_a_still_picture_still_across_windows():
    """7 identical frames, windows of 4 sharing 1: with fresh noise per frame the added detail
    changes from frame to frame; with the clip's noise field it stays (nearly) the same."""
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
