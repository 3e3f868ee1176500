"""Pipelines with random weights: `tiny` for tests, and the real 1.3B configuration for
benchmarks (timing and FLOPs do not depend on the weights' values, so no download is needed,
and on the meta device no memory either)."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

from patchvsr.method import training_free
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.configs import (
    TINY_SETTINGS,
    TINY_TEXT_TOKENS,
    TINY_TRANSFORMER,
    TINY_VAE,
    WAN_SETTINGS,
    WAN_T2V_1_3B,
    WAN_TEXT_TOKENS,
    tiny_adapter_config,
)
from patchvsr.models.prompt import PromptEmbedding
from patchvsr.pipeline.codec import vae_dtype as codec_vae_dtype
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.pipeline.scheduling import flow_shift, wan_scheduler


def build_tiny(seed: int = 0, with_adapter: bool = True) -> PatchVSRPipeline:
    """A randomly initialised pipeline with every part of the real one, sized for tests.

    The adapter's zero-initialised outputs are given small random values so that each branch
    really changes the result (a zero adapter is tested separately)."""
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(**TINY_TRANSFORMER).eval()
    vae = AutoencoderKLWan(**TINY_VAE).eval()
    adapter = None
    if with_adapter:
        adapter = PatchVSRAdapter(**tiny_adapter_config(transformer.config)).eval()
        for p in adapter.parameters():
            if (p == 0).all():
                torch.nn.init.normal_(p, std=0.5)
    g = torch.Generator().manual_seed(seed)
    prompt = PromptEmbedding.of(
        torch.randn(1, TINY_TEXT_TOKENS, TINY_TRANSFORMER["text_dim"], generator=g)
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0)
    return PatchVSRPipeline(transformer, vae, scheduler, adapter, prompt, **TINY_SETTINGS)


def _as_loaded(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast like `from_pretrained(torch_dtype=dtype)`: the class's fp32 modules stay fp32."""
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, param in model.named_parameters():
        if not keep & set(name.split(".")):
            param.data = param.data.to(dtype)
    return model


def build_wan_1_3b(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    with_vae: bool = True,
    small: bool = False,
    with_adapter: bool = True,
    vae_dtype: str | torch.dtype | None = None,
) -> PatchVSRPipeline:
    """The real 1.3B configuration plus a full-size adapter (none without `with_adapter`: the
    training-free route, with its default steps and strength), random weights, built directly
    on `device` (CUDA, or "meta" for counting), with the hub folder's scheduler (UniPC, flow
    shift 3). The Wan VAE of the real configuration in `vae_dtype` (default fp32), as
    `from_pretrained` loads it; without `with_vae` a meta VAE stands in (it is never run).

    `small` builds the tiny configuration instead, with the same code path (a CPU dry run)."""
    t_cfg = TINY_TRANSFORMER if small else WAN_T2V_1_3B
    with torch.device(device):
        torch.manual_seed(0)
        transformer = WanTransformer3DModel(**t_cfg).eval()
        adapter_cfg = tiny_adapter_config(transformer.config) if small else {}
        adapter = PatchVSRAdapter(**adapter_cfg).eval() if with_adapter else None
        tokens = TINY_TEXT_TOKENS if small else WAN_TEXT_TOKENS
        prompt = PromptEmbedding.of(torch.randn(1, tokens, t_cfg["text_dim"], dtype=dtype))
    with torch.device(device if with_vae else "meta"):
        vae = AutoencoderKLWan(**(TINY_VAE if small else {})).eval()
    if torch.device(device).type != "meta":
        _as_loaded(transformer, dtype)
        if adapter is not None:
            _as_loaded(adapter, dtype)
        vae.to(codec_vae_dtype(vae_dtype))
    settings = dict(TINY_SETTINGS if small else WAN_SETTINGS)
    scheduler = wan_scheduler()
    if adapter is None:
        settings |= training_free.defaults(flow_shift(scheduler))
    return PatchVSRPipeline(transformer, vae, scheduler, adapter, prompt, **settings)
