"""The model being trained: building it from a config, choosing what trains, EMA, export.

Four recipes (the config's `model.trainable`):
- `"all"`: every weight of base and adapter trains. For the scratch models (mini, tiny), whose
  base has no pre-training to protect.
- `"adapter+lora"`: the paper's recipe for a pre-trained base: base frozen, LoRA on its
  attention, adapter trained in full.
- `"detail"`: the adapter's detail head alone, the transformer silenced
  (`silence_transformer`): the first stage of a model with a head.
- `"detail+output"`: the head and the transformer's last layer, the rest frozen: the second
  stage, which reads the residual over the head's base out of the transformer's features.

The models are the inference classes themselves (`WanTransformer3DModel`, `PatchVSRAdapter`,
`PatchVSRPipeline`): nothing is trained that inference does not load.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn as nn
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

from patchvsr.errors import PatchVSRError
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.configs import TINY_VAE, tiny_adapter_config
from patchvsr.models.lora import ADAPTER_NAME, add_base_lora
from patchvsr.models.pixel_codec import PixelUnshuffleCodec
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline
from patchvsr.runtime import load_pipeline
from patchvsr.train.config import ModelConfig


def _adapter_for(transformer: WanTransformer3DModel, m: ModelConfig) -> PatchVSRAdapter:
    return PatchVSRAdapter(
        **tiny_adapter_config(transformer.config)
        | dict(
            num_patch_layers=m.num_patch_layers,
            num_global_layers=m.num_global_layers,
            cond_noise_timestep=m.cond_noise_timestep,
            predict_residual=m.predict_residual,
            prediction_type=m.prediction_type,
            detail_channels=m.detail_channels,
            detail_blocks=m.detail_blocks,
            detail_levels=m.detail_levels,
            detail_pitch=m.detail_pitch,
        )
    )


def init_scratch_outputs(pipe: PatchVSRPipeline) -> None:
    """Output layers of a model trained from scratch: the base's last layer at zero (DiT's
    final-layer init), the adapter's zero-initialised layers at PyTorch's default init.

    Zero init of the adapter keeps a pre-trained base exactly as it was; a scratch base has
    nothing to keep. Measured on the mini (x4, residual over bicubic; loss at pure noise
    relative to predicting no residual, lower is better): with the stock inits (random last
    layer, zero adapter outputs) 523 steps of 128 patches ended at 1.005, and with the adapter
    opened alone 640 steps of 32 small patches at 1.006. The random output has to be unlearnt
    first, and the model settles on "no residual". With the last layer at zero and the adapter
    open (zero on both sides of the hint path would hold each other's gradient at zero), 500
    such steps reach 0.96. The model starts as the bicubic upscale exactly."""
    nn.init.zeros_(pipe.transformer.proj_out.weight)
    nn.init.zeros_(pipe.transformer.proj_out.bias)
    adapter = pipe.adapter
    for layer in [*adapter.hint_proj, *adapter.global_v, adapter.location_mlp[-1]]:
        layer.reset_parameters()


def build_scratch(m: ModelConfig, seed: int) -> PatchVSRPipeline:
    """A randomly initialised pipeline of the configured size (deterministic in `seed`)."""
    torch.manual_seed(seed)
    if m.codec == "pixel":
        vae = PixelUnshuffleCodec(factor=m.codec_factor)
        channels = vae.latent_channels
    else:
        vae = AutoencoderKLWan(**TINY_VAE)
        channels = TINY_VAE["z_dim"]
    transformer = WanTransformer3DModel(
        patch_size=tuple(m.patch_size),
        num_attention_heads=m.num_heads,
        attention_head_dim=m.dim // m.num_heads,
        in_channels=channels,
        out_channels=channels,
        text_dim=m.text_dim,
        freq_dim=m.freq_dim,
        ffn_dim=m.ffn_dim,
        num_layers=m.num_layers,
    )
    adapter = _adapter_for(transformer, m)
    pipe = PatchVSRPipeline(
        transformer, vae.eval(), FlowMatchEulerDiscreteScheduler(shift=m.scheduler_shift), adapter
    )
    # The fixed prompt of a model without a text encoder: a constant the cross-attention
    # learns to read (the base's text projection trains).
    gen = torch.Generator().manual_seed(seed)
    pipe.prompt_embeds = torch.randn(1, m.text_tokens, m.text_dim, generator=gen)
    pipe.register_to_config(base_size=m.base_size, window=m.window, window_overlap=m.window_overlap)
    if m.trainable == "all":
        init_scratch_outputs(pipe)
    return pipe


def mirrored_base_block(adapter: PatchVSRAdapter, index: int) -> int:
    """The base block that patch-branch block `index` mirrors: the first one it feeds."""
    c = adapter.config
    return -(-index * c.num_base_layers // c.num_patch_layers)


def copy_base_blocks(adapter: PatchVSRAdapter, base: WanTransformer3DModel) -> None:
    """Start each patch-branch block as a copy of the base block it mirrors (ControlNet and
    VACE start their branches so): the branch begins with the base's features instead of
    random ones; its zero-initialised hint projections still keep the output unchanged."""
    for index, block in enumerate(adapter.patch_blocks):
        block.load_state_dict(base.blocks[mirrored_base_block(adapter, index)].state_dict())


def build_pretrained(m: ModelConfig, seed: int, device: str) -> PatchVSRPipeline:
    """A pre-trained base (fp32 master weights) with a fresh, zero-initialised adapter
    (deterministic in `seed`: every process builds the same one)."""
    pipe = load_pipeline(m.base, device=device, dtype=torch.float32)
    torch.manual_seed(seed)
    adapter = _adapter_for(pipe.transformer, m)
    if m.init_patch_blocks == "copy":
        copy_base_blocks(adapter, pipe.transformer)
    pipe.adapter = None
    pipe.register_modules(adapter=adapter.to(pipe.device))
    pipe.register_to_config(base_size=m.base_size, window=m.window, window_overlap=m.window_overlap)
    return pipe


def build_pipeline(m: ModelConfig, seed: int, device: str = "cpu") -> PatchVSRPipeline:
    pipe = build_scratch(m, seed) if m.kind == "scratch" else build_pretrained(m, seed, device)
    if m.trainable == "adapter+lora":
        add_base_lora(pipe.transformer, rank=m.lora_rank)
    # The autoencoder never trains: frozen and in eval mode for good. (The text encoder is
    # not even kept: the fixed prompt's embedding is computed once, under no_grad.)
    pipe.vae.requires_grad_(False).eval()
    return pipe


# The detail head's names among `trainable_parameters`: what its training stages train, and
# the part a config may add to a shipped model (`scripts/mini_weights.py init`).
DETAIL_PARAMETERS = "adapter.detail."


def named_weights(pipe: PatchVSRPipeline) -> dict[str, torch.nn.Parameter]:
    """Every parameter of the transformer and the adapter, named as checkpoints name them."""
    return {
        f"{prefix}.{name}": p
        for prefix, module in (("transformer", pipe.transformer), ("adapter", pipe.adapter))
        for name, p in module.named_parameters()
    }


def _trains(name: str, trainable: str) -> bool:
    if trainable == "detail":
        return name.startswith(DETAIL_PARAMETERS)
    if trainable == "detail+output":
        return name.startswith((DETAIL_PARAMETERS, "transformer.proj_out."))
    return trainable == "all" or name.startswith("adapter.") or "lora_" in name


def trainable_parameters(pipe: PatchVSRPipeline, trainable: str) -> dict[str, torch.nn.Parameter]:
    """Named parameters that train ("transformer.*", "adapter.*"); the rest are frozen."""
    params: dict[str, torch.nn.Parameter] = {}
    for name, p in named_weights(pipe).items():
        p.requires_grad_(_trains(name, trainable))
        if p.requires_grad:
            params[name] = p
    if not params:
        raise PatchVSRError("nothing to train: the model has no trainable parameters")
    return params


def silence_transformer(pipe: PatchVSRPipeline) -> None:
    """`trainable = "detail"` trains the detail head alone, as the whole model: the
    transformer's last layer goes to zero, so it predicts no residual and the pipeline's output
    is the head's sharpened base, what the head is trained on. A later "detail+output" run
    from these weights teaches the transformer's last layer the residual over that base, from
    zero as a scratch model starts (`init_scratch_outputs`)."""
    with torch.no_grad():
        pipe.transformer.proj_out.weight.zero_()
        pipe.transformer.proj_out.bias.zero_()


def set_train_mode(pipe: PatchVSRPipeline, training: bool, checkpointing: bool = False) -> None:
    for module in (pipe.transformer, pipe.adapter):
        module.train(training)
        if checkpointing:
            module.enable_gradient_checkpointing()


class EMA:
    """Exponential moving average of the trainable weights (fp32), with the usual warm-up
    (decay min(d, (1 + step) / (10 + step))) so early averages are not stuck at the init."""

    def __init__(self, params: dict[str, torch.nn.Parameter], decay: float) -> None:
        self.decay = decay
        self.shadow = {n: p.detach().float().clone() for n, p in params.items()}

    @torch.no_grad()
    def update(self, params: dict[str, torch.nn.Parameter], step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        names = list(self.shadow)
        torch._foreach_lerp_(
            [self.shadow[n] for n in names], [params[n].detach().float() for n in names], 1 - d
        )

    @contextlib.contextmanager
    @torch.no_grad()
    def applied(self, params: dict[str, torch.nn.Parameter]) -> Iterator[None]:
        """Temporarily load the averaged weights into the model."""
        saved = {n: p.detach().clone() for n, p in params.items()}
        for n, p in params.items():
            p.copy_(self.shadow[n])
        try:
            yield
        finally:
            for n, p in params.items():
                p.copy_(saved[n])


def _merged(transformer: WanTransformer3DModel) -> WanTransformer3DModel:
    """A copy of a LoRA-wrapped base with the LoRA folded into its weights: a stock model."""
    merged = copy.deepcopy(transformer)
    merged.fuse_lora(adapter_names=[ADAPTER_NAME])
    merged.unload_lora()
    return merged


def export_pipeline(pipe: PatchVSRPipeline, folder: str | Path, m: ModelConfig) -> Path:
    """Write the pipeline as loaded weights stand (call inside `EMA.applied` for the EMA)."""
    transformer = pipe.transformer
    if m.trainable == "adapter+lora":
        transformer = _merged(transformer)
    settings = {k: pipe.config[k] for k in ("base_size", "window", "window_overlap")}
    out = PatchVSRPipeline(
        transformer, pipe.vae, pipe.scheduler, pipe.adapter, pipe.prompt, **settings,
        default_steps=m.steps, default_strength=m.strength,
        clip_noise=m.clip_noise, steady_detail=m.steady_detail, clean_input=m.clean_input,
        flat_guard=m.flat_guard,
        default_patch_size=m.inference_patch or None, default_scheme=m.scheme or None,
    )  # fmt: skip
    out.save_pretrained(folder)
    return Path(folder)
