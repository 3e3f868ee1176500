"""Loading models by name and from folders, incl. a folder laid out exactly like the hub's
Wan2.1 repository (filled with tiny weights), and the refusals."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import WanTransformer3DModel

from patchvsr.errors import PatchVSRError
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.configs import TINY_TRANSFORMER, TINY_VAE, tiny_adapter_config
from patchvsr.pipeline.builders import build_tiny
from patchvsr.pipeline.hub import prompt_cache_path
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.runtime import load_pipeline
from patchvsr.train.tiny_wan import write_tiny_wan

ROOT = Path(__file__).resolve().parents[1]


def load_folder(folder, adapter=None):
    return PatchVSRPipeline.from_pretrained(folder, adapter)


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    """The hub's Wan2.1-T2V-1.3B-Diffusers layout: model_index.json, transformer/, vae/,
    scheduler/, text_encoder/, tokenizer/ — with tiny weights."""
    root = tmp_path_factory.mktemp("Wan2.1-T2V-1.3B-Diffusers")
    return write_tiny_wan(root, transformer=TINY_TRANSFORMER)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHVSR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_hub_layout_loads_training_free_and_caches_the_prompt(hub_folder, cache):
    pipe = load_folder(hub_folder)
    assert pipe.adapter is None  # no adapter weights given: adapter off
    assert pipe.prompt_embeds.shape == (1, 512, TINY_TRANSFORMER["text_dim"])
    assert prompt_cache_path(hub_folder).exists()
    # training-free: 4 of 32 steps from noise level 0.3 (patchvsr.method.training_free)
    assert (pipe.config.default_steps, pipe.config.default_strength) == (32, 0.125)
    pipe.register_to_config(base_size=32, window=5, window_overlap=0)
    # as in diffusers, int(8 x 0.125) = 1 of 8 steps runs (one of 1 would run none)
    out = pipe(np.zeros((5, 16, 16, 3), np.uint8), scale=2, num_inference_steps=8)
    assert out.frames.shape == (5, 32, 32, 3)


def test_cached_prompt_needs_no_text_encoder(hub_folder, cache, tmp_path):
    first = load_folder(hub_folder).prompt_embeds
    copy = tmp_path / "copy"
    copy.mkdir()
    for part in ("transformer", "vae", "text_encoder"):
        (copy / part).symlink_to(hub_folder / part)
    (copy / "model_index.json").write_text((hub_folder / "model_index.json").read_text())
    # the text encoder's config is the cache key; its weights and the tokenizer are not needed
    again = load_folder(copy).prompt_embeds
    assert torch.equal(first, again)


def test_hub_layout_with_adapter_runs_the_adapter(hub_folder, cache, tmp_path):
    base = WanTransformer3DModel.from_pretrained(hub_folder / "transformer")
    PatchVSRAdapter(**tiny_adapter_config(base.config)).save_pretrained(tmp_path / "adapter")
    pipe = load_folder(hub_folder, adapter=str(tmp_path / "adapter"))
    assert isinstance(pipe.adapter, PatchVSRAdapter)


def test_adapter_for_another_base_is_refused(hub_folder, cache, tmp_path):
    base = WanTransformer3DModel.from_pretrained(hub_folder / "transformer")
    config = tiny_adapter_config(base.config) | {"num_base_layers": 7}
    PatchVSRAdapter(**config).save_pretrained(tmp_path / "adapter")
    with pytest.raises(PatchVSRError, match="does not match the base"):
        load_folder(hub_folder, adapter=str(tmp_path / "adapter"))


def test_own_layout_round_trips(tmp_path):
    pipe = build_tiny()
    pipe.register_to_config(default_steps=3, default_strength=0.5)
    pipe.save_pretrained(tmp_path / "model")
    assert not list((tmp_path / "model").rglob("*.bin"))
    loaded = load_folder(tmp_path / "model")
    assert (loaded.config.default_steps, loaded.config.default_strength) == (3, 0.5)
    assert (loaded.config.base_size, loaded.config.window) == (32, 9)
    clip = np.random.default_rng(0).integers(0, 255, (5, 16, 24, 3), dtype=np.uint8)
    a = pipe(clip, scale=2, generator=torch.Generator().manual_seed(0)).frames
    b = loaded(clip, scale=2, generator=torch.Generator().manual_seed(0)).frames
    assert np.array_equal(a, b)


def test_pickled_weights_are_refused(tmp_path):
    build_tiny().save_pretrained(tmp_path / "model")
    torch.save(
        {"x": torch.zeros(1)}, tmp_path / "model" / "transformer" / "diffusion_pytorch_model.bin"
    )
    with pytest.raises(PatchVSRError, match="pickled"):
        load_folder(tmp_path / "model")


def test_folder_without_weights_is_refused(tmp_path):
    build_tiny().save_pretrained(tmp_path / "model")
    (tmp_path / "model" / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(PatchVSRError, match="no weights"):
        load_folder(tmp_path / "model")
    with pytest.raises(PatchVSRError, match="not a model folder"):
        load_folder(tmp_path)


def test_unknown_model_and_offline_hub_are_one_line_errors(monkeypatch):
    with pytest.raises(PatchVSRError, match="unknown model"):
        load_pipeline("no-such-model", device="cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(PatchVSRError, match="cannot fetch"):
        load_pipeline("wan2.1-1.3b", device="cpu")


@pytest.mark.parametrize("name", ["mini", "tiny"])
def test_save_and_load_again_gives_byte_identical_output(name, tmp_path):
    """`from_pretrained` -> `save_pretrained` -> `from_pretrained`: the same model, prompt
    embedding and settings, so the same frames to the byte."""
    if name == "mini":
        first = PatchVSRPipeline.from_pretrained("patchvsr/models/patchvsr-mini")
    else:
        build_tiny().save_pretrained(tmp_path / "tiny")
        first = PatchVSRPipeline.from_pretrained(tmp_path / "tiny")
    first.save_pretrained(tmp_path / "again")
    again = PatchVSRPipeline.from_pretrained(tmp_path / "again")
    settings = ("base_size", "window", "window_overlap", "default_steps", "default_strength")
    assert [again.config[k] for k in settings] == [first.config[k] for k in settings]
    assert torch.equal(again.prompt_embeds, first.prompt_embeds)
    clip = np.random.default_rng(1).integers(0, 255, (5, 20, 28, 3), dtype=np.uint8)
    a = first(clip, scale=2, generator=torch.Generator().manual_seed(0)).frames
    b = again(clip, scale=2, generator=torch.Generator().manual_seed(0)).frames
    assert a.shape == (5, 40, 56, 3) and np.array_equal(a, b)


def test_the_plan_geometry_from_configs_matches_the_loaded_models():
    from patchvsr.models.configs import geometry_for
    from patchvsr.pipeline.builders import build_wan_1_3b

    assert geometry_for("mini") == load_pipeline("mini", device="cpu").geometry
    assert geometry_for("tiny") == build_tiny().geometry
    meta = build_wan_1_3b("meta", torch.float32, with_vae=False)
    assert geometry_for("wan2.1-1.3b") == meta.geometry


@pytest.mark.parametrize(
    "config",
    [
        {},  # a hub Wan folder's VAE: every key diffusers' default
        {"_class_name": "AutoencoderKLWan", "scale_factor_spatial": 16},
        {"_class_name": "AutoencoderKLWan", **TINY_VAE},
        {"_class_name": "AutoencoderKL"},
        {"_class_name": "AutoencoderKL", "block_out_channels": [32, 32, 32], "norm_num_groups": 8},
        {"_class_name": "PixelUnshuffleCodec"},
        {"_class_name": "PixelUnshuffleCodec", "factor": 2},
    ],
)
def test_the_spatial_factor_read_from_a_config_is_the_built_codecs(config):
    from diffusers import AutoencoderKL, AutoencoderKLWan

    from patchvsr.models.configs import vae_spatial
    from patchvsr.models.pixel_codec import PixelUnshuffleCodec
    from patchvsr.pipeline.codec import LatentCodec

    classes = {c.__name__: c for c in (AutoencoderKLWan, AutoencoderKL, PixelUnshuffleCodec)}
    with torch.device("meta"):
        vae = classes[config.get("_class_name", "AutoencoderKLWan")].from_config(config)
    assert vae_spatial(config) == LatentCodec(vae).spatial


@pytest.mark.slow
def test_plan_reads_the_configs_without_importing_diffusers():
    script = (
        "import sys\n"
        "from patchvsr.models.configs import geometry_for\n"
        "print([geometry_for(m).align for m in ('mini', 'tiny', 'wan2.1-1.3b')])\n"
        "print('diffusers' in sys.modules)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert run.stdout.splitlines() == ["[16, 16, 16]", "False"]


def test_wan_fetches_the_text_encoder_only_without_a_cached_prompt(tmp_path, cache, monkeypatch):
    from patchvsr.pipeline import hub

    asked = []
    folder = tmp_path / "snapshot"
    (folder / "text_encoder").mkdir(parents=True)
    (folder / "text_encoder" / "config.json").write_text("{}")
    monkeypatch.setattr(hub, "download", lambda repo, patterns: asked.append(patterns) or folder)
    hub.download_wan()
    assert len(asked) == 2 and "text_encoder/*" in asked[1]  # nothing cached: fetch it
    assert "text_encoder/*" not in asked[0] and "tokenizer/*" not in asked[0]
    asked.clear()
    prompt_cache_path(folder).parent.mkdir(parents=True)
    prompt_cache_path(folder).write_bytes(b"cached")
    hub.download_wan()
    assert len(asked) == 1 and not any(
        p.startswith(("text_encoder/*", "tokenizer")) for p in asked[0]
    )
