"""The 1.3B recipe on the tiny Wan-layout base (configs/tiny-wan.toml): gradient checkpointing
gives the same loss and gradients as without, the frozen parts get no gradient, and the
patch branch can start as copies of the base blocks."""

from pathlib import Path

import pytest
import torch

from patchvsr.models.attention import GlobalCrossAttnProcessor
from patchvsr.train import data_settings, load_config
from patchvsr.train.data import make_batch
from patchvsr.train.media import load_sources
from patchvsr.train.model import (
    build_pipeline,
    mirrored_base_block,
    set_train_mode,
    trainable_parameters,
)
from patchvsr.train.step import flow_loss

ROOT = Path(__file__).resolve().parents[1]
TINY_WAN = ROOT / "configs" / "tiny-wan.toml"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the config names assets/tiny-wan relative to the checkout
    monkeypatch.setenv("PATCHVSR_CACHE", str(tmp_path / "cache"))


def _config(**model):
    cfg = load_config(TINY_WAN)
    for key, value in model.items():
        setattr(cfg.model, key, value)
    return cfg


def _batch(cfg, step: int = 0):
    return make_batch(load_sources(cfg.data.sources), data_settings(cfg), cfg.run.seed, step)


def _open_branches(pipe) -> None:
    """Small random values in the adapter's zero-initialised outputs: with them at zero no
    gradient would reach the inside of the patch and global branches, and a comparison of
    gradients would not see those branches at all."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in pipe.adapter.named_parameters():
            if name.startswith(("hint_proj", "global_v", "location_mlp.2", "roi_embedding")):
                p.normal_(std=0.3)
        for name, p in pipe.transformer.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.3)


def _loss_and_grads(checkpointing: bool, monkeypatch):
    """Loss and gradients of one step, and for each text cross-attention call of the base
    whether it read the global branch's keys/values."""
    cfg = _config()
    pipe = build_pipeline(cfg.model, cfg.run.seed)
    _open_branches(pipe)
    params = trainable_parameters(pipe, cfg.model.trainable)
    set_train_mode(pipe, True, checkpointing)
    calls = []
    original = GlobalCrossAttnProcessor.__call__

    def spy(self, *args, **kwargs):
        calls.append(self.state.key_value is not None)
        return original(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(GlobalCrossAttnProcessor, "__call__", spy)
        loss = flow_loss(pipe, _batch(cfg), cfg.optim)
        loss.backward()
    grads = {n: p.grad.clone() for n, p in params.items()}
    return loss.detach(), grads, calls, len(pipe.transformer.blocks)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(monkeypatch):
    loss_off, grads_off, calls_off, blocks = _loss_and_grads(False, monkeypatch)
    loss_on, grads_on, calls_on, _ = _loss_and_grads(True, monkeypatch)
    torch.testing.assert_close(loss_on, loss_off, rtol=1e-6, atol=1e-7)
    assert grads_on.keys() == grads_off.keys()
    for name in grads_off:
        torch.testing.assert_close(grads_on[name], grads_off[name], rtol=1e-5, atol=1e-7)
    # Every branch has gradients (the comparison sees them all) ...
    for part in ("adapter.patch_blocks", "adapter.global_blocks", "adapter.location_mlp", "lora_"):
        assert any(part in n and g.abs().sum() > 0 for n, g in grads_off.items()), part
    # ... and the recomputed blocks ran the global cross-attention again, not the stock one.
    assert calls_off.count(True) == blocks
    assert calls_on.count(True) == 2 * blocks


def test_the_vae_and_the_text_encoder_stay_frozen(monkeypatch):
    from transformers import UMT5EncoderModel

    seen = []
    original = UMT5EncoderModel.forward

    def text_forward(self, *args, **kwargs):
        seen.append(("text", torch.is_grad_enabled(), self.training))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(UMT5EncoderModel, "forward", text_forward)
    cfg = _config()
    pipe = build_pipeline(cfg.model, cfg.run.seed)  # computes the prompt embedding (no cache)
    params = trainable_parameters(pipe, cfg.model.trainable)
    set_train_mode(pipe, True, cfg.optim.gradient_checkpointing)
    encode = pipe.vae.encode

    def vae_encode(*args, **kwargs):
        seen.append(("vae", torch.is_grad_enabled(), pipe.vae.training))
        return encode(*args, **kwargs)

    monkeypatch.setattr(pipe.vae, "encode", vae_encode)
    flow_loss(pipe, _batch(cfg), cfg.optim).backward()

    assert ("text", False, False) in seen  # the text encoder ran, in eval mode, no graph
    assert {s for s in seen if s[0] == "vae"} == {("vae", False, False)}
    assert not pipe.prompt_embeds.requires_grad
    assert all(not p.requires_grad and p.grad is None for p in pipe.vae.parameters())
    frozen = [p for n, p in pipe.transformer.named_parameters() if "lora_" not in n]
    assert frozen and all(p.grad is None for p in frozen)  # the base: LoRA only
    assert all(p.grad is not None for p in params.values())


def test_patch_blocks_can_start_as_copies_of_the_base_blocks_they_mirror():
    copied = build_pipeline(_config(init_patch_blocks="copy").model, 0)
    fresh = build_pipeline(_config().model, 0)
    base = copied.transformer
    for index, block in enumerate(copied.adapter.patch_blocks):
        mirror = base.blocks[mirrored_base_block(copied.adapter, index)]
        assert torch.equal(block.ffn.net[0].proj.weight, mirror.ffn.net[0].proj.weight)
        assert torch.equal(block.attn1.to_q.weight, mirror.attn1.to_q.base_layer.weight)
        assert torch.equal(block.scale_shift_table, mirror.scale_shift_table)
        assert not torch.equal(
            fresh.adapter.patch_blocks[index].ffn.net[0].proj.weight,
            mirror.ffn.net[0].proj.weight,
        )
    assert [mirrored_base_block(copied.adapter, i) for i in range(2)] == [0, 1]


def test_the_shipped_tiny_base_is_what_its_writer_writes(tmp_path):
    """assets/tiny-wan is `python -m patchvsr.train.tiny_wan` output, byte for byte."""
    from patchvsr.train.tiny_wan import write_tiny_wan

    written = write_tiny_wan(tmp_path / "tiny-wan")
    shipped = ROOT / "assets" / "tiny-wan"
    files = sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(written) for p in written.rglob("*") if p.is_file())
    for name in files:
        if name.suffix == ".safetensors":
            assert (written / name).read_bytes() == (shipped / name).read_bytes(), name
