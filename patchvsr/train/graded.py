"""`"graded"`: real-world degradations at a drawn level, the level the detail head is told.

Real-ESRGAN's second-order chain (blur, resize, Gaussian or Poisson noise, JPEG; then a milder
blur, the resize to the LR size and noise again), film grain, and a final video codec (H.264
or MPEG-4 for the whole clip) or JPEG, every parameter drawn once per clip so all its frames
degrade alike (RealBasicVSR). Film grain is the one part that changes from frame to frame, as
it does on film, with its strength and size fixed for the clip.

Every strength is drawn between half and all of the way from "none" to its heaviest setting,
scaled by the clip's level u in (0, 1]: u = 1 is noise up to sigma 12 (8-bit levels) at the LR
size, H.264 up to CRF 35, JPEG down to quality 35. The level is returned with the clip: it is
the `denoise` input a head with levels (`patchvsr.models.detail`) is trained with, so the
control means "how much degradation to remove", and 0 is the clean, faithful case.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from patchvsr.train.degrade import (
    _RESIZE_MODES,
    RealisticSettings,
    add_noise,
    blur,
    degrade,
    gaussian_kernel,
    h264,
    jpeg,
    mpeg4,
    resize,
)

# The level of each other kind, for a head with levels trained on a mix (clean kinds: 0).
KIND_LEVELS = {"bilinear": 0.0, "bicubic": 0.0, "codec": 0.5, "realistic": 0.6, "realistic2": 0.8}


def _amount(rng: np.random.Generator, level: float, heaviest: float) -> float:
    """A strength between half and all of `level * heaviest`."""
    return heaviest * level * float(rng.uniform(0.5, 1.0))


def _blur(clip: torch.Tensor, rng: np.random.Generator, sigma_max: float) -> torch.Tensor:
    sx = max(0.2, sigma_max)
    sy = sx if rng.random() < 0.5 else float(rng.uniform(0.2, sx))
    size = 2 * min(6, max(1, math.ceil(2.5 * max(sx, sy)))) + 1
    return blur(clip, gaussian_kernel(sx, sy, float(rng.uniform(0, math.pi)), size))


def _noise(clip: torch.Tensor, rng: np.random.Generator, sigma: float) -> torch.Tensor:
    """Gaussian noise of `sigma` levels, or Poisson noise of about that strength."""
    poisson = sigma / math.sqrt(128.0)  # shot noise of sigma levels at mid grey
    s = RealisticSettings(gaussian_sigma=(sigma, sigma), poisson_scale=(poisson, poisson))
    return add_noise(clip, rng, s)


def film_grain(clip: torch.Tensor, rng: np.random.Generator, amount: float) -> torch.Tensor:
    """Grain of `amount` levels, new in every frame, clumped by a blur of 0.4-1.0 pixels,
    strongest in the mid-tones; mostly the same in all channels (monochrome film's)."""
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    channels = 3 if rng.random() < 0.3 else 1
    grain = torch.randn((channels, *clip.shape[1:]), generator=gen)
    sigma = float(rng.uniform(0.4, 1.0))
    size = 2 * math.ceil(2.5 * sigma) + 1
    grain = blur(grain.expand(3, -1, -1, -1).contiguous(), gaussian_kernel(sigma, sigma, 0.0, size))
    grain = grain / grain.std().clamp(min=1e-6)
    light = (clip.mean(0, keepdim=True) + 1.0) / 2.0
    weight = 4.0 * light * (1.0 - light)  # 1 at mid grey, 0 at black and white
    return (clip + grain * weight * amount / 127.5).clamp(-1, 1)


def _compress(clip: torch.Tensor, rng: np.random.Generator, level: float) -> torch.Tensor:
    """H.264 (55%), MPEG-4 (20%) or JPEG per frame (25%), at a quality set by the level."""
    pick = rng.random()
    out = None
    if pick < 0.55:
        out = h264(clip, 18 + round(_amount(rng, level, 17.0)))
    elif pick < 0.75:
        out = mpeg4(clip, 0.6 - _amount(rng, level, 0.5))
    if out is None:
        out = jpeg(clip, 95 - round(_amount(rng, level, 60.0)))
    return out


def graded(
    clip: torch.Tensor, scale: int, rng: np.random.Generator, level: float | None = None
) -> tuple[torch.Tensor, float]:
    """(LR clip (3, F, H / scale, W / scale), level) for an HR clip (3, F, H, W) in [-1, 1]:
    the second-order chain at `level` (drawn evenly from (0.05, 1] when None)."""
    u, lr_h, lr_w = _level_and_lr_size(clip, scale, rng, level)

    def mode() -> str:
        return _RESIZE_MODES[rng.integers(len(_RESIZE_MODES))]

    out = clip
    # Stage one, above the LR size (the source's own blur, noise and compression).
    if rng.random() < 0.7:
        out = _blur(out, rng, 0.2 + _amount(rng, u, 2.3))
    factor = float(rng.uniform(1.0, 2.0))
    out = resize(out, max(2, round(lr_h * factor)), max(2, round(lr_w * factor)), mode())
    if rng.random() < 0.8:
        out = _noise(out, rng, _amount(rng, u, 12.0))
    if rng.random() < 0.5:
        out = jpeg(out.clamp(-1, 1), 95 - round(_amount(rng, u, 60.0)))
    # Stage two: milder blur, the resize to the LR size, noise and grain there.
    if rng.random() < 0.5:
        out = _blur(out, rng, 0.2 + _amount(rng, u, 1.0))
    return _noise_grain_codec(resize(out, lr_h, lr_w, mode()).clamp(-1, 1), rng, u), u


def _noise_grain_codec(lr: torch.Tensor, rng: np.random.Generator, u: float) -> torch.Tensor:
    """The end of both chains, at the LR size: noise, film grain, a codec."""
    if rng.random() < 0.8:
        lr = _noise(lr, rng, _amount(rng, u, 12.0))
    if rng.random() < 0.3:
        lr = film_grain(lr, rng, _amount(rng, u, 12.0))
    return _compress(lr.clamp(-1, 1), rng, u)


def _level_and_lr_size(clip, scale, rng, level) -> tuple[float, int, int]:
    """The clip's level (drawn evenly from (0.05, 1] when None) and its LR size."""
    u = float(rng.uniform(0.05, 1.0)) if level is None else float(level)
    _, _, h, w = clip.shape
    if h % scale or w % scale:
        raise ValueError(f"clip size {w}x{h} is not divisible by the scale {scale}")
    return u, h // scale, w // scale


def graded_sharp(
    clip: torch.Tensor, scale: int, rng: np.random.Generator, level: float | None = None
) -> tuple[torch.Tensor, float]:
    """`graded` without the blur and the intermediate resize: a sharp downscale (a random
    kernel), then the noise, grain and codec of `graded` at the level. Footage shot sharp and
    degraded on the way (a phone's sensor noise, then the platform's encoder) looks like this;
    a head trained only on the blurred chain learns to sharpen every input hard."""
    u, lr_h, lr_w = _level_and_lr_size(clip, scale, rng, level)
    mode = _RESIZE_MODES[rng.integers(len(_RESIZE_MODES))]
    return _noise_grain_codec(resize(clip, lr_h, lr_w, mode).clamp(-1, 1), rng, u), u


# The kinds that draw their own level.
LEVELLED = {"graded": graded, "graded_sharp": graded_sharp}


def degrade_with_level(
    clip: torch.Tensor, scale: int, kind: str, rng: np.random.Generator
) -> tuple[torch.Tensor, float]:
    """The LR clip and its degradation level in [0, 1] (`patchvsr.train.graded`): the drawn
    level of a "graded" clip, a fixed one for the other kinds (0 for clean downscales)."""
    if kind in LEVELLED:
        return LEVELLED[kind](clip, scale, rng)
    return degrade(clip, scale, kind, rng), KIND_LEVELS[kind]
