"""One interface over the autoencoders a PatchVSR pipeline can use.

The pipeline never assumes Wan's numbers: it asks the codec for the spatial and temporal
compression, the latent channels and the frame-count rule, and lets it normalise latents.

- `AutoencoderKLWan` (the real base): 8x spatial, 4x temporal, clips of 4n+1 frames (the VAE
  keeps only those and silently drops the rest, so we pad), latents normalised with the
  config's per-channel mean/std; tiling for large frames.
- `AutoencoderKL` (per-frame image VAE): 2^(levels-1) spatial, no temporal compression.
- `PixelUnshuffleCodec`: pixel space, lossless space-to-depth.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, AutoencoderKLWan

from patchvsr.frames import fold_frames, unfold_frames
from patchvsr.models.pixel_codec import PixelUnshuffleCodec


class LatentCodec:
    def __init__(self, vae: torch.nn.Module) -> None:
        self.vae = vae
        cfg = vae.config
        if isinstance(vae, AutoencoderKLWan):
            self.kind = "wan"
            self.spatial = cfg.scale_factor_spatial
            self.temporal = cfg.scale_factor_temporal
            self.channels = cfg.z_dim
        elif isinstance(vae, AutoencoderKL):
            self.kind = "image"
            self.spatial = 2 ** (len(cfg.block_out_channels) - 1)
            self.temporal = 1
            self.channels = cfg.latent_channels
        elif isinstance(vae, PixelUnshuffleCodec):
            self.kind = "pixel"
            self.spatial = cfg.factor
            self.temporal = 1
            self.channels = vae.latent_channels
        else:
            raise TypeError(f"unsupported autoencoder {type(vae).__name__}")

    def padded_frames(self, num_frames: int) -> int:
        """Frames the codec needs for a clip of `num_frames` (Wan: the next 4n+1)."""
        t = self.temporal
        return num_frames if t == 1 else ((num_frames - 1 + t - 1) // t) * t + 1

    def latent_frames(self, num_frames: int) -> int:
        return (self.padded_frames(num_frames) - 1) // self.temporal + 1

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.vae.config
        mean = torch.tensor(cfg.latents_mean, device=like.device, dtype=like.dtype).view(
            1, -1, 1, 1, 1
        )
        std = torch.tensor(cfg.latents_std, device=like.device, dtype=like.dtype).view(
            1, -1, 1, 1, 1
        )
        return mean, std

    def maybe_tile(self, height: int, width: int, limit: int = 512) -> None:
        """Tile the Wan VAE for frames larger than `limit` pixels on a side (memory)."""
        if self.kind == "wan":
            if max(height, width) > limit:
                self.vae.enable_tiling()
            else:
                self.vae.disable_tiling()

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, F, H, W) in [-1, 1], F already padded -> normalised latents (B, C, f, h, w).
        Uses the posterior mode: deterministic, so the same clip gives the same latent."""
        video = video.to(self.vae.dtype)
        if self.kind == "pixel":
            return self.vae.encode_video(video)
        if self.kind == "wan":
            z = self.vae.encode(video).latent_dist.mode()
            mean, std = self._stats(z)
            return (z - mean) / std
        z = self.vae.encode(fold_frames(video)).latent_dist.mode()
        z = (z - (self.vae.config.shift_factor or 0.0)) * self.vae.config.scaling_factor
        return unfold_frames(z, video.shape[0])

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> video (B, 3, F, H, W), roughly in [-1, 1]."""
        latents = latents.to(self.vae.dtype)
        if self.kind == "pixel":
            return self.vae.decode_video(latents)
        if self.kind == "wan":
            mean, std = self._stats(latents)
            return self.vae.decode(latents * std + mean).sample
        z = fold_frames(latents) / self.vae.config.scaling_factor
        x = self.vae.decode(z + (self.vae.config.shift_factor or 0.0)).sample
        return unfold_frames(x, latents.shape[0])
