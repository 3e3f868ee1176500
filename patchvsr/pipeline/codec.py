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

import math

import torch
from diffusers import AutoencoderKL, AutoencoderKLWan

from patchvsr.errors import PatchVSRError
from patchvsr.frames import fold_frames, unfold_frames
from patchvsr.models.configs import VAE_DTYPE, vae_spatial
from patchvsr.models.pixel_codec import PixelUnshuffleCodec


class LatentCodec:
    def __init__(self, vae: torch.nn.Module) -> None:
        self.vae = vae
        cfg = vae.config
        if isinstance(vae, AutoencoderKLWan):
            self.kind, kind_class = "wan", AutoencoderKLWan
            self.temporal = cfg.scale_factor_temporal
            self.channels = cfg.z_dim
        elif isinstance(vae, AutoencoderKL):
            self.kind, kind_class = "image", AutoencoderKL
            self.temporal = 1
            self.channels = cfg.latent_channels
        elif isinstance(vae, PixelUnshuffleCodec):
            self.kind, kind_class = "pixel", PixelUnshuffleCodec
            self.temporal = 1
            self.channels = vae.latent_channels
        else:
            raise TypeError(f"unsupported autoencoder {type(vae).__name__}")
        self.spatial = vae_spatial(cfg, kind_class.__name__)

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

    def maybe_tile(self, height: int, width: int, free_bytes: int | None = None) -> int | None:
        """Tile the Wan VAE only as much as memory needs: whole frames when they fit in
        `free_bytes` (default: the device's free memory), else the largest square tiles that
        do. Returns the tile side, or None when untiled."""
        if self.kind != "wan":
            return None
        if free_bytes is None:
            from patchvsr.pipeline.memory import available_bytes

            free_bytes = available_bytes(self.vae.device)
        per_pixel = vae_bytes_per_pixel(self.vae.dtype)
        tile = tile_side(height, width, free_bytes, per_pixel)
        if tile is None:
            self.vae.disable_tiling()
        else:
            stride = tile - TILE_OVERLAP
            self.vae.enable_tiling(tile, tile, stride, stride)
        return tile

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


# --- precision and tiles of the Wan VAE ----------------------------------------------------

# Pixels two neighbouring tiles share and blend (diffusers' default: 256 px tiles, 192 stride).
TILE_OVERLAP = 64
MIN_TILE = 128  # twice the overlap: every tile keeps an unblended middle
# Peak activation memory of one Wan2.1 VAE decode per output pixel, fp32 (the decoder works
# on one latent frame, 4 video frames, at a time, so the clip's length does not enter).
# Measured on the CPU with the real architecture (`AutoencoderKLWan()`), random weights.
WAN_VAE_BYTES_PER_PIXEL_FP32 = 22_000  # 128 px: 472 MB, 256 px: 1520 MB; the slope
# Only this share of the free memory is planned for: the allocator and the rest of the
# pipeline need the remainder.
MEMORY_SHARE = 0.5


# VAE_DTYPE_REASON. The Wan VAE's precision unless told (`--vae-dtype`,
# `from_pretrained(vae_dtype=...)`) is fp32, as diffusers documents for the Wan VAE, whatever
# the model's dtype. On tiny-wan beside a bf16 model, a bf16 VAE costs 18 dB against all-fp32
# (49.9 dB instead of 67.6 dB), and the VAE runs twice per window where the model runs at
# every step of every patch; bf16 halves the VAE's memory and is the faster choice
# (`scripts/device_check.sh` times both at 4K).
VAE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def vae_dtype(choice: str | torch.dtype | None = None) -> torch.dtype:
    """The Wan VAE's dtype for a choice of "fp32" or "bf16" (or a dtype); None: `VAE_DTYPE`."""
    if isinstance(choice, torch.dtype):
        return choice
    key = VAE_DTYPE if choice is None else str(choice).strip().lower()
    if key not in VAE_DTYPES:
        raise PatchVSRError(f"unknown VAE dtype {choice!r}; choose {' or '.join(VAE_DTYPES)}")
    return VAE_DTYPES[key]


def vae_bytes_per_pixel(dtype: torch.dtype) -> int:
    itemsize = torch.empty((), dtype=dtype).element_size()
    return WAN_VAE_BYTES_PER_PIXEL_FP32 * itemsize // 4


def tile_side(
    height: int, width: int, free_bytes: int, bytes_per_pixel: int, align: int = 32
) -> int | None:
    """Side of the square VAE tiles that fit a share of `free_bytes`, on the `align` lattice
    (latent cells of 8 px, with room for the overlap); None when the whole frame fits."""
    budget = free_bytes * MEMORY_SHARE
    if height * width * bytes_per_pixel <= budget:
        return None
    side = int(math.sqrt(budget / bytes_per_pixel)) // align * align
    return max(MIN_TILE, min(side, max(height, width)))


def tiled_pixels(height: int, width: int, tile: int | None, overlap: int = TILE_OVERLAP) -> int:
    """Pixels the tiled decoder computes for one frame (as diffusers walks the tiles)."""
    if tile is None:
        return height * width
    stride = tile - overlap

    def spans(length: int) -> list[int]:
        return [min(tile, length - start) for start in range(0, length, stride)]

    return sum(spans(height)) * sum(spans(width))
