"""Reading videos, image sequences and single images as RGB frames, one frame at a time.

Every input kind (a video file PyAV can open, a folder of PNG/JPEG frames, one image) is read
through `VideoReader`, which yields `(index, pts, rgb)` and never holds more than the frame it
is on, so memory does not grow with the video's length.

Conventions
- Frames are `(H, W, 3) uint8` RGB; stacks are `(F, H, W, 3)`.
- Rotation metadata (a display matrix) is *applied* while reading: frames come out upright,
  `VideoInfo.width/height` are the upright size, and outputs are written without rotation.
- Greyscale and 10-bit inputs are converted to 8-bit RGB by the decoder's scaler.
- Timestamps: `pts` is the frame's presentation time in the stream's `time_base` (a
  `Fraction`), kept so that variable-frame-rate inputs come out with the same timing. Image
  inputs get `pts = index` in units of `1/fps`.
- Every failure a user can cause (missing file, not a video, truncated data, an absurd
  declared size) is a `PatchVSRError` with a one-line message, never a raw av/PIL exception.

Writing (`VideoWriter`, `FrameFolderWriter`) is atomic: a temporary file beside the target,
renamed at the end, so a crash never leaves a truncated file at the output path.
"""

from __future__ import annotations

import ctypes
import io
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from patchvsr.errors import PatchVSRError

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

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return (self.width, self.height)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["time_base"] = str(self.time_base)
        d["rate"] = str(self.rate)
        return d


def _fail(path: str | Path, why: str) -> PatchVSRError:
    return PatchVSRError(f"cannot read {path}: {why}")


def _one_line(err: BaseException) -> str:
    if isinstance(err, av.FFmpegError) and err.strerror:
        return err.strerror  # without the error number and the path the message already names
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _check_pixels(path: str | Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        # A decoder that refuses a size (see `_decoder_options`) leaves it at 0x0.
        raise _fail(
            path,
            f"invalid frame size {width}x{height} (or one over the limit of {max_pixels} "
            "pixels, which the decoder refused)",
        )
    if width * height > max_pixels:
        raise _fail(
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
            raise _fail(path, "a symbolic link that leads nowhere (broken, or a loop)")
        raise _fail(path, "no such file or folder")
    if not os.access(path, os.R_OK):
        raise _fail(path, "permission denied")
    if path.is_dir():
        return _probe_sequence(path, max_pixels, fps)
    if is_image_path(path):
        return _probe_images(path, [path], max_pixels, fps, is_sequence=False)
    return _probe_video(path, max_pixels)


def _image_header(path: Path, max_pixels: int) -> tuple[int, int, str]:
    """Width, height and mode of an image from its header only (no pixel decoding)."""
    try:
        with warnings.catch_warnings():
            # We apply our own (lower) limit below; PIL's warning would be a second message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                mode = im.mode
    except Image.DecompressionBombError:
        raise _fail(path, f"declared image size exceeds the limit of {max_pixels} pixels") from None
    except (OSError, ValueError) as err:
        raise _fail(path, f"not a readable image ({_one_line(err)})") from None
    _check_pixels(path, width, height, max_pixels)
    return width, height, mode


def _probe_sequence(folder: Path, max_pixels: int, fps: float | None) -> VideoInfo:
    files = sequence_files(folder)
    if not files:
        raise _fail(folder, "the folder holds no PNG or JPEG frames")
    return _probe_images(folder, files, max_pixels, fps, is_sequence=True)


def _probe_images(
    path: Path, files: list[Path], max_pixels: int, fps: float | None, is_sequence: bool
) -> VideoInfo:
    width, height, mode = _image_header(files[0], max_pixels)
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


def _decoder_options(max_pixels: int) -> dict[str, str]:
    """Options that make FFmpeg's decoders refuse frames over the pixel limit. A decoder
    allocates (and may clear) a frame of the size it parses before any check of ours runs:
    opening a 16000x16000 PNG-in-MOV bomb took 800 MB without this. The margin covers the
    row padding decoders add to the width."""
    return {"max_pixels": str(max_pixels + max_pixels // 16)}


def _open(path: Path, max_pixels: int = MAX_INPUT_PIXELS) -> av.container.InputContainer:
    try:
        # The options reach the decoders that opening runs to read the stream parameters.
        return av.open(str(path), mode="r", options=_decoder_options(max_pixels))
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as err:
        raise _fail(path, f"not a video file PyAV can open ({_one_line(err)})") from None


def _rotation_of(stream: av.video.stream.VideoStream, container) -> int:
    """Display rotation (degrees counter-clockwise, multiple of 90) from the first frame."""
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation or 0)) % 360
    except av.FFmpegError:
        return 0
    return 0


def _count_frames(path: Path, container, stream) -> int:
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
                    raise _fail(path, "the file is truncated: its index points past the end")
        entries = stream.index_entries
        if len(entries) == declared:
            return sum(1 for e in entries if not e.is_discard)
        return declared
    count = sum(1 for p in container.demux(stream) if p.size and not p.is_discard)
    container.seek(0)
    return count


def _probe_video(path: Path, max_pixels: int) -> VideoInfo:
    with _open(path, max_pixels) as container:
        if not container.streams.video:
            what = "only audio" if container.streams.audio else "no video stream"
            raise _fail(path, f"the file has {what}")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        _check_pixels(path, ctx.width, ctx.height, max_pixels)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise _fail(path, "the video stream has no frame rate")
        num_frames = _count_frames(path, container, stream)
        if num_frames <= 0:
            raise _fail(path, "the video stream has zero frames")
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = num_frames / float(rate)
        has_audio = bool(container.streams.audio)
        rotation = _rotation_of(stream, container)
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


# --- reading ---------------------------------------------------------------------------------


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    # `rotation` is counter-clockwise; the picture must be turned by that much to be upright.
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=k)) if k else rgb


