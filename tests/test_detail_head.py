"""The detail head (`patchvsr.models.detail`): a no-op when new, the base a residual model's
prediction is added to once it has learnt (in bf16 beside bf16 matrix products), trained
through the target, alone (the first stage) or with the transformer's last layer (the
second), saved and loaded with the adapter, and refused where there is no residual."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from patchvsr.models.adapter import PatchVSRAdapter
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.train.data import make_batch
from patchvsr.train.loop import data_settings, train
from patchvsr.train.media import load_sources
from patchvsr.train.model import build_pipeline, named_weights, trainable_parameters
from patchvsr.train.step import flow_loss
from tests.test_train import media, tiny_config  # noqa: F401  (media: the fixture)

ROOT = Path(__file__).resolve().parents[1]


def headed_config(media_folder: Path, **overrides):
    return tiny_config(media_folder, model__detail_channels=8, model__detail_blocks=1, **overrides)


def _clip(media_folder: Path) -> np.ndarray:
    return np.asarray(Image.open(media_folder / "texture1.png"))[None, :32, :48].repeat(2, axis=0)


def _run(pipe: PatchVSRPipeline, clip: np.ndarray, **kwargs):
    return pipe(clip, scale=2, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                colour_correction="none", **kwargs)  # fmt: skip


def _open(pipe: PatchVSRPipeline) -> None:
    """A head that has learnt something (a new one is a no-op)."""
    torch.manual_seed(1)
    torch.nn.init.normal_(pipe.adapter.detail.tail.weight, std=0.1)


def test_a_new_head_leaves_the_model_as_it_was(media):  # noqa: F811
    plain = build_pipeline(tiny_config(media).model, 0)
    headed = build_pipeline(headed_config(media).model, 0)
    assert headed.adapter.detail is not None and plain.adapter.detail is None
    clip = _clip(media)
    np.testing.assert_array_equal(_run(plain, clip).frames, _run(headed, clip).frames)


def test_the_prediction_is_added_to_the_sharpened_base(media):  # noqa: F811
    pipe = build_pipeline(headed_config(media).model, 0)
    _open(pipe)
    clip = _clip(media)
    seen = []
    hook = pipe.adapter.detail.register_forward_hook(lambda m, i, o: seen.append((i[0], o)))
    latent = _run(pipe, clip, output_type="latent").frames
    hook.remove()
    # Once per window, on the whole latent canvas: no patch edges for the convolutions.
    assert len(seen) == 1 and seen[0][0].shape == latent.shape
    with torch.no_grad():
        pipe.adapter.detail.tail.weight.zero_()
    without = _run(pipe, clip, output_type="latent").frames
    # The transformer's part is the same either way; the head's correction is added to it.
    correction = seen[0][1]
    assert correction.abs().max() > 1e-2
    torch.testing.assert_close(latent - without, correction, rtol=1e-4, atol=1e-5)


def test_with_bf16_matmuls_the_head_runs_in_bf16_and_the_base_stays_fp32(media):  # noqa: F811
    pipe = build_pipeline(headed_config(media).model, 0)
    _open(pipe)
    clip = _clip(media)
    seen = []
    hook = pipe.adapter.detail.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    fp32 = _run(pipe, clip, output_type="latent").frames
    pipe.enable_bf16_matmuls()
    bf16 = _run(pipe, clip, output_type="latent").frames
    hook.remove()
    assert seen == [torch.float32, torch.bfloat16]
    assert bf16.dtype == torch.float32  # the sum with the upscaled latent keeps the canvas's
    assert not torch.equal(bf16, fp32)
    torch.testing.assert_close(bf16, fp32, rtol=0, atol=0.02)


def test_saved_and_loaded_with_the_adapter(media, tmp_path):  # noqa: F811
    pipe = build_pipeline(headed_config(media).model, 0)
    _open(pipe)
    pipe.save_pretrained(tmp_path / "model")
    loaded = PatchVSRPipeline.from_pretrained(tmp_path / "model")
    assert loaded.adapter.config.detail_channels == 8
    torch.testing.assert_close(loaded.adapter.detail.tail.weight, pipe.adapter.detail.tail.weight)
    clip = _clip(media)
    np.testing.assert_array_equal(_run(loaded, clip).frames, _run(pipe, clip).frames)


def train_head(pipe: PatchVSRPipeline, loss_fn, steps: int) -> list[float]:
    """`steps` Adam steps on the detail head alone; the loss of each."""
    opt = torch.optim.Adam(pipe.adapter.detail.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_the_head_learns_the_detail_through_the_target(media):  # noqa: F811
    """With only the head training, a few steps lower the loss of a batch: the head moves
    the base towards the HR frames."""
    cfg = headed_config(media)
    pipe = build_pipeline(cfg.model, 0)
    batch = make_batch(load_sources(cfg.data.sources), data_settings(cfg), seed=0, step=0)
    head = list(pipe.adapter.detail.parameters())
    losses = train_head(pipe, lambda: flow_loss(pipe, batch, cfg.optim), 20)
    assert head[-2].grad.abs().sum() > 0  # the tail (zero at the start) got a gradient
    assert losses[-1] < 0.98 * losses[0], losses


def test_a_headed_run_exports_a_model_with_its_head(media, tmp_path):  # noqa: F811
    run = train(headed_config(media), out=tmp_path / "run", max_steps=2, echo=None)
    assert PatchVSRPipeline.from_pretrained(run / "pipeline").adapter.detail is not None


def test_a_head_needs_a_residual_model():
    with pytest.raises(ValueError, match="predict_residual"):
        PatchVSRAdapter(detail_channels=8, predict_residual=False)


def shipped_with_a_new_head(media_folder: Path, tmp_path: Path):
    """A saved model without a head, and `scripts/mini_weights.py init`'s weights file of it
    with a fresh head (for the headed tiny config)."""
    shipped = build_pipeline(tiny_config(media_folder).model, 0)
    shipped.save_pretrained(tmp_path / "shipped")
    text = (ROOT / "configs" / "tiny.toml").read_text()
    config = tmp_path / "headed.toml"
    config.write_text(
        text.replace("[model]\n", "[model]\ndetail_channels = 8\ndetail_blocks = 1\n")
    )
    out = tmp_path / "init.safetensors"
    script = str(ROOT / "scripts" / "mini_weights.py")
    args = [sys.executable, script, "init", str(tmp_path / "shipped"), str(config), str(out)]
    subprocess.run(args, check=True, cwd=ROOT, capture_output=True)
    return shipped, out


@pytest.mark.slow
def test_a_shipped_model_takes_a_new_head_for_fine_tuning(media, tmp_path):  # noqa: F811
    _, init = shipped_with_a_new_head(media, tmp_path)
    cfg = headed_config(media, run__init_weights=str(init))
    run = train(cfg, out=tmp_path / "run", max_steps=1, echo=None, export=False)
    assert "weights from" in (run / "train.log").read_text()


@pytest.mark.slow
def test_the_head_alone_is_the_first_stage(media, tmp_path):  # noqa: F811
    """`trainable = "detail"`: only the head trains, the transformer keeps the weights it was
    given but says nothing (its last layer at zero), so the exported model is the head's
    sharpened base, and a resumed run keeps the given transformer."""
    shipped, init = shipped_with_a_new_head(media, tmp_path)
    cfg = headed_config(media, model__trainable="detail", run__init_weights=str(init))
    pipe = build_pipeline(cfg.model, 0)
    assert set(trainable_parameters(pipe, "detail")) == {
        n for n in named_weights(pipe) if n.startswith("adapter.detail.")
    }
    run = train(cfg, out=tmp_path / "run", max_steps=3, echo=None)
    trained = PatchVSRPipeline.from_pretrained(run / "pipeline")
    assert not trained.transformer.proj_out.weight.any()
    for name, p in named_weights(trained).items():
        if not name.startswith(("adapter.detail.", "transformer.proj_out.")):
            torch.testing.assert_close(p, named_weights(shipped)[name], msg=name)
    assert trained.adapter.detail.tail.weight.any()
    # The output is the sharpened base and nothing else.
    result = _run(trained, _clip(media), output_type="latent")
    x = torch.from_numpy(_clip(media)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    _, z_lr, _ = trained.encode_inputs(x, (64, 96), (result.plan.height, result.plan.width))
    with torch.no_grad():
        torch.testing.assert_close(result.frames, trained.residual_base(z_lr))
    # Resumed, the run still has the transformer it was given, not a fresh one.
    resumed = train(cfg, out=run, max_steps=4, resume=True, echo=None)
    again = named_weights(PatchVSRPipeline.from_pretrained(resumed / "pipeline"))
    name = "transformer.blocks.0.attn1.to_q.weight"
    torch.testing.assert_close(again[name], named_weights(shipped)[name])


def test_the_second_stage_trains_the_head_and_the_transformers_last_layer(media):  # noqa: F811
    pipe = build_pipeline(headed_config(media).model, 0)
    names = set(trainable_parameters(pipe, "detail+output"))
    assert names == {
        n for n in named_weights(pipe) if n.startswith(("adapter.detail.", "transformer.proj_out."))
    }
    assert not pipe.transformer.blocks[0].attn1.to_q.weight.requires_grad
