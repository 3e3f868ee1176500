"""`DetailHead`: a small convolutional network that sharpens the upscaled input's latent.

A diffusion transformer whose tokens cover 16x16 output pixels (the mini model) must write a
patch's fine detail through one linear layer per token; a few 3x3 convolutions on the
latent grid, which see each pixel's neighbours directly, recover far more of it for far less
compute. The head reads the clean latent of the upscaled input and returns a correction; the
transformer then predicts only the residual over `z_lr + head(z_lr)`. It runs once per
temporal window on the whole canvas, so it leaves no patch seams, and frame by frame, so it
adds no flicker of its own at window boundaries.

The last convolution starts at zero: a new head leaves a trained model exactly as it was.

A head with `levels` (mini's fourth generation) is also told how strongly to clean: a
`denoise` level in [0, 1] scales and shifts its features (FiLM, one scale and shift per
channel after the first convolution and after each residual block). It is trained with each
item's degradation level as that input (`patchvsr.train.degrade.graded`), so at 0 it is the
faithful head for clean sources and at 1 it removes heavy noise, grain and codec blocks. The
modulation is `level * mlp(level)` with the MLP's last layer at zero: at level 0, and in a new
head at any level, the features pass unchanged.

A head with a `pitch` (the codec's space-to-depth factor k, mini's fourth generation) removes
from its correction the part that repeats every k output pixels (`remove_pitch_pattern`). Its
convolutions see a cell's k x k pixels as separate channels and may treat them unevenly: on
flat, noisy areas the third generation's head left a faint texture at that pitch, with 100x
the spectral peak of bicubic's there (`patchvsr.flat_pattern`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from patchvsr.frames import fold_frames, unfold_frames
from patchvsr.method.box import box_mean


class _ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class LevelModulation(nn.Module):
    """A denoise level (B,) -> a scale and a shift per channel for each of `points` places in
    the head: `level * mlp(level)`, zero at level 0 and, with the last layer at zero, in a new
    module at any level (the head is then exactly the unconditioned one)."""

    def __init__(self, channels: int, points: int, hidden: int = 32) -> None:
        super().__init__()
        self.channels, self.points = channels, points
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.out = nn.Linear(hidden, 2 * channels * points)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, level: torch.Tensor) -> torch.Tensor:
        """(B,) levels -> (points, 2, B, channels, 1, 1)."""
        level = level.float().view(-1, 1)
        film = level * self.out(F.silu(self.mlp(level)))
        return film.view(-1, self.points, 2, self.channels, 1, 1).permute(1, 2, 0, 3, 4, 5)


def _modulate(x: torch.Tensor, film: torch.Tensor | None, frames: int) -> torch.Tensor:
    """Features (B * f, C, h, w) scaled and shifted by a (2, B, C, 1, 1) modulation."""
    if film is None:
        return x
    scale, shift = film.to(x.dtype).repeat_interleave(frames, dim=1)
    return x * (1.0 + scale) + shift


# Cells (latent pixels) over which a pitch pattern is measured: a notch at the frequencies
# j / k of about 1 / (k * 9) cycles per pixel, so real detail near them is barely touched.
PATTERN_CELLS = 9


def remove_pitch_pattern(correction: torch.Tensor, pitch: int) -> torch.Tensor:
    """(N, C, h, w) latent correction of a space-to-depth codec (channel c * k^2 + dy * k + dx,
    `F.pixel_unshuffle`'s order) without its local pattern of period k.

    In each 9x9-cell neighbourhood, each sub-pixel position's mean is taken. A smooth
    correction makes these means differ only by its slope, which the neighbouring cells' means
    give (a pattern repeats, so it has none); what is left after the mean and that slope is the
    pattern, and is taken out. Detail at other frequencies averages away in the means and
    stays."""
    n, c, h, w = correction.shape
    local = box_mean(correction.float(), PATTERN_CELLS).view(n, c // pitch**2, pitch, pitch, h, w)
    mean = local.mean((2, 3))  # (n, colours, h, w)
    padded = F.pad(mean, (1, 1, 1, 1), mode="replicate")
    gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / (2 * pitch)  # per output pixel
    gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / (2 * pitch)
    r = torch.arange(pitch, dtype=local.dtype, device=local.device) - (pitch - 1) / 2
    v, u = r.view(pitch, 1, 1, 1), r.view(1, pitch, 1, 1)  # dy and dx, centred
    smooth = mean[:, :, None, None] + u * gx[:, :, None, None] + v * gy[:, :, None, None]
    return correction - (local - smooth).view(n, c, h, w).to(correction.dtype)


def remove_video_pitch_pattern(latents: torch.Tensor, pitch: int) -> torch.Tensor:
    """`remove_pitch_pattern` on each frame of (B, C, f, h, w) latents."""
    return unfold_frames(remove_pitch_pattern(fold_frames(latents), pitch), latents.shape[0])


class DetailHead(nn.Module):
    def __init__(
        self,
        latent_channels: int,
        channels: int,
        blocks: int,
        levels: bool = False,
        pitch: int = 0,
    ) -> None:
        super().__init__()
        if pitch and latent_channels % (pitch * pitch):
            raise ValueError(f"{latent_channels} latent channels are not cells of {pitch}x{pitch}")
        self.pitch = pitch
        self.head = nn.Conv2d(latent_channels, channels, 3, padding=1)
        self.body = nn.Sequential(*(_ResBlock(channels) for _ in range(blocks)))
        self.tail = nn.Conv2d(channels, latent_channels, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        self.level = LevelModulation(channels, blocks + 1) if levels else None

    def forward(self, latents: torch.Tensor, level: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, f, h, w) latents -> (B, C, f, h, w) correction, each frame on its own.
        `level`: (B,) denoise levels in [0, 1] for a head with levels (None: 0, the faithful
        head); a head without levels ignores it."""
        # Channels-last: oneDNN's convolutions run in that layout, so bf16 ones (under the
        # caller's autocast) skip a reorder of every activation (2.7x faster than fp32 on an
        # AVX512-BF16 CPU; fp32 is as fast either way).
        b, f = latents.shape[0], latents.shape[2]
        frames = fold_frames(latents.to(self.head.weight.dtype))
        frames = frames.contiguous(memory_format=torch.channels_last)
        films = [None] * (len(self.body) + 1)
        if self.level is not None and level is not None:
            films = list(self.level(torch.as_tensor(level, device=latents.device).expand(b)))
        x = _modulate(F.relu(self.head(frames)), films[0], f)
        for block, film in zip(self.body, films[1:], strict=True):
            x = _modulate(block(x), film, f)
        out = self.tail(x)
        if self.pitch:
            out = remove_pitch_pattern(out, self.pitch)
        return unfold_frames(out, latents.shape[0]).to(latents.dtype)