def _image_rgb(path: Path, max_pixels: int) -> np.ndarray:
    _image_header(path, max_pixels)
    try:
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit greyscale PNG: keep the top 8 bits rather than clipping.
                arr = np.asarray(im, dtype=np.uint32) >> 8
                im = Image.fromarray(arr.astype(np.uint8), mode="L")
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise _fail(path, f"not a readable image ({_one_line(err)})") from None


class VideoReader:
    """Iterate over the frames of any supported input, in order, one at a time.

    >>> with VideoReader("clip.mp4") as reader:
    ...     for index, pts, rgb in reader:
    ...         ...

    A video that decodes to fewer frames than its header promises (a truncated file) raises
    `PatchVSRError` at the end instead of ending quietly short.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_pixels: int = MAX_INPUT_PIXELS,
        fps: float | None = None,
        info: VideoInfo | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_pixels = max_pixels
        self.info = info or probe(self.path, max_pixels=max_pixels, fps=fps)
        self._container: av.container.InputContainer | None = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __iter__(self) -> Iterator[tuple[int, int, np.ndarray]]:
        return self.frames()

    def frames(
        self, start: int = 0, count: int | None = None, *, decode: bool = True
    ) -> Iterator[tuple[int, int, np.ndarray | None]]:
        """Frames `start .. start+count-1` as `(index, pts, rgb)`; with `decode=False` the
        rgb is None (timestamps only, no colour conversion)."""
        if start < 0 or (count is not None and count < 0):
            raise ValueError("start and count must be >= 0")
        stop = self.info.num_frames if count is None else min(start + count, self.info.num_frames)
        if start >= stop:
            return
        if self.info.codec == "image":
            yield from self._image_frames(start, stop, decode)
        else:
            yield from self._video_frames(start, stop, decode)

    def _image_frames(self, start: int, stop: int, decode: bool):
        files = sequence_files(self.path) if self.info.is_image_sequence else [self.path]
        for index in range(start, stop):
            rgb = _image_rgb(files[index], self.max_pixels) if decode else None
            if rgb is not None and rgb.shape[:2] != (self.info.height, self.info.width):
                raise _fail(
                    files[index],
                    f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the first frame is "
                    f"{self.info.width}x{self.info.height}",
                )
            yield index, index, rgb

    def _video_frames(self, start: int, stop: int, decode: bool):
        self.close()
        self._container = _open(self.path, self.max_pixels)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.options = _decoder_options(self.max_pixels)  # mid-stream changes
        rotation = self.info.rotation
        index = 0
        last_pts = -1
        try:
            for frame in self._container.decode(stream):
                if index >= stop:
                    break
                # Frames without a timestamp (rare, broken muxers) get the next tick.
                pts = frame.pts if frame.pts is not None else last_pts + 1
                last_pts = pts
                if index >= start:
                    rgb = None
                    if decode:
                        rgb = _upright(frame.to_ndarray(format="rgb24"), rotation)
                    yield index, pts, rgb
                index += 1
        except av.FFmpegError as err:
            raise _fail(self.path, f"decoding failed at frame {index} ({_one_line(err)})") from None
        finally:
            self.close()
        if index < stop:
            raise _fail(
                self.path,
                f"the file is truncated or damaged: decoded {index} of {self.info.num_frames} frames",
            )


def iter_frames(
    path: str | Path, start: int = 0, count: int | None = None, **kwargs
) -> Iterator[np.ndarray]:
    """RGB frames of `path` one at a time (streaming)."""
    with VideoReader(path, **kwargs) as reader:
        for _, _, rgb in reader.frames(start, count):
            yield rgb


def read_frames(path: str | Path, start: int = 0, count: int | None = None, **kwargs) -> np.ndarray:
    """Frames `start .. start+count-1` of a video, frame folder or image as one
    `(F, H, W, 3) uint8` RGB array. Holds them all: for long videos use `VideoReader`."""
    frames = list(iter_frames(path, start, count, **kwargs))
    if not frames:
        info = probe(path, **kwargs)
        raise _fail(path, f"no frames in range start={start} (the input has {info.num_frames})")
    return np.stack(frames)


def read_frame(path: str | Path, index: int = 0, **kwargs) -> np.ndarray:
    """One `(H, W, 3) uint8` RGB frame."""
    return read_frames(path, index, 1, **kwargs)[0]


# --- writing ---------------------------------------------------------------------------------

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".m4v", ".webm", ".avi")
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
           ".avi": "avi"}  # fmt: skip
DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 18  # visually lossless for H.264 at a sane size; lower is better and bigger
# Output pixel formats tried in order when the codec cannot take 4:2:0 at this size.
_FALLBACK_PIX_FMTS = ("yuv444p", "gbrp", "bgr0", "rgb24")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(output: str | Path, inputs: list[str | Path] = ()) -> Path:
    """Refuse an output that would overwrite an input or cannot be written, before any work.

    Writes and removes a probe file in the target folder: the only reliable writability test
    (permission bits lie for root, read-only mounts and network shares)."""
    output = Path(output)
    for src in inputs:
        src = Path(src)
        if _same_file(src, output):
            raise PatchVSRError(f"refusing to write the output over the input: {output}")
        if src.is_dir() and src.resolve() in output.resolve().parents:
            # Frames written there would become part of the input on the next run.
            raise PatchVSRError(f"refusing to write the output into the input folder: {output}")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise PatchVSRError(f"output folder does not exist: {folder}")
    if output.is_dir() and output.suffix.lower() in VIDEO_EXTS + IMAGE_EXTS:
        raise PatchVSRError(f"output path is a folder: {output}")
    probe_file = folder / f".{output.name}.write-test-{os.getpid()}"
    try:
        probe_file.touch()
        probe_file.unlink()
    except OSError as err:
        raise PatchVSRError(
            f"cannot write to output folder {folder}: {err.strerror or _one_line(err)}"
        ) from None
    return output


def check_codec(codec: str, output: str | Path) -> None:
    """Refuse, before any work, a video codec that does not exist or that the output's
    container cannot hold (e.g. H.264 in WebM)."""
    try:
        encoder = av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise PatchVSRError(f"unknown video codec {codec!r}") from None
    if encoder.type != "video":
        raise PatchVSRError(f"{codec!r} is not a video codec")
    muxer = _MUXERS.get(Path(output).suffix.lower())
    if muxer is None:
        return
    with av.open(io.BytesIO(), "w", format=muxer) as container:
        supported = container.supported_codecs
    if encoder.name not in supported:
        raise PatchVSRError(f"a {Path(output).suffix} file cannot hold {encoder.name} video")


def temp_path_for(target: Path, folder: Path | None = None) -> Path:
    """A hidden temporary name beside `target` (or in `folder`, which must be on the same
    file system) that keeps its extension: the muxer picks the container format from it."""
    name = f".{target.stem}.partial-{os.getpid()}{target.suffix}"
    return (Path(folder) if folder is not None else target.parent) / name


def _pick_pix_fmt(codec: av.codec.Codec, width: int, height: int) -> tuple[str, str]:
    """Pixel format for the encoder, and a note when it is not plain 4:2:0."""
    formats = [f.name for f in (codec.video_formats or [])]
    even = width % 2 == 0 and height % 2 == 0
    if "yuv420p" in formats and even:
        return "yuv420p", ""
    if not formats:
        return "yuv420p", ""
    for name in _FALLBACK_PIX_FMTS:
        if name in formats:
            note = ""
            if "yuv420p" in formats:
                note = (
                    f"odd size {width}x{height}: written as {name} at the exact size "
                    "(4:2:0 needs even sizes; some web players only play 4:2:0)"
                )
            return name, note
    return formats[0], ""


# Audio codecs to re-encode to when the output container cannot hold the input's, in order
# of preference: (codec name the muxer knows, encoder, sample rates it takes or None for any).
_AUDIO_FALLBACKS = (
    ("aac", "aac", None),
    ("opus", "libopus", (48000, 24000, 16000, 12000, 8000)),
    ("vorbis", "libvorbis", None),
    ("mp3", "libmp3lame", (48000, 44100, 32000, 24000, 22050, 16000)),
    ("flac", "flac", None),
)


def _audio_fallback(supported: set[str], rate: int) -> tuple[str, int] | None:
    """(encoder, sample rate) for re-encoding audio into a container, or None."""
    for name, encoder, rates in _AUDIO_FALLBACKS:
        if name in supported and encoder in av.codecs_available:
            if rates is not None and rate not in rates:
                rate = rates[0]
            return encoder, rate
    return None


class _AudioCopier:
    """Copies the first audio stream of `source` into `output`, interleaved with the video.

    The packets are remuxed untouched when the output container takes the codec; otherwise
    the audio is re-encoded (AAC where the container allows). `pump(t)` writes everything up
    to time `t` (seconds), so the muxer never buffers more than a moment of either stream."""

    def __init__(self, source: Path, output: av.container.OutputContainer) -> None:
        self.input = _open(source)
        self.output = output
        self.src = self.input.streams.audio[0]
        self.copy = self.src.codec_context.name in output.supported_codecs
        self.note = ""
        if self.copy:
            self.dst = output.add_stream_from_template(self.src)
        else:
            rate = self.src.codec_context.sample_rate or 48000
            choice = _audio_fallback(output.supported_codecs, rate)
            if choice is None:
                self.input.close()
                raise PatchVSRError("no audio codec this container can hold is available")
            encoder, rate = choice
            # Mono and stereo stay as they are; more channels are mixed down to stereo, the
            # one layout every player and encoder takes.
            layout = "mono" if (self.src.codec_context.channels or 2) == 1 else "stereo"
            self.dst = output.add_stream(encoder, rate=rate)
            self.dst.layout = layout
            fmt = self.dst.codec_context.codec.audio_formats[0].name
            self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
            self.note = (
                f"audio re-encoded from {self.src.codec_context.name} to {encoder} "
                "(the output container cannot hold the original)"
            )
        self.packets = self.input.demux(self.src)
        self.pending: av.Packet | None = None
        self.done = False
        self.flushed = False

    def _next(self) -> av.Packet | None:
        if self.pending is not None:
            packet, self.pending = self.pending, None
            return packet
        for packet in self.packets:
            if packet.dts is not None or packet.size:
                return packet
        return None

    def pump(self, until: float | None) -> None:
        while not self.done:
            packet = self._next()
            if packet is None or packet.size == 0:
                self.done = True
                break
            if until is not None and packet.pts is not None and packet.time_base:
                if float(packet.pts * packet.time_base) > until:
                    self.pending = packet
                    return
            self._write(packet)
        if self.done and not self.copy and not self.flushed:
            self.flushed = True
            for frame in self.src.decode(None):  # samples the decoder still holds
                frame.pts = None
                for resampled in self.resampler.resample(frame):
                    for out in self.dst.encode(resampled):
                        self.output.mux(out)
            for resampled in self.resampler.resample(None):
                for out in self.dst.encode(resampled):
                    self.output.mux(out)
            for out in self.dst.encode(None):
                self.output.mux(out)

    def _write(self, packet: av.Packet) -> None:
        if self.copy:
            packet.stream = self.dst
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for resampled in self.resampler.resample(frame):
                for out in self.dst.encode(resampled):
                    self.output.mux(out)

    def close(self) -> None:
        self.input.close()


# --- repeatable encoding -----------------------------------------------------------------------
#
# x264 (as built into PyAV) reads heap bytes it never initialised on some code paths, and those
# bytes steer its decisions: identical frames then encode to different files now and then
# (measured: 6 in 800 encodes of one 64x48 clip; never once the heap is filled as below). A
# resumed job must give the same bytes as an uninterrupted one, so while a writer is open we ask
# glibc to fill every fresh allocation with a fixed byte (mallopt M_PERTURB), which makes such
# reads repeatable. It costs a memset per small allocation; elsewhere than glibc it is a no-op.

_M_PERTURB = -6
_PERTURB_BYTE = 0x5A
_heap_lock = threading.Lock()
_heap_users = 0


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


_LIBC = _glibc() if sys.platform.startswith("linux") else None


def _repeatable_heap(on: bool) -> None:
    """Reference-counted switch of glibc's allocation perturbation (see above)."""
    global _heap_users
    if _LIBC is None:
        return
    with _heap_lock:
        _heap_users += 1 if on else -1
        if (on and _heap_users == 1) or (not on and _heap_users == 0):
            _LIBC.mallopt(_M_PERTURB, _PERTURB_BYTE if on else 0)


