"""Training: the loop learns, resuming continues the same curve, configs fail clearly, the
exported model loads, and training feeds the model exactly what inference feeds it."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from patchvsr.cli import main
from patchvsr.errors import PatchVSRError
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline, upscale_bicubic
from patchvsr.train import data_settings, train
from patchvsr.train.config import load_config
from patchvsr.train.data import as_video, make_batch
from patchvsr.train.degrade import from_uint8, to_uint8
from patchvsr.train.media import load_sources
from patchvsr.train.model import build_pipeline, trainable_parameters
from patchvsr.train.step import flow_loss

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.toml"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """A few textured images (training media made at test time)."""
    folder = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:112]
    for i in range(3):
        img = np.stack(
            [
                128 + 100 * np.sin(x / (3 + i)),
                128 + 100 * np.cos(y / (4 + i)),
                128 + 60 * np.sin((x + y) / 7),
            ],
            -1,
        )
        img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"texture{i}.png")
    return folder


def tiny_config(media: Path, **overrides):
    cfg = load_config(TINY)
    cfg.data.sources = [str(media)]
    for key, value in overrides.items():
        section, name = key.split("__")
        setattr(getattr(cfg, section), name, value)
    return cfg


def _fixed_loss(cfg, pipe) -> float:
    """The loss on six fixed batches, two draws of noise each (batches the run never sees)."""
    sources, settings = load_sources(cfg.data.sources), data_settings(cfg)
    losses = []
    with torch.no_grad():
        for step in range(6):
            batch = make_batch(sources, settings, seed=999, step=step)
            for k in range(2):  # two draws of noise and noise level
                noise = dataclasses.replace(batch, seeds=batch.seeds + k)
                losses.append(float(flow_loss(pipe, noise, cfg.optim)))
    return float(np.mean(losses))


def test_a_scratch_model_starts_as_the_bicubic_upscale(media):
    """Base output layer at zero, adapter output layers open: no residual at step 0, and the
    condition already reaches the output (a zero hint would make a saddle with it)."""
    cfg = tiny_config(media)
    pipe = build_pipeline(cfg.model, cfg.run.seed)
    assert not pipe.transformer.proj_out.weight.any()
    assert all(layer.weight.any() for layer in pipe.adapter.hint_proj)
    clip = np.asarray(Image.open(media / "texture1.png"))[None, :32, :48]
    out = pipe(
        clip, scale=2, num_inference_steps=1, colour_correction="none",
        generator=torch.Generator().manual_seed(0),
    ).frames  # fmt: skip
    lr = from_uint8(clip)[None]
    bicubic = to_uint8(upscale_bicubic(lr, 64, 96)[0])
    assert np.abs(out.astype(int) - bicubic.astype(int)).max() <= 1


def test_a_short_run_learns_a_residual_beyond_bicubic(media, tmp_path):
    """From "no residual" (the bicubic upscale), 40 steps learn part of the detail bicubic
    misses: the loss on a batch the run never sees goes down."""
    cfg = tiny_config(media, run__max_steps=40, optim__batch_size=4)
    before = _fixed_loss(cfg, build_pipeline(cfg.model, cfg.run.seed))
    run = train(cfg, out=tmp_path / "run", echo=None, export=False)
    pipe = build_pipeline(cfg.model, cfg.run.seed)
    params = trainable_parameters(pipe, cfg.model.trainable)
    weights = load_file(run / "checkpoint" / "weights.safetensors")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])
    after = _fixed_loss(cfg, pipe)
    assert after < 0.96 * before, (before, after)  # 0.92 when written
    assert (run / "loss.png").stat().st_size > 1000


def test_resume_reproduces_the_loss_curve(media, tmp_path):
    cfg = tiny_config(media, run__checkpoint_every=4)
    straight = train(cfg, out=tmp_path / "a", max_steps=10, echo=None, export=False)
    first = train(tiny_config(media), out=tmp_path / "b", max_steps=5, echo=None, export=False)
    resumed = train(
        tiny_config(media), out=first, max_steps=10, resume=True, echo=None, export=False
    )

    def curve(run):
        return json.loads((run / "checkpoint" / "state.json").read_text())["losses"]

    assert len(curve(straight)) == 10
    assert curve(resumed) == curve(straight)  # exactly: same batches, noise, moments
    a = load_file(straight / "checkpoint" / "ema.safetensors")
    b = load_file(resumed / "checkpoint" / "ema.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_time_budget_stops_cleanly_and_exports_a_loadable_model(media, tmp_path):
    cfg = tiny_config(media, run__holdout=[str(media / "texture0.png")])
    run = train(cfg, out=tmp_path / "run", max_steps=100000, time_budget=2.0, echo=None)
    log = (run / "train.log").read_text()
    assert "time budget" in log
    assert (run / "samples.png").exists() and "sample texture0" in log
    pipe = PatchVSRPipeline.from_pretrained(run / "pipeline")
    assert (pipe.config.default_steps, pipe.config.default_strength) == (2, 0.5)
    clip = np.asarray(Image.open(media / "texture1.png"))[None, :32, :48]
    out = pipe(clip, scale=2, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert out.frames.shape == (1, 64, 96, 3)


def test_adapter_and_lora_train_with_the_base_frozen(media, tmp_path):
    cfg = tiny_config(media, model__trainable="adapter+lora", model__lora_rank=2)
    pipe = build_pipeline(cfg.model, cfg.run.seed)
    names = trainable_parameters(pipe, cfg.model.trainable)
    assert all(n.startswith("adapter.") or "lora_" in n for n in names)
    base_names = {
        n.replace("base_layer.", "")
        for n, _ in pipe.transformer.named_parameters()
        if "lora_" not in n
    }
    run = train(cfg, out=tmp_path / "run", max_steps=4, echo=None)
    weights = load_file(run / "checkpoint" / "weights.safetensors")
    assert not any(k.startswith("transformer.") and "lora_" not in k for k in weights)
    # The export folds LoRA into a stock transformer: it loads without peft's wrappers.
    exported = PatchVSRPipeline.from_pretrained(run / "pipeline")
    assert not any("lora" in n for n, _ in exported.transformer.named_parameters())
    assert base_names == {n for n, _ in exported.transformer.named_parameters()}


def test_bf16_autocast_step_runs(media, tmp_path):
    """The GPU recipe's precision path (bf16 autocast), exercised on the CPU."""
    cfg = tiny_config(media, run__mixed_precision="bf16")
    run = train(cfg, out=tmp_path / "run", max_steps=2, echo=None, export=False)
    assert "precision bf16" in (run / "train.log").read_text()


