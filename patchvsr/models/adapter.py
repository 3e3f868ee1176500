"""The PatchVSR dual-stream adapter that sits on a stock `WanTransformer3DModel`.

Three parts, each starting as a no-op (zero-initialised output) so that an untrained adapter
leaves the pre-trained base exactly as it was:

- **Patch branch** (VACE "hint" pattern): a few transformer blocks read the condition latent of
  the upscaled low-resolution patch (plus the base's embedded noisy input, as VACE does); a
  zero-initialised projection per base block turns their features into a hint that is *added
  to the output of every base block*.
- **Global branch**: a small encoder reads the global view (the whole clip at the base size),
  pools its token grid 2x2 (1/4 of the tokens), and every base block attends to it through a
  *new* key/value pair (K_g, V_g) that shares the query of the text cross-attention (the Wan
  image-to-video added-K/V pattern). `global_v` is zero-initialised. The patch's ROI mask
  enters after the encoder as a learned per-token offset, so the encoder and the K/V
  projections run once per step and are shared by every patch (see `GlobalKeysValues`).
- **Location embedder**: sinusoidal box + scale encoding -> MLP -> added to the timestep
  embedding, last layer zero-initialised (SDXL's micro-conditioning pattern).

Optionally (`detail_channels` > 0, residual models only) a **detail head**
(`patchvsr.models.detail`): convolutions that sharpen the upscaled input's latent, so that the
transformer predicts the residual over a sharper base than bicubic.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_wan import WanTransformerBlock
from torch.func import functional_call

from patchvsr.method.clean_input import clean_head_share
from patchvsr.method.location import encoding_dim
from patchvsr.models.detail import DetailHead


def _zero_(layer: nn.Linear) -> nn.Linear:
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


class PatchVSRAdapter(ModelMixin, ConfigMixin):
    """Adapter weights for one base transformer configuration.

    `dim`, `num_heads`, `ffn_dim`, `num_base_layers` and `patch_size` must match the base
    (checked by `check_compatible`); the rest sizes the adapter itself.

    `prediction_type`: what the network's output means. "velocity" (Wan's own, v = e - x0) or
    "sample" (x0 itself; `PatchVSRTransformer` turns it into the velocity (x_s - x0) / s, so
    samplers see a velocity either way). A small model trained from scratch needs "sample":
    its tokens (dim numbers) are narrower than the values they cover, so it cannot copy the
    noise through to its output, which predicting a velocity at high noise requires.

    `detail_channels` (0: none) and `detail_blocks` size the detail head (`base_latent`);
    `detail_levels` gives it a denoise level input, `detail_pitch` (the codec's space-to-depth
    factor; 0: off) removes any pattern of that period from its correction
    (`patchvsr.models.detail`)."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        dim: int = 1536,
        num_heads: int = 12,
        ffn_dim: int = 8960,
        num_base_layers: int = 30,
        latent_channels: int = 16,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        num_patch_layers: int = 4,
        num_global_layers: int = 2,
        location_freqs: int = 8,
        cond_noise_timestep: float = 250.0,
        predict_residual: bool = False,
        prediction_type: str = "velocity",
        eps: float = 1e-6,
        detail_channels: int = 0,
        detail_blocks: int = 2,
        detail_levels: bool = False,
        detail_pitch: int = 0,
        clean_head: bool = False,
    ) -> None:
        super().__init__()
        if prediction_type not in ("velocity", "sample"):
            raise ValueError(f"prediction_type must be velocity or sample, got {prediction_type!r}")
        if detail_channels and not predict_residual:
            raise ValueError(
                "a detail head needs predict_residual: it sharpens the residual's base"
            )
        patch_size = tuple(patch_size)

        # Patch branch.
        self.cond_embedding = nn.Conv3d(
            latent_channels, dim, kernel_size=patch_size, stride=patch_size
        )
        self.cond_proj_in = nn.Linear(dim, dim)
        self.patch_blocks = nn.ModuleList(
            WanTransformerBlock(dim, ffn_dim, num_heads, "rms_norm_across_heads", True, eps)
            for _ in range(num_patch_layers)
        )
        self.hint_proj = nn.ModuleList(_zero_(nn.Linear(dim, dim)) for _ in range(num_base_layers))

        # Global branch.
        self.global_embedding = nn.Conv3d(
            latent_channels, dim, kernel_size=patch_size, stride=patch_size
        )
        self.global_blocks = nn.ModuleList(
            WanTransformerBlock(dim, ffn_dim, num_heads, "rms_norm_across_heads", True, eps)
            for _ in range(num_global_layers)
        )
        self.global_norm = nn.LayerNorm(dim, eps=eps)
        self.roi_embedding = nn.Parameter(torch.zeros(dim))
        self.global_k = nn.ModuleList(nn.Linear(dim, dim) for _ in range(num_base_layers))
        self.global_v = nn.ModuleList(_zero_(nn.Linear(dim, dim)) for _ in range(num_base_layers))
        self.global_norm_k = nn.ModuleList(nn.RMSNorm(dim, eps=eps) for _ in range(num_base_layers))

        # Location embedder.
        self.location_mlp = nn.Sequential(
            nn.Linear(encoding_dim(location_freqs), dim), nn.SiLU(), _zero_(nn.Linear(dim, dim))
        )
        # Detail head.
        self.detail = None
        if detail_channels:
            self.detail = DetailHead(
                latent_channels,
                detail_channels,
                detail_blocks,
                levels=detail_levels,
                pitch=detail_pitch,
            )
        self.detail_clean = None
        if clean_head:  # a second head, for input cleaned at denoise 1 (`base_latent`)
            if not detail_channels:
                raise ValueError("clean_head is a second detail head: set detail_channels")
            self.detail_clean = DetailHead(
                latent_channels, detail_channels, detail_blocks, pitch=detail_pitch
            )
        self.gradient_checkpointing = False

    # -- helpers ----------------------------------------------------------------------------

    def hint_source(self, base_layer: int) -> int:
        """Which patch-branch block feeds the hint of base block `base_layer`: the branch's
        blocks are spread evenly over the base's depth."""
        return (base_layer * self.config.num_patch_layers) // self.config.num_base_layers

    def check_compatible(self, base_config) -> None:
        """Raise ValueError when the adapter was made for a different base."""
        expected = {
            "dim": base_config.num_attention_heads * base_config.attention_head_dim,
            "num_heads": base_config.num_attention_heads,
            "num_base_layers": base_config.num_layers,
            "latent_channels": base_config.in_channels,
            "patch_size": tuple(base_config.patch_size),
        }
        for key, value in expected.items():
            mine = self.config[key]
            mine = tuple(mine) if isinstance(mine, list) else mine
            if mine != value:
                raise ValueError(
                    f"adapter does not match the base model: {key} is {mine} in the adapter, "
                    f"{value} in the base"
                )

    def _run_block(self, block, *args):
        if torch.is_grad_enabled() and self.gradient_checkpointing:
            return self._gradient_checkpointing_func(block, *args)
        return block(*args)

    @property
    def has_denoise(self) -> bool:
        """Whether the detail head takes a denoise level (`detail_levels`)."""
        return self.detail is not None and self.detail.level is not None

    def with_clean_head(self) -> PatchVSRAdapter:
        """A copy with a second detail head for cleaned input (`clean_head`), every weight
        kept and the new head a copy of the first (so the model's output is unchanged until
        that head is trained or loaded)."""
        if self.detail is None or self.detail.level is not None:
            raise ValueError("a second head needs a detail head without levels")
        settings = {k: v for k, v in self.config.items() if not k.startswith("_")}
        adapter = type(self)(**{**settings, "clean_head": True})
        adapter.load_state_dict(self.state_dict(), strict=False)
        adapter.detail_clean.load_state_dict(self.detail.state_dict())
        return adapter.to(self.dtype)

    def base_latent(self, z_lr: torch.Tensor, denoise=None) -> torch.Tensor:
        """What a residual model's prediction is added to: the upscaled input's latent
        (B, C, f, h, w), sharpened by the detail head when there is one, at the `denoise`
        level(s) (a float or (B,); a head without levels ignores it). With a head for
        cleaned input (`clean_head`) the two heads' weights are interpolated by the
        filter's spatial stage (`clean_head_share`), as Real-ESRGAN interpolates its two
        weight sets by its denoise strength."""
        if self.detail is None:
            return z_lr
        share = clean_head_share(denoise) if self.detail_clean is not None else 0.0
        if share == 0.0:
            return z_lr + self.detail(z_lr, denoise)
        if share == 1.0:
            return z_lr + self.detail_clean(z_lr)
        mixed = {
            name: torch.lerp(p, clean, share)
            for (name, p), clean in zip(
                self.detail.named_parameters(), self.detail_clean.parameters(), strict=True
            )
        }
        return z_lr + functional_call(self.detail, mixed, (z_lr,))

    # -- the three parts --------------------------------------------------------------------

    def location_embedding(self, location: torch.Tensor) -> torch.Tensor:
        """(B, enc) sinusoidal location encoding -> (B, dim) offset for the timestep embedding."""
        return self.location_mlp(location.to(self.location_mlp[0].weight.dtype))

    def patch_features(
        self,
        cond_latents: torch.Tensor,  # (B, C, f, h, w) condition latent of the LR patch
        base_tokens: torch.Tensor,  # (B, N, dim) the base's embedded noisy input
        text: torch.Tensor,  # (B, L, dim) embedded prompt
        timestep_proj: torch.Tensor,  # (B, 6, dim)
        rotary_emb: tuple[torch.Tensor, torch.Tensor],
    ) -> list[torch.Tensor]:
        """Features of each patch-branch block, (B, N, dim) each."""
        tokens = self.cond_embedding(cond_latents.to(self.cond_embedding.weight.dtype))
        tokens = self.cond_proj_in(tokens.flatten(2).transpose(1, 2)) + base_tokens
        features = []
        for block in self.patch_blocks:
            tokens = self._run_block(block, tokens, text, timestep_proj, rotary_emb)
            features.append(tokens)
        return features

    def hint(self, base_layer: int, features: list[torch.Tensor]) -> torch.Tensor:
        return self.hint_proj[base_layer](features[self.hint_source(base_layer)])

    def encode_global(
        self,
        global_latents: torch.Tensor,  # (G, C, f, gh, gw) latent of the global view
        text: torch.Tensor,  # (G, L, dim)
        timestep_proj: torch.Tensor,  # (G, 6, dim)
        rope,
    ) -> GlobalKeysValues:
        """Run the global encoder and every block's K_g/V_g projection once; the result is
        shared by all patches of the same clip and step. Inference passes one clip (G = 1, its
        patches broadcast against it); training passes one clip per patch (G = B)."""
        tokens = self.global_embedding(global_latents.to(self.global_embedding.weight.dtype))
        _, _, f, gh, gw = tokens.shape
        rotary_emb = rope(global_latents)
        tokens = tokens.flatten(2).transpose(1, 2)
        for block in self.global_blocks:
            tokens = self._run_block(block, tokens, text, timestep_proj, rotary_emb)
        # 2x2 average pooling of the token grid: 1/4 of the tokens for the cross-attention.
        grid = tokens.transpose(1, 2).reshape(tokens.shape[0], -1, f, gh, gw)
        grid = F.adaptive_avg_pool3d(grid, (f, -(-gh // 2), -(-gw // 2)))
        pooled_hw = grid.shape[-2:]
        tokens = self.global_norm(grid.flatten(2).transpose(1, 2))  # (G, Ng, dim)
        keys = torch.stack([k(tokens) for k in self.global_k])  # (L, G, Ng, dim)
        values = torch.stack([v(tokens) for v in self.global_v])
        roi_k = torch.stack([F.linear(self.roi_embedding, k.weight) for k in self.global_k])
        roi_v = torch.stack([F.linear(self.roi_embedding, v.weight) for v in self.global_v])
        return GlobalKeysValues(keys, values, roi_k, roi_v, (f, *pooled_hw))


class GlobalKeysValues:
    """Per-block global keys/values of one clip at one step, plus the ROI offsets.

    Because the projections are linear, K for a patch is K(tokens) + mask * K(roi_embedding)
    (the bias cancels in the second term): the encoder and the big matmuls run once per step,
    and each patch adds only an outer product with its mask."""

    def __init__(self, keys, values, roi_k, roi_v, grid: tuple[int, int, int]) -> None:
        self.keys = keys  # (L, G, Ng, dim), G = 1 or the batch size
        self.values = values  # (L, G, Ng, dim)
        self.roi_k = roi_k  # (L, dim)
        self.roi_v = roi_v  # (L, dim)
        self.grid = grid  # (f, h, w) of the pooled token grid
        self.masks: torch.Tensor | None = None  # (B, Ng) ROI of each patch in the batch

    def with_masks(self, masks: torch.Tensor) -> GlobalKeysValues:
        out = GlobalKeysValues(self.keys, self.values, self.roi_k, self.roi_v, self.grid)
        out.masks = masks
        return out

    def key_value(self, layer: int, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Ng, dim) keys (normalised) and values of block `layer` for the current patches."""
        masks = self.masks[:, :, None].to(self.keys.dtype)  # (B, Ng, 1)
        key = norm(self.keys[layer] + masks * self.roi_k[layer])
        value = self.values[layer] + masks * self.roi_v[layer]
        return key, value