class _Writer:
    """Closes (renames into place) on success, aborts (removes the temporary) on an error."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class VideoWriter(_Writer):
    """Encode RGB frames into a video file, atomically, optionally with the audio of another
    file.

    The file is written under a temporary name beside `path` (or in `tmp_dir`) and renamed
    onto `path` by `close()`; `abort()` (also called when the `with` block raises, Ctrl-C
    included) deletes it. So `path` either holds a complete video or is untouched.

    Audio is added in a second, copy-only pass at `close()`: the frames are encoded into a
    video-only file, then its packets and the source's audio packets are interleaved into
    the final file. Encoding with no other stream in the container keeps the encoder's output
    a function of the frames alone (a resumed job must give the same bytes), and the remux
    costs one read of the compressed video.

    Timing: pass each frame's `pts` in `time_base` units to keep the input's exact timing
    (variable frame rate included); without pts, frames are spaced `1/rate` apart.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        *,
        rate: Fraction | float = 25,
        time_base: Fraction | None = None,
        codec: str = DEFAULT_CODEC,
        crf: int | None = DEFAULT_CRF,
        audio_from: str | Path | None = None,
        max_bytes: int | None = None,
        options: dict[str, str] | None = None,
        tmp_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self.rate = Fraction(rate).limit_denominator(100000)
        self.time_base = time_base or 1 / self.rate
        self.max_bytes = max_bytes
        self.notes: list[str] = []
        self.frames_written = 0
        self.tmp = temp_path_for(self.path, tmp_dir)
        self.audio_source = None
        if audio_from is not None and probe(audio_from).has_audio:
            self.audio_source = Path(audio_from)
        # Frames go into `video_tmp`; with audio to add it is a second temporary file.
        self.video_tmp = self.tmp
        if self.audio_source is not None:
            self.video_tmp = self.tmp.with_name(f"{self.tmp.stem}.video{self.tmp.suffix}")
        try:
            encoder = av.codec.Codec(codec, "w")
        except (av.FFmpegError, ValueError) as err:
            raise PatchVSRError(f"unknown video codec {codec!r} ({_one_line(err)})") from None
        if encoder.type != "video":
            raise PatchVSRError(f"{codec!r} is not a video codec")
        _repeatable_heap(True)
        self._heap_held = True
        try:
            self.container = av.open(str(self.video_tmp), mode="w")
        except (av.FFmpegError, OSError, ValueError) as err:
            self._release_heap()
            raise PatchVSRError(f"cannot write {self.path}: {_one_line(err)}") from None
        try:
            self._setup(encoder, crf, options or {})
        except BaseException:
            self.abort()
            raise
        self._last_pts: int | None = None

    def _setup(self, encoder: av.codec.Codec, crf: int | None, options: dict[str, str]) -> None:
        if encoder.name not in self.container.supported_codecs:
            raise PatchVSRError(
                f"the {self.path.suffix or 'output'} container cannot hold {encoder.name} video"
            )
        self.pix_fmt, note = _pick_pix_fmt(encoder, self.width, self.height)
        if note:
            self.notes.append(note)
        opts = dict(options)
        if crf is not None and encoder.name in ("libx264", "libx264rgb", "libx265"):
            opts.setdefault("crf", str(crf))
            opts.setdefault("preset", "medium")
        stream = self.container.add_stream(encoder.name, rate=self.rate, options=opts)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.codec_context.framerate = self.rate
        if self.pix_fmt.startswith("yuv"):
            # Tag BT.709 and convert with it, so players do not guess (and shift colours).
            stream.codec_context.colorspace = 1
            stream.codec_context.color_primaries = 1
            stream.codec_context.color_trc = 1
            stream.codec_context.color_range = 1
        self.stream = stream

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one `(H, W, 3) uint8` RGB frame shown at `pts` (in `time_base`)."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(
                f"expected a ({self.height}, {self.width}, 3) uint8 frame, got "
                f"{rgb.shape} {rgb.dtype}"
            )
        if pts is None:
            pts = round(self.frames_written / self.rate / self.time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            # Encoders need strictly increasing timestamps. Frames that share one (a broken
            # muxer, a frame rate of 0) are spaced one nominal frame apart, not one tick.
            pts = self._last_pts + max(1, round(1 / (self.rate * self.time_base)))
        self._last_pts = pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if self.pix_fmt.startswith("yuv"):
            frame = frame.reformat(format=self.pix_fmt, dst_colorspace="itu709", dst_color_range=1)
        else:
            frame = frame.reformat(format=self.pix_fmt)
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames_written += 1
        self._check_size(self.video_tmp)

    def _check_size(self, path: Path) -> None:
        if self.max_bytes is not None and path.exists():
            if path.stat().st_size > self.max_bytes:
                raise PatchVSRError(
                    f"output would exceed the size limit of {self.max_bytes / 1e6:.1f} MB"
                )

    def close(self) -> Path:
        """Flush, add the audio, finish the file and move it onto the target path."""
        try:
            if self.frames_written == 0:
                raise PatchVSRError(f"no frames to write to {self.path}")
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self.container.close()
            if self.audio_source is not None:
                self._add_audio()
                self.video_tmp.unlink()
            self._check_size(self.tmp)
        except BaseException:
            self.abort()
            raise
        self._release_heap()
        os.replace(self.tmp, self.path)
        return self.path

    def _release_heap(self) -> None:
        if getattr(self, "_heap_held", False):
            self._heap_held = False
            _repeatable_heap(False)

    def _add_audio(self) -> None:
        """Remux the encoded video with the source's audio into `tmp`, interleaved by time."""
        with _open(self.video_tmp) as video, av.open(str(self.tmp), mode="w") as output:
            src = video.streams.video[0]
            dst = output.add_stream_from_template(src)
            audio = _AudioCopier(self.audio_source, output)
            if audio.note:
                self.notes.append(audio.note)
            try:
                for packet in video.demux(src):
                    if packet.dts is None:
                        continue  # the demuxer's end-of-stream marker
                    audio.pump(float(packet.dts * packet.time_base))
                    packet.stream = dst
                    output.mux(packet)
                audio.pump(None)
            finally:
                audio.close()

    def abort(self) -> None:
        """Drop everything written so far; the target path is left untouched."""
        try:
            if getattr(self, "container", None) is not None:
                self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the temporary files go anyway
            pass
        self._release_heap()
        self.video_tmp.unlink(missing_ok=True)
        self.tmp.unlink(missing_ok=True)


class FrameFolderWriter(_Writer):
    """Write frames as numbered PNGs (`000000.png`, ...) into a folder, atomically: a hidden
    temporary folder beside the target, renamed at the end. Refuses to replace a folder that
    already holds files (it would have to delete the user's files)."""

    def __init__(
        self, folder: str | Path, *, compress_level: int = 3, tmp_dir: str | Path | None = None
    ) -> None:
        self.path = Path(folder)
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise PatchVSRError(f"output folder {self.path} exists and is not empty")
        self.tmp = temp_path_for(self.path, tmp_dir)
        self.compress_level = compress_level
        self.frames_written = 0
        self.notes: list[str] = []
        try:
            self.tmp.mkdir()
        except OSError as err:
            raise PatchVSRError(f"cannot write {self.path}: {err.strerror}") from None

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        name = self.tmp / f"{self.frames_written:06d}.png"
        Image.fromarray(rgb).save(name, compress_level=self.compress_level)
        self.frames_written += 1

    def close(self) -> Path:
        if self.frames_written == 0:
            self.abort()
            raise PatchVSRError(f"no frames to write to {self.path}")
        if self.path.exists():
            self.path.rmdir()  # empty, checked above
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)


