"""Describing an input before decoding it: a video file PyAV can open, a folder of PNG/JPEG
frames, or one image, as a `VideoInfo` read from headers only.

The pixel limit, the decoder options that enforce it and the one-line error wording live here,
because the reader and the writers open files through the same door.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from patchvsr.errors import PatchVSRError
from patchvsr.io.container_guard import guarded_frames, refuse_huge_headers
from patchvsr.io.stream_guard import refuse_huge_streams

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# Frame folders are read as a sequence of these (PNG is what we write; JPEG is common).
SEQUENCE_EXTS = (".png", ".jpg", ".jpeg")
DEFAULT_SEQUENCE_FPS = 25.0
# Refuse to decode anything that declares more pixels per frame than this (a decompression
# bomb or a corrupt header); 8192 x 8192 covers 8K video with room to spare.
MAX_INPUT_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class VideoInfo:
    """What a reader needs to know before decoding. `width`/`height` are the upright size
    (after rotation); `rotation` is the display rotation in degrees counter-clockwise as
    stored in the file (0 when none). `fps` is the average frame rate; `time_base` and the
    per-frame pts carry the exact timing."""

    path: str
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float
    has_audio: bool
    rotation: int
    pix_fmt: str
    is_image_sequence: bool
    time_base: Fraction = Fraction(1, 25)
    rate: Fraction = Fraction(25)
    codec: str = ""


def cannot_read(path: str | Path, why: str) -> PatchVSRError:
    return PatchVSRError(f"cannot read {path}: {why}")


def one_line(err: BaseException) -> str:
    if isinstance(err, av.FFmpegError) and err.strerror:
        return err.strerror  # without the error number and the path the message already names
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _check_pixels(path: str | Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        # A decoder that refuses a size (see `decoder_options`) leaves it at 0x0.
        raise cannot_read(
            path,
            f"invalid frame size {width}x{height} (or one over the limit of {max_pixels} "
            "pixels, which the decoder refused)",
        )
    if width * height > max_pixels:
        raise cannot_read(
            path,
            f"declared frame size {width}x{height} exceeds the limit of {max_pixels} pixels",
        )


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTS


def sequence_files(folder: str | Path) -> list[Path]:
    """The frame files of a folder, in name order (zero-padded names sort correctly)."""
    files = sorted(
        p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in SEQUENCE_EXTS
    )
    return files


# --- probing ---------------------------------------------------------------------------------


def probe(
    path: str | Path, *, max_pixels: int = MAX_INPUT_PIXELS, fps: float | None = None
) -> VideoInfo:
    """Describe a video file, a folder of frames or a single image without decoding it all.

    `fps` sets the frame rate of image inputs (default 25); it is ignored for video files.
    """
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise cannot_read(path, "a symbolic link that leads nowhere (broken, or a loop)")
        raise cannot_read(path, "no such file or folder")
    if not os.access(path, os.R_OK):
        raise cannot_read(path, "permission denied")
    if path.is_dir():
        return _probe_sequence(path, max_pixels, fps)
    if is_image_path(path):
        return _probe_images(path, [path], max_pixels, fps, is_sequence=False)
    return _probe_video(path, max_pixels)


def image_header(path: Path, max_pixels: int) -> tuple[int, int, str]:
    """Width, height and mode of an image from its header only (no pixel decoding)."""
    try:
        with warnings.catch_warnings():
            # We apply our own (lower) limit below; PIL's warning would be a second message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                mode = im.mode
    except Image.DecompressionBombError:
        raise cannot_read(
            path, f"declared image size exceeds the limit of {max_pixels} pixels"
        ) from None
    except (OSError, ValueError, SyntaxError) as err:  # PIL's "broken PNG" is a SyntaxError
        raise cannot_read(path, f"not a readable image ({one_line(err)})") from None
    _check_pixels(path, width, height, max_pixels)
    return width, height, mode


def _probe_sequence(folder: Path, max_pixels: int, fps: float | None) -> VideoInfo:
    files = sequence_files(folder)
    if not files:
        raise cannot_read(folder, "the folder holds no PNG or JPEG frames")
    return _probe_images(folder, files, max_pixels, fps, is_sequence=True)


def _probe_images(
    path: Path, files: list[Path], max_pixels: int, fps: float | None, is_sequence: bool
) -> VideoInfo:
    width, height, mode = image_header(files[0], max_pixels)
    rate = Fraction(fps or DEFAULT_SEQUENCE_FPS).limit_denominator(1001)
    return VideoInfo(
        path=str(path),
        width=width,
        height=height,
        fps=float(rate),
        num_frames=len(files),
        duration=len(files) / float(rate),
        has_audio=False,
        rotation=0,
        pix_fmt=mode,
        is_image_sequence=is_sequence,
        time_base=1 / rate,
        rate=rate,
        codec="image",
    )


def decoder_options(max_pixels: int) -> dict[str, str]:
    """Options that make FFmpeg's decoders refuse frames over the pixel limit. A decoder
    allocates (and may clear) a frame of the size it parses before any check of ours runs:
    opening a 16000x16000 PNG-in-MOV bomb took 800 MB without this. The margin covers the
    row padding decoders add to the width."""
    return {"max_pixels": str(max_pixels + max_pixels // 16)}


@functools.lru_cache(maxsize=64)
def _guarded(path: str, size: int, mtime_ns: int, max_pixels: int) -> None:
    """The header guards, run once per version of a file: a job opens its input several
    times (probe, frame count, reader, audio), and the guards read and demux its start."""
    refuse_huge_streams(path, max_pixels)  # MPEG-TS and raw streams: the options come too late
    refuse_huge_headers(path, max_pixels)  # any container: avcC / hvcC, program streams


def open_input(path: Path, max_pixels: int = MAX_INPUT_PIXELS) -> av.container.InputContainer:
    try:
        stat = os.stat(path)
    except OSError:  # the guards and av.open say what is wrong with it
        _guarded.__wrapped__(str(path), 0, 0, max_pixels)
    else:
        _guarded(str(path), stat.st_size, stat.st_mtime_ns, max_pixels)
    try:
        # The options reach the decoders that opening runs to read the stream parameters.
        container = av.open(str(path), mode="r", options=decoder_options(max_pixels))
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as err:
        raise cannot_read(path, f"not a video file PyAV can open ({one_line(err)})") from None
    # ... and these the decoders we open ourselves (PyAV's stream contexts do not inherit
    # them), for every frame, a size change mid-stream included.
    for stream in container.streams.video:
        if stream.codec_context is not None:
            stream.codec_context.options = decoder_options(max_pixels)
    return container


def _rotation_of(
    stream: av.video.stream.VideoStream, container, path: Path, max_pixels: int
) -> int:
    """Display rotation (degrees counter-clockwise, multiple of 90) from the first frame."""
    try:
        for frame in guarded_frames(container, stream, path, max_pixels):
            return 90 * round((frame.rotation or 0) / 90) % 360  # a damaged matrix: 89.7, 135
    except av.FFmpegError:
        return 0
    return 0


def _count_frames(path: Path, container, stream, max_pixels: int) -> int:
    """Frames the decoder will deliver.

    MP4/MOV carry a full sample table: it tells where every sample lies (so a file cut short
    is caught here, before any work) and which samples an edit list trims away (common in
    clips cut without re-encoding; the header's frame count includes them). Containers that
    store only a count use it; those that store none (Matroska, WebM) are counted by
    demuxing, which reads the file but decodes nothing."""
    declared = int(stream.frames or 0)
    if declared:
        size = path.stat().st_size
        for s in container.streams:
            entries = s.index_entries
            if s.frames and len(entries) == s.frames and entries:
                if max(e.pos + e.size for e in entries) > size:
                    raise cannot_read(path, "the file is truncated: its index points past the end")
        entries = stream.index_entries
        if len(entries) == declared:
            return sum(1 for e in entries if not e.is_discard)
        return declared
    # A second opening, not a seek back: raw H.264/HEVC streams cannot seek.
    with open_input(path, max_pixels) as counter:
        return sum(
            1 for p in counter.demux(counter.streams.video[0]) if p.size and not p.is_discard
        )


def _probe_video(path: Path, max_pixels: int) -> VideoInfo:
    with open_input(path, max_pixels) as container:
        if not container.streams.video:
            what = "only audio" if container.streams.audio else "no video stream"
            raise cannot_read(path, f"the file has {what}")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None:  # PyAV has no decoder for the codec the file names
            raise cannot_read(path, "no decoder for its video codec (an unknown or damaged tag)")
        _check_pixels(path, ctx.width, ctx.height, max_pixels)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise cannot_read(path, "the video stream has no frame rate")
        num_frames = _count_frames(path, container, stream, max_pixels)
        if num_frames <= 0:
            raise cannot_read(path, "the video stream has zero frames")
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = num_frames / float(rate)
        has_audio = bool(container.streams.audio)
        rotation = _rotation_of(stream, container, path, max_pixels)
        width, height = ctx.width, ctx.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=str(path),
            width=width,
            height=height,
            fps=float(rate),
            num_frames=num_frames,
            duration=duration,
            has_audio=has_audio,
            rotation=rotation,
            pix_fmt=ctx.format.name if ctx.format else "",
            is_image_sequence=False,
            time_base=stream.time_base or Fraction(1, 90000),
            rate=Fraction(rate),
            codec=ctx.name,
        )
