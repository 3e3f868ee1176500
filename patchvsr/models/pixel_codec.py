"""A parameter-free "autoencoder" for pixel-space models: space-to-depth and back.

`PixelUnshuffleCodec(factor=4)` turns (B, 3, F, H, W) into (B, 48, F, H/4, W/4) exactly and
losslessly. It lets a small model work in pixel space with the same token budget as a latent
model (no blurry from-scratch VAE, no VAE cost on the CPU), while the pipeline treats it like
any other autoencoder component: it reads `spatial_factor`, `temporal_factor`, channels and the
frame rule from the component instead of assuming Wan's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from patchvsr.frames import fold_frames, unfold_frames


class PixelUnshuffleCodec(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, factor: int = 4, in_channels: int = 3, latent_scale: float = 1.0) -> None:
        super().__init__()
        # A buffer gives the module a device and dtype like any other component; persistent,
        # so that save_pretrained writes a weights file and from_pretrained finds one.
        self.register_buffer("_anchor", torch.zeros(1))

    @property
    def latent_channels(self) -> int:
        return self.config.in_channels * self.config.factor**2

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, C, F, H, W) in [-1, 1] -> (B, C * r^2, F, H / r, W / r)."""
        z = F.pixel_unshuffle(fold_frames(video), self.config.factor) * self.config.latent_scale
        return unfold_frames(z, video.shape[0])

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        frames = fold_frames(latents) / self.config.latent_scale
        return unfold_frames(F.pixel_shuffle(frames, self.config.factor), latents.shape[0])