class ImageWriter(_Writer):
    """Write a single frame as an image file (PNG/JPEG by extension), atomically."""

    def __init__(self, path: str | Path, *, tmp_dir: str | Path | None = None) -> None:
        self.path = Path(path)
        self.tmp = temp_path_for(self.path, tmp_dir)
        self.frames_written = 0
        self.notes: list[str] = []

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        if self.frames_written:
            raise PatchVSRError(f"{self.path} is an image: it takes one frame")
        Image.fromarray(rgb).save(self.tmp, quality=95)
        self.frames_written = 1

    def close(self) -> Path:
        if not self.frames_written:
            raise PatchVSRError(f"no frame to write to {self.path}")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self.tmp.unlink(missing_ok=True)


FrameSink = VideoWriter | FrameFolderWriter | ImageWriter


def output_kind(path: str | Path, as_frames: bool = False) -> str:
    """ "frames", "image" or "video", from the flag and the extension."""
    suffix = Path(path).suffix.lower()
    if as_frames:
        return "frames"
    if suffix in IMAGE_EXTS:
        return "image"
    if suffix in VIDEO_EXTS:
        return "video"
    raise PatchVSRError(
        f"cannot tell the output format of {path}: use a video extension "
        f"({', '.join(VIDEO_EXTS)}), an image extension, or --frames for a PNG folder"
    )


