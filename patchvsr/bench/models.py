"""The models the benchmarks run: the CPU model, and the real 1.3B configuration.

Timing and FLOPs do not depend on the weights' values, so every model here can be built with
random weights: the real configuration needs no download, and on the meta device no memory.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

from patchvsr.models import PatchVSRAdapter
from patchvsr.pipeline import PatchVSRPipeline
from patchvsr.runtime import MINI_DIR, TINY_TRANSFORMER, TINY_VAE, build_tiny, load_pipeline

# Wan2.1-T2V-1.3B's transformer (diffusers' config.json of the hub folder).
WAN_T2V_1_3B = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
)
WAN_TEXT_TOKENS = 512  # the fixed prompt is padded to 512 tokens, as the Wan pipeline does
WAN_BASE_SIZE = 512  # patches and the global view of the real model
WAN_WINDOW = 33  # frames per temporal window of the real model


def bench_pipeline(model: str = "mini") -> tuple[PatchVSRPipeline, dict]:
    """The CPU benchmark's pipeline and a description of it (name, weights, parameters).

    "mini" is the shipped model when it is installed, else the same architecture with random
    weights (the training code's own builder), so the benchmark runs on a fresh clone too."""
    if model == "mini" and not (MINI_DIR / "patchvsr.json").exists():
        from patchvsr.train.config import ModelConfig
        from patchvsr.train.model import build_scratch

        pipe, weights = build_scratch(ModelConfig(), seed=0).to("cpu"), "random"
    elif model == "tiny":
        pipe, weights = build_tiny(), "random"
    else:
        pipe, weights = load_pipeline(model, device="cpu"), "trained"
    for part in (pipe.transformer, pipe.vae, pipe.adapter):
        if part is not None:
            part.eval()
    return pipe, describe(pipe, model, weights)


def describe(pipe: PatchVSRPipeline, name: str, weights: str) -> dict:
    cfg = pipe.transformer.config
    params = sum(p.numel() for p in pipe.transformer.parameters())
    if pipe.adapter is not None:
        params += sum(p.numel() for p in pipe.adapter.parameters())
    return {
        "name": name,
        "weights": weights,
        "parameters": params,
        "dim": cfg.num_attention_heads * cfg.attention_head_dim,
        "layers": cfg.num_layers,
        "codec": type(pipe.vae).__name__,
        "patch": pipe.base_size,
        "pixels_per_token": pipe.align,
    }


def _as_loaded(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast like `from_pretrained(torch_dtype=dtype)`: the class's fp32 modules stay fp32."""
    keep = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, param in model.named_parameters():
        if not keep & set(name.split(".")):
            param.data = param.data.to(dtype)
    return model


def wan_1_3b_pipeline(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    with_vae: bool = True,
    small: bool = False,
) -> PatchVSRPipeline:
    """The real 1.3B configuration plus a full-size adapter, random weights, built directly on
    `device` (CUDA, or "meta" for counting). The Wan VAE of the real configuration in fp32, as
    `patchvsr.runtime` loads it; without `with_vae` a meta VAE stands in (it is never run).

    `small` builds the tiny configuration instead, with the same code path (a CPU dry run)."""
    t_cfg = TINY_TRANSFORMER if small else WAN_T2V_1_3B
    v_cfg = TINY_VAE if small else {}
    with torch.device(device):
        torch.manual_seed(0)
        transformer = WanTransformer3DModel(**t_cfg).eval()
        adapter_cfg = {}
        if small:
            from patchvsr.runtime import tiny_adapter_config

            adapter_cfg = tiny_adapter_config(transformer.config)
        adapter = PatchVSRAdapter(**adapter_cfg).eval()
    with torch.device(device if with_vae else "meta"):
        vae = AutoencoderKLWan(**v_cfg).eval()
    if torch.device(device).type != "meta":
        _as_loaded(transformer, dtype)
        _as_loaded(adapter, dtype)
    pipe = PatchVSRPipeline(transformer, vae, FlowMatchEulerDiscreteScheduler(shift=3.0), adapter)
    text_tokens, text_dim = (8, t_cfg["text_dim"]) if small else (WAN_TEXT_TOKENS, 4096)
    pipe.prompt_embeds = torch.randn(1, text_tokens, text_dim, device=device, dtype=dtype)
    if small:
        pipe.base_size, pipe.window, pipe.window_overlap = 32, 9, 4
    else:
        pipe.base_size, pipe.window = WAN_BASE_SIZE, WAN_WINDOW
    return pipe