def test_training_feeds_the_model_what_inference_feeds_it(media):
    """Spy on the model's inputs: a training patch and the inference patch with the same box
    in the same LR clip get the same condition latent, box, scale and global-view latent."""
    cfg = tiny_config(media, model__cond_noise_timestep=0.0)
    pipe = build_pipeline(cfg.model, cfg.run.seed)
    batch = make_batch(load_sources(cfg.data.sources), data_settings(cfg), seed=3, step=0)
    batch.boxes[0] = torch.tensor([0, 32, 32, 64])
    seen = []
    original_predict, original_global = pipe.predict_patches, pipe.model.encode_global

    def spy_predict(latents, cond, timestep, boxes, context, scale, prompt_embeds=None):
        seen.append(("patches", cond.detach().clone(), boxes.clone(), float(scale)))
        return original_predict(latents, cond, timestep, boxes, context, scale, prompt_embeds)

    def spy_global(glob, timestep, text):
        seen.append(("global", glob.detach().clone()))
        return original_global(glob, timestep, text)

    pipe.predict_patches, pipe.model.encode_global = spy_predict, spy_global
    with torch.no_grad():
        flow_loss(pipe, batch, cfg.optim)
        train_global, train_patches = seen[0][1][:1], seen[1]
        seen.clear()
        pipe(
            as_video(batch.lr[:1]),
            scale=batch.scale,
            num_inference_steps=1,
            patch_size=32,
            colour_correction="none",
        )
    infer_global = next(s[1] for s in seen if s[0] == "global")
    torch.testing.assert_close(train_global, infer_global)
    target = train_patches[2][0]
    for _, cond, boxes, scale in (s for s in seen if s[0] == "patches"):
        for i in range(len(boxes)):
            if torch.allclose(boxes[i], target):
                torch.testing.assert_close(cond[i], train_patches[1][0])
                assert scale == train_patches[3]
                return
    pytest.fail("no inference patch has the training patch's box")


