"""Output paths, checked before any work: what kind of output a path asks for, whether it
can be written without touching an input, whether its container takes the codec, and the
temporary name a writer fills before renaming it into place."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av

from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import IMAGE_EXTS, one_line

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".m4v", ".webm", ".avi")
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
           ".avi": "avi"}  # fmt: skip


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
            f"cannot write to output folder {folder}: {err.strerror or one_line(err)}"
        ) from None
    return output


def video_encoder(codec: str) -> av.codec.Codec:
    """FFmpeg's encoder named `codec`, refused unless it exists and encodes video."""
    try:
        encoder = av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise PatchVSRError(f"unknown video codec {codec!r}") from None
    if encoder.type != "video":
        raise PatchVSRError(f"{codec!r} is not a video codec")
    return encoder


# The smallest frame (width, height) that encoders known to crash on small frames take.
# Measured with PyAV 18.1's own libraries under glibc's heap checking (MALLOC_CHECK_=3), three
# frames per size: x265 writes past its buffers on frames 48 pixels wide or narrower (glibc
# then aborts the whole process: "corrupted size vs. prev_size", "free(): invalid pointer"),
# and refuses heights under 16 itself; SVT-AV1 dies of a segmentation fault under 25 pixels
# wide (the minimum here keeps a margin) and refuses heights under 4.
MIN_FRAME_SIZE = {"libx265": (50, 16), "libsvtav1": (32, 4)}


def check_frame_size(codec: str, width: int, height: int) -> None:
    """Refuse a frame size that the encoder `codec` cannot take without crashing the process
    (see `MIN_FRAME_SIZE`)."""
    name = video_encoder(codec).name
    min_w, min_h = MIN_FRAME_SIZE.get(name, (1, 1))
    if width < min_w or height < min_h:
        raise PatchVSRError(
            f"{name} cannot encode {width}x{height} frames (it needs at least {min_w}x{min_h}): "
            "choose a larger output or another codec (the default libx264 takes any size)"
        )


def check_codec(codec: str, output: str | Path, size: tuple[int, int] | None = None) -> None:
    """Refuse, before any work, a video codec that does not exist, that the output's
    container cannot hold (e.g. H.264 in WebM) or, given the frame `size` (width, height),
    that cannot encode frames that small."""
    encoder = video_encoder(codec)
    if size is not None:
        check_frame_size(encoder.name, *size)
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
