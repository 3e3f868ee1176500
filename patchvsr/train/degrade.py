"""Degradations that turn a high-resolution training clip into its low-resolution input.

- `"bilinear"`: the paper's recipe, a bilinear (antialiased) downscale by the scale factor.
- `"bicubic"`: the same with a bicubic kernel, the classic SR benchmark degradation.
- `"realistic"`: a first-order Real-ESRGAN / RealBasicVSR chain: blur (isotropic or anisotropic
  Gaussian), a random resize, Gaussian or Poisson noise, the final resize to the LR size, then
  compression (JPEG per frame with Pillow, or H.264 for the whole clip with PyAV when it is
  installed). Its parameters are drawn once per clip and shared by every frame, as in
  RealBasicVSR: real footage degrades the same way from one frame to the next, and a model
  trained on flickering degradations learns to flicker.
- `"codec"`: a clean downscale (random kernel), then the whole LR clip through a video codec
  at a random quality: H.264 (libx264, CRF 18-35) or MPEG-4 Part 2 (a random bit rate), the
  way web video reaches us. The model learns to remove blocks and ringing instead of
  sharpening them.
- `"realistic2"`: Real-ESRGAN's second-order chain (blur, resize, noise, JPEG, twice), ending
  in H.264, MPEG-4 or JPEG.
- `"graded"`: the second-order chain with film grain and a video codec at a drawn level, which
  a detail head with levels is told (`patchvsr.train.graded`); `"graded_sharp"` the same
  noise, grain and codec on a sharp downscale (no blur).

Every function takes a `numpy.random.Generator`, so a clip's degradation is a pure function of
the seed (training is reproducible, and resuming continues the same data).

Clips are (3, F, H, W) float tensors in [-1, 1]; the result has size (H / k, W / k).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from patchvsr.frames import frames_to_video, video_to_frames

KINDS = ("bilinear", "bicubic", "realistic", "codec", "realistic2", "graded", "graded_sharp")
_RESIZE_MODES = ("area", "bilinear", "bicubic")


@dataclass(frozen=True)
class RealisticSettings:
    """Ranges of the realistic chain (Real-ESRGAN's first-order defaults, a bit milder)."""

    blur_prob: float = 0.8
    blur_sigma: tuple[float, float] = (0.2, 2.5)
    resize_range: tuple[float, float] = (0.5, 1.5)
    noise_prob: float = 0.7
    gaussian_sigma: tuple[float, float] = (1.0, 15.0)  # in 8-bit levels
    poisson_scale: tuple[float, float] = (0.05, 2.0)
    gray_noise_prob: float = 0.4
    jpeg_quality: tuple[int, int] = (40, 95)
    h264_prob: float = 0.3
    h264_crf: tuple[int, int] = (18, 32)


@dataclass(frozen=True)
class CodecSettings:
    """Ranges of the `"codec"` degradation (and the last stage of `"realistic2"`)."""

    mpeg4_prob: float = 0.2
    h264_crf: tuple[int, int] = (18, 35)
    # MPEG-4 Part 2 has no CRF in libavcodec: its quality is set by bits per pixel and frame.
    mpeg4_bpp: tuple[float, float] = (0.1, 0.6)


# The second stage of the second-order chain: milder than the first (Real-ESRGAN's second
# stage halves the blur and noise ranges).
SECOND_STAGE = RealisticSettings(
    blur_prob=0.8,
    blur_sigma=(0.2, 1.5),
    resize_range=(0.3, 1.2),
    noise_prob=0.7,
    gaussian_sigma=(1.0, 10.0),
    poisson_scale=(0.05, 1.0),
    jpeg_quality=(50, 95),
    h264_prob=0.0,
)


def resize(clip: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """Resize every frame of (3, F, H, W); antialiased when shrinking (except "area")."""
    frames = clip.transpose(0, 1)  # (F, 3, H, W)
    shrink = height < clip.shape[2] or width < clip.shape[3]
    if mode == "area":
        out = F.interpolate(frames, size=(height, width), mode="area")
    else:
        out = F.interpolate(
            frames, size=(height, width), mode=mode, align_corners=False, antialias=shrink
        )
    return out.transpose(0, 1)


def downscale(clip: torch.Tensor, scale: int, mode: str = "bilinear") -> torch.Tensor:
    """(3, F, H, W) -> (3, F, H / scale, W / scale) with one resize kernel."""
    _, _, h, w = clip.shape
    if h % scale or w % scale:
        raise ValueError(f"clip size {w}x{h} is not divisible by the scale {scale}")
    return resize(clip, h // scale, w // scale, mode).clamp(-1, 1)


def gaussian_kernel(sigma_x: float, sigma_y: float, angle: float, size: int = 13) -> torch.Tensor:
    """A normalised (size, size) anisotropic Gaussian, rotated by `angle` radians."""
    r = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    c, s = math.cos(angle), math.sin(angle)
    u, v = c * x + s * y, -s * x + c * y
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).float()


def blur(clip: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every frame and channel of (3, F, H, W) with a 2D kernel (reflect padding)."""
    frames = clip.transpose(0, 1)  # (F, 3, H, W)
    pad = kernel.shape[-1] // 2
    padded = F.pad(frames, (pad, pad, pad, pad), mode="reflect")
    weight = kernel.to(clip.dtype)[None, None].expand(3, 1, -1, -1)
    return F.conv2d(padded, weight, groups=3).transpose(0, 1)


def add_noise(clip: torch.Tensor, rng: np.random.Generator, s: RealisticSettings) -> torch.Tensor:
    """Gaussian or Poisson (shot) noise, in colour or the same for all channels."""
    gray = rng.random() < s.gray_noise_prob
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    shape = (1, *clip.shape[1:]) if gray else clip.shape
    if rng.random() < 0.5:
        sigma = rng.uniform(*s.gaussian_sigma) / 127.5  # [-1, 1] spans 255 levels
        noise = torch.randn(shape, generator=gen) * sigma
    else:
        # Poisson noise on [0, 255] intensities, approximated as Gaussian with variance ~ signal.
        scale = rng.uniform(*s.poisson_scale)
        intensity = ((clip.mean(0, keepdim=True) if gray else clip) + 1.0) * 127.5
        noise = torch.randn(shape, generator=gen) * intensity.clamp(min=0).sqrt() * scale / 127.5
    return (clip + noise).clamp(-1, 1)


def to_uint8(clip: torch.Tensor) -> np.ndarray:
    """(3, F, H, W) in [-1, 1] -> (F, H, W, 3) uint8."""
    return video_to_frames(clip[None])


def from_uint8(frames: np.ndarray) -> torch.Tensor:
    """(F, H, W, 3) uint8 -> (3, F, H, W) in [-1, 1]."""
    frames = np.require(frames, requirements=["C", "W"])  # torch wants writable memory
    return frames_to_video(frames)[0]


def jpeg(clip: torch.Tensor, quality: int) -> torch.Tensor:
    """Compress every frame with Pillow's JPEG encoder at `quality`."""
    out = []
    for frame in to_uint8(clip):
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=int(quality))
        out.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    return from_uint8(np.stack(out))


def video_codec(
    clip: torch.Tensor, codec: str, options: dict[str, str], bit_rate: int = 0
) -> torch.Tensor | None:
    """Round-trip the clip through a video encoder (yuv420p, an in-memory MP4) with PyAV; None
    when PyAV (or the encoder, or an even frame size, which yuv420p needs) is missing. One
    encoder thread: x264's multi-threaded rate control is not bit-exact from run to run."""
    try:
        import av
    except ImportError:
        return None
    frames = to_uint8(clip)
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:
        return None
    buf = io.BytesIO()
    try:
        with av.open(buf, mode="w", format="mp4") as out:
            stream = out.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.thread_count = 1
            if bit_rate:
                stream.bit_rate = bit_rate
            stream.options = options
            for frame in frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            out.mux(stream.encode())
        buf.seek(0)
        with av.open(buf, mode="r") as inp:
            decoded = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    except (av.FFmpegError, ValueError):
        return None
    if len(decoded) != len(frames):
        return None
    return from_uint8(np.stack(decoded))


def h264(clip: torch.Tensor, crf: int) -> torch.Tensor | None:
    """The clip through H.264 (libx264, yuv420p) at `crf`; None without PyAV."""
    return video_codec(clip, "libx264", {"crf": str(int(crf)), "preset": "ultrafast"})


def draw_int(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    """A whole number drawn evenly from `bounds`, both ends included (a CRF, a quality)."""
    return int(rng.integers(bounds[0], bounds[1] + 1))


def mpeg4(clip: torch.Tensor, bits_per_pixel: float) -> torch.Tensor | None:
    """The clip through MPEG-4 Part 2 at `bits_per_pixel` per frame; None without PyAV."""
    _, _, h, w = clip.shape
    return video_codec(clip, "mpeg4", {}, max(1000, int(bits_per_pixel * h * w * 25)))


def compress_video(
    clip: torch.Tensor, rng: np.random.Generator, s: CodecSettings | None = None
) -> torch.Tensor:
    """The clip through H.264 or MPEG-4 at a random quality, the same for all its frames;
    JPEG per frame (quality 30-90) where PyAV cannot encode it."""
    s = s or CodecSettings()
    if rng.random() < s.mpeg4_prob:
        out = mpeg4(clip, float(rng.uniform(*s.mpeg4_bpp)))
    else:
        out = h264(clip, draw_int(rng, s.h264_crf))
    return out if out is not None else jpeg(clip, draw_int(rng, (30, 90)))


def _stage(
    clip: torch.Tensor, lr_hw: tuple[int, int], rng: np.random.Generator, s: RealisticSettings
) -> torch.Tensor:
    """Blur, a random resize (relative to the LR size `lr_hw`), noise."""
    out = clip
    if rng.random() < s.blur_prob:
        sx = rng.uniform(*s.blur_sigma)
        sy = sx if rng.random() < 0.5 else rng.uniform(*s.blur_sigma)
        size = 2 * min(6, max(1, math.ceil(2.5 * max(sx, sy)))) + 1
        out = blur(out, gaussian_kernel(sx, sy, rng.uniform(0, math.pi), size))
    # An intermediate resize (relative to the final LR size) with a random kernel: real
    # footage is often resized more than once on its way to us.
    factor = rng.uniform(*s.resize_range)
    mid_h = max(2, round(lr_hw[0] * factor))
    mid_w = max(2, round(lr_hw[1] * factor))
    out = resize(out, mid_h, mid_w, _RESIZE_MODES[rng.integers(len(_RESIZE_MODES))])
    if rng.random() < s.noise_prob:
        out = add_noise(out, rng, s)
    return out


def _lr_size(clip: torch.Tensor, scale: int) -> tuple[int, int]:
    _, _, h, w = clip.shape
    if h % scale or w % scale:
        raise ValueError(f"clip size {w}x{h} is not divisible by the scale {scale}")
    return h // scale, w // scale


def _to_lr(clip: torch.Tensor, lr_hw: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    return resize(clip, *lr_hw, _RESIZE_MODES[rng.integers(len(_RESIZE_MODES))]).clamp(-1, 1)


def realistic(
    clip: torch.Tensor, scale: int, rng: np.random.Generator, s: RealisticSettings | None = None
) -> torch.Tensor:
    """The realistic chain: blur -> random resize -> noise -> resize to LR -> compression."""
    s = s or RealisticSettings()
    lr_hw = _lr_size(clip, scale)
    out = _to_lr(_stage(clip, lr_hw, rng, s), lr_hw, rng)
    compressed = None
    if rng.random() < s.h264_prob:
        compressed = h264(out, draw_int(rng, s.h264_crf))
    if compressed is None:
        compressed = jpeg(out, draw_int(rng, s.jpeg_quality))
    return compressed


def realistic2(clip: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """Real-ESRGAN's second-order chain: (blur, resize, noise, JPEG), then a milder (blur,
    resize, noise), the resize to LR and a final compression (video codec or JPEG)."""
    lr_hw = _lr_size(clip, scale)
    first = RealisticSettings(resize_range=(1.0, 2.0))  # stage one stays above the LR size
    out = _stage(clip, lr_hw, rng, first).clamp(-1, 1)
    out = jpeg(out, draw_int(rng, first.jpeg_quality))
    out = _to_lr(_stage(out, lr_hw, rng, SECOND_STAGE), lr_hw, rng)
    if rng.random() < 0.3:
        return jpeg(out, draw_int(rng, SECOND_STAGE.jpeg_quality))
    return compress_video(out, rng)


def codec(clip: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """A clean downscale with a random kernel, then a video codec at a random quality."""
    return compress_video(_to_lr(clip, _lr_size(clip, scale), rng), rng)


def degrade(clip: torch.Tensor, scale: int, kind: str, rng: np.random.Generator) -> torch.Tensor:
    """The LR clip (3, F, H / scale, W / scale) for an HR clip (3, F, H, W) in [-1, 1]."""
    if kind in ("bilinear", "bicubic"):
        return downscale(clip, scale, kind)
    if kind == "realistic":
        return realistic(clip, scale, rng)
    if kind == "codec":
        return codec(clip, scale, rng)
    if kind == "realistic2":
        return realistic2(clip, scale, rng)
    if kind in ("graded", "graded_sharp"):  # they tell their level: `patchvsr.train.graded`
        raise ValueError('"graded" clips come with their level: use graded.degrade_with_level')
    raise ValueError(f"unknown degradation {kind!r}; choose from {', '.join(KINDS)}")


def pick(weights: Mapping[str, float], rng: np.random.Generator) -> str:
    """One degradation kind, drawn with the given relative weights."""
    names = sorted(weights)
    p = np.array([weights[n] for n in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]
