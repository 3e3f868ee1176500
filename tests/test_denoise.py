"""Mini's denoise control: a detail head told a denoise level (`patchvsr.models.detail`),
trained with each clip's degradation level (`patchvsr.train.graded`), the pipeline's
`denoise` argument and its estimate from the input ("auto", `patchvsr.method.denoise_level`), and the
one-line refusal of a bad value on the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from patchvsr.cli import main
from patchvsr.errors import PatchVSRError
from patchvsr.frames import frames_to_video
from patchvsr.method.denoise_level import FLOOR, blockiness, estimate_denoise, noise_sigma
from patchvsr.models.detail import DetailHead
from patchvsr.request import Request, RequestError, parse_denoise
from patchvsr.train.data import make_batch
from patchvsr.train.graded import film_grain, graded, graded_sharp
from patchvsr.train.loop import data_settings
from patchvsr.train.media import load_sources
from patchvsr.train.model import build_pipeline
from patchvsr.train.step import detail_loss
from tests.test_train import media, tiny_config  # noqa: F401  (media: the fixture)


def levelled_config(media_folder, **overrides):
    return tiny_config(
        media_folder,
        model__detail_channels=8,
        model__detail_blocks=1,
        model__detail_levels=True,
        **overrides,
    )


def _noisy_clip(media_folder) -> np.ndarray:
    clip = np.asarray(Image.open(media_folder / "texture1.png"))[None, :32, :48].repeat(2, axis=0)
    noise = np.random.default_rng(0).normal(0, 12, clip.shape)
    return np.clip(clip + noise, 0, 255).astype(np.uint8)


def _run(pipe, clip, **kwargs):
    return pipe(clip, scale=2, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                colour_correction="none", **kwargs).frames  # fmt: skip


def _learnt(pipe) -> None:
    """A head whose last layer and level modulation have learnt something (both start at 0)."""
    torch.manual_seed(1)
    torch.nn.init.normal_(pipe.adapter.detail.tail.weight, std=0.1)
    torch.nn.init.normal_(pipe.adapter.detail.level.out.weight, std=0.5)


@torch.no_grad()
def test_a_new_level_input_changes_nothing_and_level_0_is_the_plain_head():
    head = DetailHead(16, 8, 2, levels=True)
    torch.nn.init.normal_(head.tail.weight, std=0.1)
    x = torch.randn(2, 16, 3, 8, 8)
    torch.testing.assert_close(head(x, torch.tensor([0.0, 1.0])), head(x), rtol=0, atol=0)
    torch.nn.init.normal_(head.level.out.weight, std=0.5)
    both = head(x, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(both[:1], head(x[:1], 0.0))  # per item, level 0 = plain
    torch.testing.assert_close(both[:1], head(x[:1]))
    assert not torch.allclose(both[1:], head(x[1:], 0.0))


def test_denoise_0_and_1_give_different_outputs_on_noisy_input(media):  # noqa: F811
    pipe = build_pipeline(levelled_config(media).model, 0)
    assert pipe.has_denoise
    _learnt(pipe)
    clip = _noisy_clip(media)
    zero, one = _run(pipe, clip, denoise=0.0), _run(pipe, clip, denoise=1.0)
    assert zero.shape == one.shape and np.abs(zero.astype(int) - one.astype(int)).mean() > 0.5
    # auto is one of the levels, estimated from this (sigma 12) noisy clip: a high one.
    level = estimate_denoise(frames_to_video(clip))
    assert level > 0.5
    np.testing.assert_array_equal(_run(pipe, clip), _run(pipe, clip, denoise=level))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "x", True])
def test_the_pipeline_refuses_a_bad_level(media, bad):  # noqa: F811
    pipe = build_pipeline(levelled_config(media).model, 0)
    with pytest.raises(PatchVSRError, match="denoise must"):
        _run(pipe, _noisy_clip(media), denoise=bad)


def test_a_model_without_the_control_ignores_it(media):  # noqa: F811
    pipe = build_pipeline(tiny_config(media, model__detail_channels=8).model, 0)
    torch.nn.init.normal_(pipe.adapter.detail.tail.weight, std=0.1)
    assert not pipe.has_denoise
    clip = _noisy_clip(media)
    np.testing.assert_array_equal(_run(pipe, clip, denoise=1.0), _run(pipe, clip, denoise=0.0))


def test_request_and_command_line_values():
    assert parse_denoise("auto") is None and parse_denoise(" 0.25 ") == 0.25
    assert Request.make((8, 8), denoise=1).denoise == 1.0
    assert Request.make((8, 8)).denoise is None
    for bad in ("2", "-1", "nan", "strong"):
        with pytest.raises(RequestError):
            parse_denoise(bad)
    with pytest.raises(RequestError, match="denoise must be in"):
        Request.make((8, 8), denoise=1.2)


@pytest.mark.parametrize("value", ["1.5", "-0.2", "strong"])
def test_a_bad_denoise_is_one_line_and_no_output(value, make_clip, tmp_path, capsys):
    clip = make_clip(frames=2, size=(32, 24), audio=False)
    out = tmp_path / "out.mp4"
    args = ["upscale", str(clip), "-o", str(out), "--model", "bicubic", "--denoise", value, "-q"]
    assert main(args) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --denoise must"), lines
    assert not out.exists()


def test_auto_is_the_floor_unless_the_input_is_plainly_noisy_or_blocky():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:128]
    smooth = np.stack([100 + 60 * np.sin(x / 9.0) * np.cos(y / 11.0)] * 3, -1)
    clean = np.repeat(smooth[None], 3, 0).astype(np.uint8)
    grey_noise = rng.normal(0, 12, clean.shape[:3])[..., None]  # sigma 12 on Y
    noisy = np.clip(clean + grey_noise, 0, 255).astype(np.uint8)
    blocky = clean.copy()
    blocky[:, :, 8::8] = np.clip(blocky[:, :, 8::8].astype(int) + 12, 0, 255)
    as_video = frames_to_video
    assert noise_sigma(as_video(clean)) < 1.0 < 9.0 < noise_sigma(as_video(noisy)) < 13.0
    assert blockiness(as_video(blocky)) > blockiness(as_video(clean)) + 1.0
    assert estimate_denoise(as_video(clean)) == FLOOR
    assert estimate_denoise(as_video(noisy)) == 1.0
    assert estimate_denoise(as_video(blocky)) == 1.0


def test_graded_clips_degrade_with_their_level():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    frame = 0.6 * np.sin(x / 5.0) * np.cos(y / 7.0)
    clip = torch.tensor(np.stack([frame] * 3)[:, None].repeat(4, 1), dtype=torch.float32)
    reference = torch.nn.functional.avg_pool2d(clip, 4)  # the clean LR, roughly

    def error(level: float) -> float:
        errors = [
            float((graded(clip, 4, np.random.default_rng(k), level)[0] - reference).abs().mean())
            for k in range(4)
        ]
        return float(np.mean(errors))

    lr, level = graded(clip, 4, rng)
    assert lr.shape == (3, 4, 16, 16) and 0.05 <= level <= 1.0
    assert error(1.0) > error(0.1) * 1.5
    grainy = film_grain(torch.zeros(3, 2, 16, 16), rng, 10.0)
    assert not torch.equal(grainy[:, 0], grainy[:, 1])  # grain moves from frame to frame


def test_sharp_graded_clips_keep_the_detail_that_the_blurred_chain_loses():
    y, x = np.mgrid[0:64, 0:64]
    frame = 0.6 * np.sin(x / 2.0) * np.cos(y / 3.0)  # detail near the LR clip's limit
    clip = torch.tensor(np.stack([frame] * 3)[:, None].repeat(4, 1), dtype=torch.float32)
    reference = torch.nn.functional.avg_pool2d(clip, 4)

    def error(chain, level: float) -> float:
        errors = [
            float((chain(clip, 4, np.random.default_rng(k), level)[0] - reference).abs().mean())
            for k in range(6)
        ]
        return float(np.mean(errors))

    lr, level = graded_sharp(clip, 4, np.random.default_rng(0))
    assert lr.shape == (3, 4, 16, 16) and 0.05 <= level <= 1.0
    assert error(graded_sharp, 1.0) > error(graded_sharp, 0.1) * 1.5
    assert error(graded_sharp, 0.5) < 0.8 * error(graded, 0.5)


def test_training_scenes_carry_their_level_to_the_head(media):  # noqa: F811
    cfg = levelled_config(
        media, data__degradations={"bicubic": 1.0, "graded": 1.0}, model__trainable="detail"
    )
    batch = make_batch(load_sources(cfg.data.sources), data_settings(cfg), seed=0, step=0)
    assert batch.levels is not None and len(batch.levels) == len(batch.kinds)
    for kind, level in zip(batch.kinds, batch.levels.tolist(), strict=True):
        assert (level == 0.0) == (kind == "bicubic")
    pipe = build_pipeline(cfg.model, 0)
    _learnt(pipe)
    loss = detail_loss(pipe, batch)
    loss.backward()
    assert pipe.adapter.detail.level.out.weight.grad.abs().sum() > 0
