"""What one benchmark run measures: sizes, frames and steps for each preset."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class BenchConfig:
    """Sizes are output sides in pixels (square outputs, scale x4 from the input)."""

    preset: str = "full"
    model: str = (
        "mini"  # "mini" (trained if installed, else its architecture at random), "tiny", a folder
    )
    frames: int = 4  # frames of the clip; one temporal window
    steps: int = 1  # denoising steps of every timed run
    sizes: tuple[int, ...] = (256, 512, 768, 1024, 1536, 2048)
    # A run longer than this is stopped: the full-frame path grows quadratically, so the
    # largest sizes it finishes within this limit are the ones reported.
    max_seconds: float = 900.0
    patch_batch: int = 4  # patches per forward pass in the side-by-side runs
    threads: int = 0  # torch threads in every run; 0 = torch's default (the cores)
    profile_size: int = 512  # output side for the breakdown, sharing and batching runs
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16)
    repeats: int = 3  # sharing and batching: the fastest of this many runs (a shared CPU is noisy)
    # Real-scale FLOPs: (height, width) outputs of the real model, `flop_frames` frames.
    flop_sizes: tuple[tuple[int, int], ...] = ((1080, 1920), (1440, 2560), (2160, 3840))
    flop_frames: int = 33
    # End to end: `upscale --scale 4` of the example clip at this (width, height), seconds long.
    clip_size: tuple[int, int] = (256, 144)
    clip_seconds: float = 2.0
    cuda: bool = True  # also time the 1.3B configuration when a CUDA GPU is present
    cuda_steps: int = 2
    notes: tuple[str, ...] = field(default=())


PRESETS: dict[str, BenchConfig] = {
    "full": BenchConfig(),
    # A few minutes on 2 cores: the full-frame path stops at 768 (it grows quadratically).
    "quick": BenchConfig(
        preset="quick",
        sizes=(256, 512, 768),
        batch_sizes=(1, 2, 4, 8),
        profile_size=384,
        repeats=2,
        max_seconds=300.0,
    ),
    # The smallest form, for tests: two sizes, two frames, one real-scale output.
    "smoke": BenchConfig(
        preset="smoke",
        frames=2,
        sizes=(128, 512),
        profile_size=256,
        batch_sizes=(1, 4),
        repeats=1,
        flop_sizes=((1080, 1920),),
        clip_size=(64, 36),
        clip_seconds=0.25,
        cuda=False,
    ),
}


def preset(name: str, **overrides) -> BenchConfig:
    """A preset with some fields replaced (None values are ignored)."""
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
