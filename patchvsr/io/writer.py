"""Writing frames atomically: a video file (optionally with another file's audio), a folder
of numbered PNGs, or one image.

Every writer fills a temporary beside the target and renames it onto the target at `close()`;
`abort()` (also on an error inside a `with` block) removes it. So the output path either holds
a complete file or is untouched.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from patchvsr.errors import PatchVSRError
from patchvsr.io.audio import mux_with_audio
from patchvsr.io.output import check_frame_size, output_kind, temp_path_for, video_encoder
from patchvsr.io.probe import VideoInfo, one_line, probe

DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 18  # visually lossless for H.264 at a sane size; lower is better and bigger
# Output pixel formats tried in order when the codec cannot take 4:2:0 at this size.
_FALLBACK_PIX_FMTS = ("yuv444p", "gbrp", "bgr0", "rgb24")
# Encoders that take YUV only in the full (JPEG) range: limited-range frames make them fail.
_FULL_RANGE_ONLY = ("mjpeg", "ljpeg")


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
        encoder = video_encoder(codec)
        _repeatable_heap(True)
        self._heap_held = True
        try:
            self.container = av.open(str(self.video_tmp), mode="w")
        except (av.FFmpegError, OSError, ValueError) as err:
            self._release_heap()
            raise PatchVSRError(f"cannot write {self.path}: {one_line(err)}") from None
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
        check_frame_size(encoder.name, self.width, self.height)
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
            self.color_range = 2 if encoder.name in _FULL_RANGE_ONLY else 1
            stream.codec_context.color_range = self.color_range
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
            frame = frame.reformat(
                format=self.pix_fmt, dst_colorspace="itu709", dst_color_range=self.color_range
            )
        else:
            frame = frame.reformat(format=self.pix_fmt)
        frame.pts = pts
        frame.time_base = self.time_base
        self._encode(frame)
        self.frames_written += 1
        self._check_size(self.video_tmp)

    def _encode(self, frame: av.VideoFrame | None) -> None:
        """Encode `frame` (None: flush) and mux its packets. The encoder opens on the first
        frame: a size or option it refuses is an error of the request, said on one line. A
        system error (a full disk) stays an OSError: the job keeps its work for a resume."""
        try:
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        except OSError:
            raise
        except (av.FFmpegError, ValueError) as err:
            raise PatchVSRError(
                f"cannot encode {self.width}x{self.height} video with "
                f"{self.stream.codec_context.name}: {one_line(err)}"
            ) from None

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
            self._encode(None)
            self.container.close()
            if self.audio_source is not None:
                note = mux_with_audio(self.video_tmp, self.audio_source, self.tmp)
                if note:
                    self.notes.append(note)
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
