"""Cleaning the low-resolution clip before mini upscales it: the `denoise` control's filter.

Mini's detail head was trained mostly on clean input: it sharpens whatever fine structure it
sees, noise, film grain and codec blocks included. Given a clip cleaned first, it sharpens the
picture instead. The filter is non-local means (Buades, Coll and Morel, 2005) in its video
form: each pixel becomes a weighted mean of pixels near it, in its own frame and the two beside
it, each weighted by how alike the neighbourhoods around the two are. It runs in two stages:

- **steady** (`denoise` up to `STEADY_LEVEL`): only the same pixel in the frames before and
  after, compared over 9x9 neighbourhoods, with a weight that falls to zero. Where the picture stands still, the codec's
  artefacts and noise that change from frame to frame average out; where it moves, the
  neighbourhoods differ and nothing is mixed. It takes no spatial detail away, and it is what
  keeps mini's output from flickering more than bicubic on compressed video.
- **spatial** (`denoise` above `STEADY_LEVEL`, full at 1): 5x5 offsets in each of the three
  frames, compared over 3x3 neighbourhoods: noise, film grain and block edges differ from one
  neighbourhood to the next and average out; edges and texture that repeat nearby are kept.

0 leaves the clip untouched (the most faithful detail). The strengths were measured on the
held-out video set (the model card's "Fourth generation"): a stronger steady stage starts to
blur slow pans of fine texture; a stronger spatial stage loses more texture than noise. The
filter works at the input's resolution, where it is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from patchvsr.method.box import box_mean

STEADY_LEVEL = 0.25  # the level at which the steady stage is full and the spatial one starts


@dataclass(frozen=True)
class Stage:
    strength: float  # h at full level, in 8-bit levels (the root of a mean squared difference)
    search: int  # spatial offsets: (2 * search + 1) ** 2 in each frame
    patch: int  # neighbourhoods of (2 * patch + 1) ** 2 pixels are compared
    compact: bool  # weights (1 - d / h^2)^2, zero beyond h^2, instead of exp(-d / h^2)


# The steady stage must mix nothing of a moving neighbourhood: large neighbourhoods and a weight
# that is zero past h keep slow pans of fine texture sharp.
STEADY = Stage(strength=9.0, search=0, patch=4, compact=True)
SPATIAL = Stage(strength=9.0, search=2, patch=1, compact=False)


def stage_levels(denoise: float) -> tuple[float, float]:
    """(steady, spatial) fractions of each stage's strength at a `denoise` level."""
    steady = min(1.0, denoise / STEADY_LEVEL)
    spatial = max(0.0, (denoise - STEADY_LEVEL) / (1.0 - STEADY_LEVEL))
    return steady, spatial


def clean_head_share(denoise) -> float:
    """How much of a model's head for cleaned input (`PatchVSRAdapter(clean_head=True)`)
    its weights take at `denoise` (None: 0): the spatial stage's fraction. The steady stage
    changes little of a picture, so up to `STEADY_LEVEL` the clean-source head stays whole;
    at 1 the other head, trained on clips filtered at 1, takes over."""
    if denoise is None:
        return 0.0
    level = torch.as_tensor(denoise, dtype=torch.float32)
    if level.numel() != 1:
        raise ValueError("a model with two detail heads takes one denoise level per call")
    return stage_levels(float(level))[1]


@torch.no_grad()
def clean_clip(video: torch.Tensor, denoise: float) -> torch.Tensor:
    """(1, 3, F, H, W) clip in [-1, 1] -> the same clip filtered at `denoise` in [0, 1]
    (0: returned as it is)."""
    if denoise <= 0.0:
        return video
    x = video[0].transpose(0, 1).float()  # (F, 3, H, W)
    for stage, fraction in zip((STEADY, SPATIAL), stage_levels(float(denoise)), strict=True):
        if fraction > 0.0:
            x = non_local_means(x, stage, stage.strength * fraction / 127.5)
    return x.transpose(0, 1)[None].to(video.dtype)


def non_local_means(x: torch.Tensor, stage: Stage, h: float) -> torch.Tensor:
    """(F, 3, H, W) frames -> the same, each pixel the mean of the candidates of `stage` (the
    same frame and the ones beside it; at the clip's ends, the frame itself) weighted by
    how alike the two neighbourhoods are (d: their mean squared difference, all colours)."""
    frames, s = x.shape[0], stage.search
    pad = (s,) * 4
    padded = F.pad(x, pad, mode="replicate")
    height, width = x.shape[2:]
    total, weights = torch.zeros_like(x), torch.zeros_like(x[:, :1])
    box, inverse = 2 * stage.patch + 1, -1.0 / (h * h)
    here = torch.arange(frames)
    for dt in (-1, 0, 1):
        other = here + dt
        other = torch.where((other < 0) | (other >= frames), here, other)
        source = padded[other]
        for dy in range(-s, s + 1):
            for dx in range(-s, s + 1):
                window = (slice(None), slice(None), slice(s + dy, s + dy + height),
                          slice(s + dx, s + dx + width))  # fmt: skip
                candidate = source[window]
                distance = (x - candidate).square_().mean(1, keepdim=True)
                distance = box_mean(distance, box)
                weight = distance.mul_(inverse)
                if stage.compact:  # (1 - d / h^2)^2, 0 beyond: nothing of a mismatch
                    weight = weight.add_(1.0).clamp_(min=0.0).square_()
                else:
                    weight = weight.exp_()
                total.addcmul_(weight, candidate)
                weights += weight
    return total / weights
