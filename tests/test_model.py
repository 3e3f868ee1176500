"""The adapter on the Wan transformer: parity with the stock model, and each branch's effect."""

import pytest
import torch
from diffusers import WanTransformer3DModel

from patchvsr.method.location import location_encoding
from patchvsr.models import PatchVSRAdapter, PatchVSRTransformer
from patchvsr.models.configs import TINY_TRANSFORMER, tiny_adapter_config
from patchvsr.models.lora import add_base_lora, lora_parameter_names


@pytest.fixture
def base():
    torch.manual_seed(0)
    return WanTransformer3DModel(**TINY_TRANSFORMER).eval()


def _inputs(batch=2):
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(batch, 4, 3, 8, 8, generator=g)
    timestep = torch.full((batch,), 600.0)
    text = torch.randn(batch, 6, TINY_TRANSFORMER["text_dim"], generator=g)
    cond = torch.randn(batch, 4, 3, 8, 8, generator=g)
    glob = torch.randn(1, 4, 3, 8, 6, generator=g)
    boxes = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.25, 1.0, 0.75]])[:batch]
    return latents, timestep, text, cond, glob, boxes


def _run(model, latents, timestep, text, cond, glob, boxes):
    context = model.encode_global(glob, timestep[:1], text[:1])
    return model(latents, timestep, text, cond, location_encoding(boxes, 4.0), context, boxes)


@torch.no_grad()
def test_zero_adapter_equals_base_model(base):
    latents, timestep, text, cond, glob, boxes = _inputs()
    expected = base(latents, timestep, text).sample
    adapter = PatchVSRAdapter(**tiny_adapter_config(base.config)).eval()
    got = _run(PatchVSRTransformer(base, adapter), latents, timestep, text, cond, glob, boxes)
    assert torch.equal(got, expected)


@torch.no_grad()
def test_no_adapter_equals_base_model(base):
    latents, timestep, text, *_ = _inputs()
    assert torch.equal(
        PatchVSRTransformer(base)(latents, timestep, text), base(latents, timestep, text).sample
    )


@torch.no_grad()
@pytest.mark.parametrize("part", ["hint_proj", "global_v", "location_mlp.2"])
def test_each_trained_branch_changes_the_output(base, part):
    latents, timestep, text, cond, glob, boxes = _inputs()
    expected = base(latents, timestep, text).sample
    adapter = PatchVSRAdapter(**tiny_adapter_config(base.config)).eval()
    torch.manual_seed(3)
    for name, p in adapter.named_parameters():
        if name.startswith(part):
            torch.nn.init.normal_(p, std=0.2)
    got = _run(PatchVSRTransformer(base, adapter), latents, timestep, text, cond, glob, boxes)
    assert (got - expected).abs().max() > 1e-3


@torch.no_grad()
def test_roi_mask_changes_global_attention(base):
    """Two patches with the same content but different boxes get different outputs once the
    ROI embedding and global values are trained."""
    latents, timestep, text, cond, glob, _ = _inputs(1)
    adapter = PatchVSRAdapter(**tiny_adapter_config(base.config)).eval()
    torch.manual_seed(4)
    for name, p in adapter.named_parameters():
        if name.startswith(("global_v", "roi_embedding")):
            torch.nn.init.normal_(p, std=0.5)
    model = PatchVSRTransformer(base, adapter)
    context = model.encode_global(glob, timestep, text)
    left = torch.tensor([[0.0, 0.0, 1.0, 0.5]])
    right = torch.tensor([[0.0, 0.5, 1.0, 1.0]])
    a = model(latents, timestep, text, cond, None, context, left)
    b = model(latents, timestep, text, cond, None, context, right)
    assert (a - b).abs().max() > 1e-4


def test_adapter_round_trips_through_save_pretrained(base, tmp_path):
    adapter = PatchVSRAdapter(**tiny_adapter_config(base.config))
    for p in adapter.parameters():
        torch.nn.init.normal_(p)
    adapter.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "diffusion_pytorch_model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded = PatchVSRAdapter.from_pretrained(tmp_path)
    for (n, a), (_, b) in zip(
        adapter.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), n


def test_adapter_for_another_base_is_refused(base):
    config = tiny_adapter_config(base.config) | {"num_base_layers": 5}
    with pytest.raises(ValueError, match="num_base_layers"):
        PatchVSRTransformer(base, PatchVSRAdapter(**config))


@torch.no_grad()
def test_lora_targets_base_attention_only(base):
    latents, timestep, text, *_ = _inputs()
    before = base(latents, timestep, text).sample
    adapter = PatchVSRAdapter(**tiny_adapter_config(base.config))
    add_base_lora(base, rank=4)
    names = lora_parameter_names(base)
    assert names and all(".attn1." in n or ".attn2." in n for n in names)
    assert not any("lora_" in n for n, _ in adapter.named_parameters())
    # B starts at zero: wrapping changes nothing until training.
    assert torch.equal(base(latents, timestep, text).sample, before)