def open_writer(
    path: str | Path,
    width: int,
    height: int,
    info: VideoInfo,
    *,
    as_frames: bool = False,
    codec: str = DEFAULT_CODEC,
    crf: int | None = DEFAULT_CRF,
    audio: bool = True,
    max_bytes: int | None = None,
    tmp_dir: str | Path | None = None,
) -> FrameSink:
    """The right atomic writer for `path`, timed like the input `info` (frame rate,
    timestamps) and carrying its audio when `audio` is set."""
    kind = output_kind(path, as_frames)
    if kind == "frames":
        return FrameFolderWriter(path, tmp_dir=tmp_dir)
    if kind == "image":
        if info.num_frames != 1:
            raise PatchVSRError(
                f"{path} is an image but the input has {info.num_frames} frames: "
                "use a video extension or --frames"
            )
        return ImageWriter(path, tmp_dir=tmp_dir)
    return VideoWriter(
        path,
        width,
        height,
        rate=info.rate,
        time_base=info.time_base,
        codec=codec,
        crf=crf,
        audio_from=info.path if audio and info.has_audio else None,
        max_bytes=max_bytes,
        tmp_dir=tmp_dir,
    )


__all__ = [
    "DEFAULT_CODEC",
    "DEFAULT_CRF",
    "DEFAULT_SEQUENCE_FPS",
    "FrameFolderWriter",
    "FrameSink",
    "ImageWriter",
    "VideoWriter",
    "check_codec",
    "check_output_path",
    "temp_path_for",
    "IMAGE_EXTS",
    "MAX_INPUT_PIXELS",
    "VideoInfo",
    "VideoReader",
    "is_image_path",
    "open_writer",
    "output_kind",
    "iter_frames",
    "probe",
    "read_frame",
    "read_frames",
    "sequence_files",
]
