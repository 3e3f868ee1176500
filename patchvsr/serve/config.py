"""Settings of the web demo (`python app.py`), read from environment variables.

Whoever hosts the demo tunes it without touching code. The limits keep a shared CPU server
usable: an upload that is too long or too large, or a request for too large an output, is
refused with a message that names the limit.

| variable | default | meaning |
|---|---|---|
| `PATCHVSR_MODELS` | `mini` (when installed), `wan2.1-1.3b` (with CUDA), `bicubic`, `lanczos` | models offered, comma-separated: names `load_pipeline` takes, model folders, or the baselines |
| `PATCHVSR_DEMO_MODEL` | the first of the list | the model selected at start (added to the list if missing) |
| `PATCHVSR_MAX_SECONDS` | 20 (CPU), 60 (CUDA) | longest input clip, in seconds |
| `PATCHVSR_MAX_INPUT` | 1920x1080 | largest input frame (its pixel count; either orientation) |
| `PATCHVSR_MAX_OUTPUT` | 1920x1080 (CPU), 3840x2160 (CUDA) | largest output frame (pixel count) |
| `PATCHVSR_MAX_FRAMES` | 16 (CPU), 65 (CUDA) | most frames one upscaling job takes |
| `PATCHVSR_OUTPUT_DIR` | `outputs/demo` in the repository | where each job gets a folder of its own |
| `PATCHVSR_OUTPUT_MAX_AGE` | 3600 | seconds a job folder is kept |
| `PATCHVSR_MAX_UPLOAD_MB` | 200 | largest upload, in MB (10^6 bytes); the server refuses bigger ones |
| `PATCHVSR_QUEUE_SIZE` | 32 | requests that may wait for their turn; more are refused ("queue is full") |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import VideoInfo
from patchvsr.models.configs import MINI_DIR
from patchvsr.request import parse_size
from patchvsr.video.upscalers import BASELINES

REPO_ROOT = Path(__file__).resolve().parents[2]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def mini_installed() -> bool:
    return (MINI_DIR / "model_index.json").exists()


def _number(text: str, variable: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise PatchVSRError(f"{variable} must be a positive number, got {text!r}")
    return value


def _pixels(size: tuple[int, int]) -> str:
    """(H, W) as people write it, WxH."""
    return f"{size[1]}x{size[0]}"


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server. Sizes are (height, width) and compared by
    pixel count, so a portrait clip has the same allowance as a landscape one."""

    max_seconds: float = 20.0
    max_input: tuple[int, int] = (1080, 1920)
    max_output: tuple[int, int] = (1080, 1920)
    max_frames: int = 16

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cuda: bool | None = None) -> Limits:
        env = os.environ if env is None else env
        cuda = cuda_available() if cuda is None else cuda
        get = env.get
        return cls(
            max_seconds=_number(
                get("PATCHVSR_MAX_SECONDS", "60" if cuda else "20"), "PATCHVSR_MAX_SECONDS"
            ),
            max_input=parse_size(get("PATCHVSR_MAX_INPUT", "1920x1080"), "PATCHVSR_MAX_INPUT"),
            max_output=parse_size(
                get("PATCHVSR_MAX_OUTPUT", "3840x2160" if cuda else "1920x1080"),
                "PATCHVSR_MAX_OUTPUT",
            ),
            max_frames=_number(
                get("PATCHVSR_MAX_FRAMES", "65" if cuda else "16"), "PATCHVSR_MAX_FRAMES", int
            ),
        )

    def check_input(self, info: VideoInfo, name: str) -> None:
        """Refuse a clip that is too long or too large for this server."""
        if info.width * info.height > self.max_input[0] * self.max_input[1]:
            raise PatchVSRError(
                f"{name} is {info.width}x{info.height}: this server takes inputs up to "
                f"{_pixels(self.max_input)} pixels per frame (PATCHVSR_MAX_INPUT)"
            )
        if info.num_frames > 1 and info.duration > self.max_seconds:
            raise PatchVSRError(
                f"{name} is {info.duration:.1f} s long: this server takes clips up to "
                f"{self.max_seconds:g} s (PATCHVSR_MAX_SECONDS); cut it shorter first"
            )

    def check_output(self, out_hw: tuple[int, int]) -> None:
        """Refuse an output frame larger than this server makes."""
        height, width = out_hw
        if width * height > self.max_output[0] * self.max_output[1]:
            raise PatchVSRError(
                f"an output of {width}x{height} is too large here: this server makes frames "
                f"up to {_pixels(self.max_output)} pixels (PATCHVSR_MAX_OUTPUT); choose a "
                "smaller scale or size"
            )

    def check_frames(self, count: int) -> None:
        if not 1 <= count <= self.max_frames:
            raise PatchVSRError(
                f"frames to upscale must be 1 to {self.max_frames} here (PATCHVSR_MAX_FRAMES), "
                f"got {count}"
            )

    def describe(self) -> str:
        return (
            f"inputs up to {self.max_seconds:g} s and {_pixels(self.max_input)}, outputs up to "
            f"{_pixels(self.max_output)}, {self.max_frames} frames per job"
        )


def default_models(cuda: bool, mini: bool) -> list[str]:
    return (["mini"] if mini else []) + (["wan2.1-1.3b"] if cuda else []) + list(BASELINES)


@dataclass(frozen=True)
class DemoSettings:
    """Everything the demo reads from the environment, checked once at start."""

    models: list[str] = field(default_factory=lambda: list(BASELINES))
    default_model: str = "bicubic"
    limits: Limits = field(default_factory=Limits)
    output_dir: Path = REPO_ROOT / "outputs" / "demo"
    max_age: float = 3600.0
    cuda: bool = False
    max_upload_mb: float = 200.0
    queue_size: int = 32

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DemoSettings:
        env = os.environ if env is None else env
        cuda = cuda_available()
        listed = env.get("PATCHVSR_MODELS", "").strip()
        if listed:
            models = [m.strip() for m in listed.split(",") if m.strip()]
        else:
            models = default_models(cuda, mini_installed())
        default = env.get("PATCHVSR_DEMO_MODEL", "").strip() or models[0]
        if default not in models:
            models.insert(0, default)
        return cls(
            models=models,
            default_model=default,
            limits=Limits.from_env(env, cuda),
            output_dir=Path(env.get("PATCHVSR_OUTPUT_DIR") or REPO_ROOT / "outputs" / "demo"),
            max_age=_number(env.get("PATCHVSR_OUTPUT_MAX_AGE", "3600"), "PATCHVSR_OUTPUT_MAX_AGE"),
            cuda=cuda,
            max_upload_mb=_number(
                env.get("PATCHVSR_MAX_UPLOAD_MB", "200"), "PATCHVSR_MAX_UPLOAD_MB"
            ),
            queue_size=_number(env.get("PATCHVSR_QUEUE_SIZE", "32"), "PATCHVSR_QUEUE_SIZE", int),
        )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1_000_000)


__all__ = [
    "MINI_DIR",
    "DemoSettings",
    "Limits",
    "cuda_available",
    "default_models",
    "mini_installed",
]