SOURCES = "[data]\nsources = ['media']\n"
BAD_CONFIGS = {
    SOURCES + "[optim]\nlr = -1\n": "optim.lr",
    SOURCES + "[optim]\nlrr = 1e-3\n": "optim.lrr",
    SOURCES + "[model]\ndim = 'big'\n": "model.dim",
    SOURCES + "[model]\ndim = 100\nnum_heads = 3\n": "model.dim",
    SOURCES + "[run]\nmixed_precision = 'fp8'\n": "run.mixed_precision",
    SOURCES + "degradations = { blurry = 1.0 }\n": "data.degradations",
    SOURCES + "scenes = [[100, 64]]\n": "data.scenes",
    SOURCES + "patch = 44\n": "data.patch",
    SOURCES + "[model]\npredict_residual = false\ndetail_channels = 8\n": "model.detail_channels",
    SOURCES + "[model]\ndetail_channels = -1\n": "model.detail_channels",
    SOURCES + "[model]\ntrainable = 'detail'\n": "model.trainable",
    SOURCES + "[model]\ntrainable = 'detail+output'\n": "model.trainable",
    "[data]\nsources = []\n": "data.sources",
    "[training]\nsteps = 3\n": "[training]",
    "[run\n": "not valid TOML",
}


@pytest.mark.parametrize(("text", "named"), list(BAD_CONFIGS.items()))
def test_bad_configs_are_one_line_errors_with_exit_code_2(tmp_path, capsys, text, named):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and named in err, err


def test_an_existing_run_is_not_overwritten(media, tmp_path, capsys):
    cfg = tiny_config(media)
    train(cfg, out=tmp_path / "run", max_steps=1, echo=None, export=False)
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.read_text().replace('["assets/examples"]', f'["{media}"]'))
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--max-steps", "2"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_a_checkpoint_without_optimizer_and_ema_still_resumes(media, tmp_path):
    """The GPU script ships weights and state only (small files); training goes on from them."""
    run = train(tiny_config(media), out=tmp_path / "run", max_steps=3, echo=None, export=False)
    (run / "checkpoint" / "optimizer.safetensors").unlink()
    (run / "checkpoint" / "ema.safetensors").unlink()
    train(tiny_config(media), out=run, max_steps=5, resume=True, echo=None, export=False)
    assert "AdamW starts them afresh" in (run / "train.log").read_text()
    assert len(json.loads((run / "checkpoint" / "state.json").read_text())["losses"]) == 5


def test_timestep_shift_moves_samples_towards_high_noise():
    from patchvsr.train.config import OptimConfig
    from patchvsr.train.step import sample_sigmas

    plain = sample_sigmas(4000, OptimConfig(), torch.Generator().manual_seed(0))
    shifted = sample_sigmas(4000, OptimConfig(timestep_shift=3.0), torch.Generator().manual_seed(0))
    assert 0 < float(plain.min()) and float(plain.max()) <= 1
    assert abs(float(plain.mean()) - 0.5) < 0.03
    assert float(shifted.mean()) > 0.65 and bool((shifted >= plain).all())


def test_sample_prediction_is_returned_as_a_velocity():
    """With prediction_type "sample" the network's output is x0 and callers get the velocity
    (x_s - x0) / s: the same network, read two ways."""
    cfg = load_config(TINY)
    cfg.model.prediction_type = "velocity"
    raw_model = build_pipeline(cfg.model, 0)
    cfg.model.prediction_type = "sample"
    sample_model = build_pipeline(cfg.model, 0)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 48, 3, 8, 8, generator=g)
    cond = torch.randn(2, 48, 3, 8, 8, generator=g)
    timestep = torch.tensor([900.0, 300.0])
    boxes = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]])
    with torch.no_grad():
        raw = raw_model.predict_patches(latents, cond, timestep, boxes, None, 2.0)
        v = sample_model.predict_patches(latents, cond, timestep, boxes, None, 2.0)
    sigma = (timestep / 1000).view(-1, 1, 1, 1, 1)
    torch.testing.assert_close(latents - sigma * v, raw, rtol=1e-4, atol=1e-4)


def test_a_new_run_can_start_from_another_runs_weights(media, tmp_path):
    first = train(tiny_config(media), out=tmp_path / "a", max_steps=3, echo=None, export=False)
    cfg = tiny_config(media, run__init_weights=str(first / "checkpoint" / "weights.safetensors"))
    second = train(cfg, out=tmp_path / "b", max_steps=1, echo=None, export=False)
    assert "weights from" in (second / "train.log").read_text()
    cfg = tiny_config(media, run__init_weights=str(tmp_path / "missing.safetensors"))
    with pytest.raises(PatchVSRError, match="init_weights"):
        train(cfg, out=tmp_path / "c", max_steps=1, echo=None, export=False)


def test_a_launcher_that_started_one_process_of_several_is_named(media, tmp_path, monkeypatch):
    """`accelerate launch --cpu --num_processes 2` without MPI starts one process: the run
    says so, and how to get two."""
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    run = train(tiny_config(media), out=tmp_path / "run", max_steps=1, echo=None, export=False)
    log = (run / "train.log").read_text()
    assert "started one process" in log and "--multi_gpu --num_processes N" in log
