"""Comparison videos: the baseline (bicubic) beside the result, labelled.

Two layouts:
- "side": baseline left, result right, each at full output size (the video is twice as wide).
- "split": one frame at output size, baseline left of a divider and result right of it; the
  divider sweeps across the frame and back over the clip, so every region is seen both ways.
"auto" picks "side" unless the doubled width would exceed `MAX_SIDE_WIDTH` (players and
H.264 levels choke on 8K-wide video), then "split".

The comparison has the input's timing and audio, so it plays in sync with the input.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from patchvsr.errors import PatchVSRError
from patchvsr.io.output import check_output_path
from patchvsr.io.probe import VideoInfo, probe
from patchvsr.io.reader import VideoReader
from patchvsr.io.resize import bicubic_resize
from patchvsr.io.writer import DEFAULT_CODEC, DEFAULT_CRF, FrameSink, open_writer

MODES = ("auto", "side", "split")
MAX_SIDE_WIDTH = 4096
_DIVIDER = (255, 255, 255)


def choose_mode(mode: str, width: int) -> str:
    if mode not in MODES:
        raise PatchVSRError(f"unknown comparison mode {mode!r}; choose from {', '.join(MODES)}")
    if mode == "auto":
        return "side" if 2 * width <= MAX_SIDE_WIDTH else "split"
    return mode


def comparison_size(mode: str, width: int, height: int) -> tuple[int, int]:
    """(width, height) of the comparison video for a result of `width` x `height`."""
    return (2 * width, height) if choose_mode(mode, width) == "side" else (width, height)


def _font(height: int) -> ImageFont.ImageFont:
    size = max(10, min(48, height // 20))
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def _label(canvas: Image.Image, text: str, x: int, font: ImageFont.ImageFont) -> None:
    """Draw `text` at the top-left corner of the panel starting at `x`, on a dark box so it
    reads on any content."""
    draw = ImageDraw.Draw(canvas)
    pad = max(2, canvas.height // 100)
    box = draw.textbbox((x + 2 * pad, 2 * pad), text, font=font)
    draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0))
    draw.text((x + 2 * pad, 2 * pad), text, font=font, fill=(255, 255, 255))


def split_position(index: int, num_frames: int, width: int) -> int:
    """Divider column for frame `index`: sweeps from 1/4 to 3/4 of the width and back once
    over the clip (a still image gets the middle)."""
    if num_frames <= 1:
        return width // 2
    phase = index / (num_frames - 1)
    return int(round(width * (0.5 - 0.25 * math.cos(2 * math.pi * phase))))


def compose(
    baseline: np.ndarray,
    result: np.ndarray,
    labels: tuple[str, str] = ("bicubic", "result"),
    mode: str = "side",
    divider: int | None = None,
) -> np.ndarray:
    """One comparison frame from two `(H, W, 3) uint8` frames of the same size."""
    if baseline.shape != result.shape:
        raise ValueError(f"frames differ in size: {baseline.shape} vs {result.shape}")
    height, width = result.shape[:2]
    mode = choose_mode(mode, width)
    font = _font(height)
    if mode == "side":
        canvas = Image.fromarray(np.concatenate([baseline, result], axis=1))
        _label(canvas, labels[0], 0, font)
        _label(canvas, labels[1], width, font)
        return np.asarray(canvas)
    cut = width // 2 if divider is None else int(np.clip(divider, 0, width))
    frame = result.copy()
    frame[:, :cut] = baseline[:, :cut]
    line = max(1, width // 400)
    frame[:, max(0, cut - line) : cut + line] = _DIVIDER
    canvas = Image.fromarray(frame)
    _label(canvas, labels[0], 0, font)
    right = ImageDraw.Draw(canvas).textbbox((0, 0), labels[1], font=font)[2]
    _label(canvas, labels[1], max(cut + line, width - right - 4 * max(2, height // 100)), font)
    return np.asarray(canvas)


class ComparisonWriter:
    """Writes comparison frames as they come: `write(baseline, result, pts)`."""

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        info: VideoInfo,
        *,
        labels: tuple[str, str] = ("bicubic", "result"),
        mode: str = "auto",
        codec: str = DEFAULT_CODEC,
        crf: int | None = DEFAULT_CRF,
        tmp_dir: str | Path | None = None,
    ) -> None:
        self.mode = choose_mode(mode, width)
        self.labels = labels
        self.num_frames = info.num_frames
        self.index = 0
        cmp_w, cmp_h = comparison_size(self.mode, width, height)
        self.sink: FrameSink = open_writer(
            path, cmp_w, cmp_h, info, codec=codec, crf=crf, tmp_dir=tmp_dir
        )

    def write(self, baseline: np.ndarray, result: np.ndarray, pts: int | None = None) -> None:
        divider = split_position(self.index, self.num_frames, result.shape[1])
        self.sink.write(compose(baseline, result, self.labels, self.mode, divider), pts)
        self.index += 1

    def close(self) -> Path:
        return self.sink.close()

    def abort(self) -> None:
        self.sink.abort()

    @property
    def notes(self) -> list[str]:
        return self.sink.notes


def make_comparison(
    source: str | Path,
    result: str | Path,
    output: str | Path,
    *,
    labels: tuple[str, str] | None = None,
    mode: str = "auto",
    codec: str = DEFAULT_CODEC,
    crf: int | None = DEFAULT_CRF,
) -> Path:
    """Compare an upscaled `result` (video or frame folder) with the bicubic upscale of its
    low-resolution `source`, streaming both; the comparison carries the source's audio."""
    src_info = probe(source)
    res_info = probe(result)
    check_output_path(output, [source, result])
    if res_info.num_frames != src_info.num_frames:
        raise PatchVSRError(
            f"{result} has {res_info.num_frames} frames but {source} has {src_info.num_frames}"
        )
    size = (res_info.height, res_info.width)
    labels = labels or ("bicubic", Path(result).stem)
    writer = ComparisonWriter(
        output,
        res_info.width,
        res_info.height,
        src_info,
        labels=labels,
        mode=mode,
        codec=codec,
        crf=crf,
    )
    try:
        with VideoReader(source, info=src_info) as low, VideoReader(result, info=res_info) as high:
            for (_, pts, lr), (_, _, hr) in zip(low, high, strict=True):
                writer.write(bicubic_resize(lr[None], size)[0], hr, pts)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


__all__ = [
    "MODES",
    "ComparisonWriter",
    "choose_mode",
    "comparison_size",
    "compose",
    "make_comparison",
    "split_position",
]
