"""`PatchVSRTransformer`: a stock `WanTransformer3DModel` run with the PatchVSR adapter.

The base and the adapter stay two separate diffusers models (each with its own config and
safetensors, so the base can come straight from the hub); this module runs the base's forward
pass step by step and lets the adapter in at three places: the timestep embedding (location),
after every block (patch-branch hints), and inside every text cross-attention (global K/V).
Without an adapter, or with a zero-initialised one, the output is the stock model's, exactly.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn as nn
from diffusers import WanTransformer3DModel

from patchvsr.method.location import roi_mask
from patchvsr.models.adapter import GlobalKeysValues, PatchVSRAdapter
from patchvsr.models.attention import GlobalCrossAttnProcessor, GlobalState


def onload(*modules: nn.Module | None) -> None:
    """Run the offload hook of each module (`enable_model_cpu_offload` puts one on the
    transformer), which moves it onto the GPU. Accelerate's hook fires on `forward`; the base's
    parts are called one by one here, never its `forward`, so it is fired by hand."""
    for module in modules:
        hook = getattr(module, "_hf_hook", None)
        if hook is not None:
            hook.pre_forward(module)


class PatchVSRTransformer(nn.Module):
    def __init__(self, base: WanTransformer3DModel, adapter: PatchVSRAdapter | None = None) -> None:
        super().__init__()
        self.base = base
        self.adapter = adapter
        self.global_calls = 0  # how often the global branch ran (it must be once per step)
        if adapter is not None:
            adapter.check_compatible(base.config)
            self.state = GlobalState()
            for block in base.blocks:
                block.attn2.set_processor(GlobalCrossAttnProcessor(self.state))

    @property
    def patch_size(self) -> tuple[int, int, int]:
        return tuple(self.base.config.patch_size)

    def _run_block(self, block, tokens, text, timestep_proj, rotary_emb, key_g, value_g):
        """One base block, its text cross-attention also reading the global keys/values."""
        run = functools.partial(self._block_with_global, block)
        if torch.is_grad_enabled() and self.base.gradient_checkpointing:
            return self.base._gradient_checkpointing_func(
                run, tokens, text, timestep_proj, rotary_emb, key_g, value_g
            )
        return run(tokens, text, timestep_proj, rotary_emb, key_g, value_g)

    def _block_with_global(self, block, tokens, text, timestep_proj, rotary_emb, key_g, value_g):
        # The keys/values reach the block's processor for the length of this call only; under
        # checkpointing this is the function recomputed in the backward pass, so they are
        # set again there (a side channel cleared after the forward pass would leave the
        # recomputed block on the stock cross-attention).
        if key_g is None:
            return block(tokens, text, timestep_proj, rotary_emb)
        self.state.key_value = (key_g, value_g)
        try:
            return block(tokens, text, timestep_proj, rotary_emb)
        finally:
            self.state.key_value = None

    def encode_global(
        self,
        global_latents: torch.Tensor,  # (G, C, f, gh, gw), G = 1 or one clip per patch
        timestep: torch.Tensor,  # (G,)
        text_embeds: torch.Tensor,  # (G, L, text_dim) raw prompt embedding
    ) -> GlobalKeysValues:
        """The global branch for one clip at one step; shared by all of that step's patches."""
        self.global_calls += 1
        onload(self.base, self.adapter)
        ce = self.base.condition_embedder
        _, timestep_proj, text, _ = ce(timestep, text_embeds, None)
        return self.adapter.encode_global(
            global_latents, text, timestep_proj.unflatten(1, (6, -1)), self.base.rope
        )

    def roi_masks(self, context: GlobalKeysValues, boxes: torch.Tensor) -> torch.Tensor:
        """(B, Ng) ROI masks of normalised boxes (B, 4) on the pooled global token grid."""
        f, h, w = context.grid
        masks = [
            np.tile(roi_mask(tuple(b.tolist()), h, w).reshape(1, -1), (f, 1)).reshape(-1)
            for b in boxes
        ]
        return torch.from_numpy(np.stack(masks)).to(context.keys.device)

    def forward(
        self,
        latents: torch.Tensor,  # (B, C, f, h, w) noisy latents of B patches of one size
        timestep: torch.Tensor,  # (B,)
        text_embeds: torch.Tensor,  # (B, L, text_dim)
        cond_latents: torch.Tensor | None = None,  # (B, C, f, h, w) condition (LR patch) latents
        location: torch.Tensor | None = None,  # (B, enc) sinusoidal box + scale encoding
        global_context: GlobalKeysValues | None = None,  # from encode_global
        boxes: torch.Tensor | None = None,  # (B, 4) normalised boxes, for the ROI masks
    ) -> torch.Tensor:
        base, adapter = self.base, self.adapter
        onload(base, adapter)
        batch, _, frames, height, width = latents.shape
        p_t, p_h, p_w = base.config.patch_size

        rotary_emb = base.rope(latents)
        tokens = base.patch_embedding(latents).flatten(2).transpose(1, 2).contiguous()
        temb, timestep_proj, text, _ = base.condition_embedder(timestep, text_embeds, None)
        if adapter is not None and location is not None:
            # Location joins the timestep embedding before the per-block modulation is made.
            temb = temb + adapter.location_embedding(location).type_as(temb)
            timestep_proj = base.condition_embedder.time_proj(base.condition_embedder.act_fn(temb))
        timestep_proj = timestep_proj.unflatten(1, (6, -1))

        features = None
        if adapter is not None and cond_latents is not None:
            features = adapter.patch_features(cond_latents, tokens, text, timestep_proj, rotary_emb)
        context = None
        if adapter is not None and global_context is not None:
            context = global_context.with_masks(self.roi_masks(global_context, boxes))
        for i, block in enumerate(base.blocks):
            key_g = value_g = None
            if context is not None:
                key_g, value_g = context.key_value(i, adapter.global_norm_k[i])
            tokens = self._run_block(block, tokens, text, timestep_proj, rotary_emb, key_g, value_g)
            if features is not None:
                tokens = tokens + adapter.hint(i, features)

        shift, scale = (base.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        tokens = (base.norm_out(tokens.float()) * (1 + scale) + shift).type_as(tokens)
        tokens = base.proj_out(tokens)
        tokens = tokens.reshape(
            batch, frames // p_t, height // p_h, width // p_w, p_t, p_h, p_w, -1
        )
        out = tokens.permute(0, 7, 1, 4, 2, 5, 3, 6).flatten(6, 7).flatten(4, 5).flatten(2, 3)
        if adapter is not None and adapter.config.get("prediction_type", "velocity") == "sample":
            # The network predicts x0; callers get the velocity (x_s - x0) / s, s = t / 1000.
            sigma = (timestep.float() / 1000.0).clamp(min=1e-3).view(-1, 1, 1, 1, 1)
            out = (latents.float() - out.float()) / sigma
        # Under bf16 autocast the blocks run in bf16; the caller's canvas keeps its own dtype.
        return out.to(latents.dtype)
