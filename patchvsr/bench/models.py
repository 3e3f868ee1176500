"""The CPU benchmark's model: the shipped mini, or its architecture with random weights.

Timing does not depend on the weights' values, so a fresh clone without the mini still
benchmarks the same architecture. The real 1.3B configuration is `patchvsr.pipeline.builders`.
"""

from __future__ import annotations

from patchvsr.models.configs import MINI_DIR
from patchvsr.pipeline.builders import build_tiny
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.runtime import load_pipeline


def bench_pipeline(model: str = "mini") -> tuple[PatchVSRPipeline, dict]:
    """The CPU benchmark's pipeline and a description of it (name, weights, parameters).

    "mini" is the shipped model when it is installed, else the same architecture with random
    weights (the training code's own builder), so the benchmark runs on a fresh clone too."""
    if model == "mini" and not (MINI_DIR / "model_index.json").exists():
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
    # The in-process sections measure the paper's method at the base size; a model's own
    # lighter default (mini's shifted 256-pixel tiles) is what the `clip` section times, as
    # a user runs it.
    pipe.register_to_config(default_patch_size=None, default_scheme=None)
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
        "patch": pipe.geometry.default_patch,
        "pixels_per_token": pipe.align,
    }
