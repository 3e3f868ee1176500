"""Mini's second detail head, for input cleaned at denoise 1: the denoise control interpolates
the two heads' weights (`PatchVSRAdapter.base_latent`), it is saved and loaded with the
adapter and written by `scripts/mini_weights.py clean-head`, and it trains under the kept
transformer on inputs filtered as inference filters them (`data.clean_input`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch.func import functional_call

from patchvsr.frames import to_levels, to_signed
from patchvsr.method.clean_input import STEADY_LEVEL, clean_clip, clean_head_share
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.train.data import make_scene
from patchvsr.train.loop import data_settings
from patchvsr.train.media import load_sources
from patchvsr.train.model import build_pipeline
from patchvsr.train.step import detail_under_transformer_loss
from tests.test_detail_head import _clip, _run, headed_config, train_head
from tests.test_train import media  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]


def _two_heads(media_folder: Path) -> PatchVSRPipeline:
    """A headed tiny model whose two heads have learnt different things."""
    cfg = headed_config(media_folder, model__clean_input=True)
    pipe = build_pipeline(cfg.model, 0)
    two = pipe.adapter.with_clean_head()
    torch.manual_seed(1)
    with torch.no_grad():
        two.detail.tail.weight.normal_(std=0.1)
        for p in two.detail_clean.parameters():
            p.normal_(std=0.1)
    pipe.register_modules(adapter=two)
    return pipe


def test_the_share_of_the_clean_head_follows_the_spatial_stage():
    assert clean_head_share(None) == 0.0
    assert clean_head_share(0.0) == 0.0
    assert clean_head_share(STEADY_LEVEL) == 0.0  # the steady stage changes little
    assert clean_head_share(1.0) == 1.0
    assert clean_head_share(torch.tensor([0.625])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="one denoise level"):
        clean_head_share(torch.tensor([0.0, 1.0]))


def test_the_two_heads_weights_are_interpolated(media):  # noqa: F811
    adapter = _two_heads(media).adapter
    z = torch.randn(1, adapter.config.latent_channels, 2, 8, 12)
    with torch.no_grad():
        first, clean = adapter.detail(z), adapter.detail_clean(z)
        assert (clean - first).abs().max() > 1e-2
        torch.testing.assert_close(adapter.base_latent(z, 0.0), z + first)
        torch.testing.assert_close(adapter.base_latent(z, STEADY_LEVEL), z + first)
        torch.testing.assert_close(adapter.base_latent(z, 1.0), z + clean)
        # Halfway through the spatial stage: one head with the mean of the two's weights, not
        # the mean of their outputs (the heads are not linear).
        half = adapter.base_latent(z, 0.625)
        mean = {
            name: (p + q) / 2
            for (name, p), q in zip(
                adapter.detail.named_parameters(), adapter.detail_clean.parameters(), strict=True
            )
        }
        torch.testing.assert_close(half, z + functional_call(adapter.detail, mean, (z,)))
        assert (half - (z + (first + clean) / 2)).abs().max() > 1e-4


def test_saved_and_loaded_and_the_denoise_level_reaches_the_second_head(media, tmp_path):  # noqa: F811
    pipe = _two_heads(media)
    pipe.save_pretrained(tmp_path / "model")
    loaded = PatchVSRPipeline.from_pretrained(tmp_path / "model")
    assert loaded.adapter.config.clean_head
    torch.testing.assert_close(
        loaded.adapter.detail_clean.tail.weight, pipe.adapter.detail_clean.tail.weight
    )
    clip = _clip(media)
    # 0.25: the steady filter only, and the first head; 1: the other head on a filtered clip.
    seen = []
    hook = loaded.adapter.detail_clean.register_forward_hook(lambda *a: seen.append(1))
    low = _run(loaded, clip, denoise=STEADY_LEVEL).frames
    assert not seen
    high = _run(loaded, clip, denoise=1.0).frames
    hook.remove()
    assert seen
    assert np.abs(low.astype(np.int16) - high).max() > 2


def test_the_script_writes_a_checkpoints_head_as_the_second_head(media, tmp_path):  # noqa: F811
    shipped = build_pipeline(headed_config(media).model, 0)
    shipped.save_pretrained(tmp_path / "shipped")
    torch.manual_seed(2)
    trained = {
        f"adapter.detail.{name}": torch.randn_like(p)
        for name, p in shipped.adapter.detail.named_parameters()
    }
    save_file(trained, tmp_path / "ema.safetensors")
    script = str(ROOT / "scripts" / "mini_weights.py")
    args = [sys.executable, script, "clean-head", str(tmp_path / "ema.safetensors"),
            str(tmp_path / "shipped"), str(tmp_path / "out")]  # fmt: skip
    subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
    out = PatchVSRPipeline.from_pretrained(tmp_path / "out")
    for name, p in out.adapter.detail_clean.named_parameters():
        torch.testing.assert_close(p, trained[f"adapter.detail.{name}"], msg=name)
    for name, p in out.adapter.detail.named_parameters():  # the first head is untouched
        torch.testing.assert_close(p, dict(shipped.adapter.detail.named_parameters())[name])
    # A weights file without a head of that shape is refused in one line.
    save_file({"adapter.detail.tail.weight": torch.zeros(1)}, tmp_path / "bad.safetensors")
    bad = [*args[:3], str(tmp_path / "bad.safetensors"), *args[4:-1], str(tmp_path / "o2")]
    run = subprocess.run(bad, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and "does not hold a head" in run.stderr
    assert not (tmp_path / "o2").exists()


def test_training_inputs_are_filtered_as_inference_filters_them(media):  # noqa: F811
    cfg = headed_config(media, data__degradations={"graded": 1.0}, data__frames=3)
    sources = load_sources(cfg.data.sources)
    plain = make_scene(sources, data_settings(cfg), 0, 0, 0)
    cfg.data.clean_input = 1.0
    cleaned = make_scene(sources, data_settings(cfg), 0, 0, 0)
    assert torch.equal(plain.hr, cleaned.hr) and plain.level == cleaned.level
    expected = to_levels(clean_clip(to_signed(plain.lr)[None], 1.0)[0])
    # The filter runs before the 8-bit rounding in training, after it here: within a level.
    assert (cleaned.lr.int() - expected.int()).abs().max() <= 1
    assert (cleaned.lr.int() - plain.lr.int()).abs().max() > 3


def test_a_head_under_the_kept_transformer_learns_what_it_leaves(media):  # noqa: F811
    """`trainable = "detail"` with `keep_transformer`: the loss is the one-step output (the
    transformer's residual on the head's base) against the HR latent; only the head learns,
    and a few steps lower it."""
    from patchvsr.train.data import make_batch

    cfg = headed_config(media, model__trainable="detail", model__keep_transformer=True)
    pipe = build_pipeline(cfg.model, 0)
    torch.manual_seed(3)
    with torch.no_grad():
        pipe.transformer.proj_out.weight.normal_(std=0.05)  # a transformer that says something
    batch = make_batch(load_sources(cfg.data.sources), data_settings(cfg), seed=0, step=0)
    loss = detail_under_transformer_loss(pipe, batch, cfg.optim)
    with torch.no_grad():
        saved = pipe.transformer.proj_out.weight.clone()
        pipe.transformer.proj_out.weight.zero_()
        silent = detail_under_transformer_loss(pipe, batch, cfg.optim)
        pipe.transformer.proj_out.weight.copy_(saved)
    assert abs(loss.item() - silent.item()) > 1e-4  # the transformer is in the loop
    losses = train_head(pipe, lambda: detail_under_transformer_loss(pipe, batch, cfg.optim), 15)
    assert pipe.transformer.proj_out.weight.grad is None
    assert losses[-1] < 0.98 * losses[0], losses


def test_scale_output_scales_the_transformers_residual_and_nothing_else(media, tmp_path):  # noqa: F811
    """`scripts/mini_weights.py scale-output`: the one-step output is the head's base plus the
    transformer's residual times the factor; a velocity model is refused in one line."""
    pipe = build_pipeline(headed_config(media).model, 0)  # tiny predicts the sample
    torch.manual_seed(4)
    with torch.no_grad():
        pipe.transformer.proj_out.weight.normal_(std=0.05)
        pipe.adapter.detail.tail.weight.normal_(std=0.1)
    pipe.save_pretrained(tmp_path / "model")
    script = str(ROOT / "scripts" / "mini_weights.py")
    args = [sys.executable, script, "scale-output", str(tmp_path / "model"), "0.5",
            str(tmp_path / "half")]  # fmt: skip
    subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
    half = PatchVSRPipeline.from_pretrained(tmp_path / "half")
    clip = _clip(media)

    def one_step(p: PatchVSRPipeline) -> torch.Tensor:
        return p(clip, scale=2, num_inference_steps=1, strength=1.0, output_type="latent",
                 generator=torch.Generator().manual_seed(0), colour_correction="none").frames  # fmt: skip

    full, halved = one_step(pipe), one_step(half)
    x = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    plan = pipe(clip, scale=2, output_type="latent").plan
    _, z_lr, _ = pipe.encode_inputs(x, (64, 96), (plan.height, plan.width))
    with torch.no_grad():
        base = pipe.residual_base(z_lr)
    assert (full - base).abs().max() > 1e-2
    torch.testing.assert_close(halved - base, 0.5 * (full - base), rtol=1e-4, atol=1e-5)
    velocity = build_pipeline(headed_config(media, model__prediction_type="velocity").model, 0)
    velocity.save_pretrained(tmp_path / "velocity")
    bad = [*args[:3], str(tmp_path / "velocity"), "0.5", str(tmp_path / "v2")]
    run = subprocess.run(bad, cwd=ROOT, capture_output=True, text=True)
    assert run.returncode != 0 and "velocity" in run.stderr.splitlines()[-1]
    assert not (tmp_path / "v2").exists()
