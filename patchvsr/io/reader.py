"""Reading frames one at a time from any input `probe` describes.

`VideoReader` yields `(index, pts, rgb)` and never holds more than the frame it is on, so
memory does not grow with the video's length.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from PIL import Image

from patchvsr.io.container_guard import guarded_frames
from patchvsr.io.probe import (
    MAX_INPUT_PIXELS,
    VideoInfo,
    cannot_read,
    image_header,
    one_line,
    open_input,
    probe,
    sequence_files,
)


def _upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    # `rotation` is counter-clockwise; the picture must be turned by that much to be upright.
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=k)) if k else rgb


def _image_rgb(path: Path, max_pixels: int) -> np.ndarray:
    image_header(path, max_pixels)
    try:
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                # 16-bit greyscale PNG: keep the top 8 bits rather than clipping.
                arr = np.asarray(im, dtype=np.uint32) >> 8
                im = Image.fromarray(arr.astype(np.uint8), mode="L")
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise cannot_read(path, f"not a readable image ({one_line(err)})") from None


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
                raise cannot_read(
                    files[index],
                    f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the first frame is "
                    f"{self.info.width}x{self.info.height}",
                )
            yield index, index, rgb

    def _video_frames(self, start: int, stop: int, decode: bool):
        self.close()
        self._container = open_input(self.path, self.max_pixels)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        rotation = self.info.rotation
        coded = (self.info.width, self.info.height)  # before rotation
        if rotation in (90, 270):
            coded = coded[::-1]
        index = 0
        last_pts = -1
        try:
            for frame in guarded_frames(self._container, stream, self.path, self.max_pixels):
                if index >= stop:
                    break
                # Frames without a timestamp (rare, broken muxers) get the next tick.
                pts = frame.pts if frame.pts is not None else last_pts + 1
                last_pts = pts
                if (frame.width, frame.height) != coded:
                    raise cannot_read(
                        self.path,
                        f"frame {index} is {frame.width}x{frame.height}, the stream starts "
                        f"at {coded[0]}x{coded[1]} (a size change or damaged data)",
                    )
                if index >= start:
                    rgb = None
                    if decode:
                        rgb = _upright(frame.to_ndarray(format="rgb24"), rotation)
                    yield index, pts, rgb
                index += 1
        except av.FFmpegError as err:
            raise cannot_read(
                self.path, f"decoding failed at frame {index} ({one_line(err)})"
            ) from None
        finally:
            self.close()
        if index < stop:
            raise cannot_read(
                self.path,
                f"the file is truncated or damaged: decoded {index} of {self.info.num_frames} frames",
            )


def read_frames(path: str | Path, start: int = 0, count: int | None = None, **kwargs) -> np.ndarray:
    """Frames `start .. start+count-1` of a video, frame folder or image as one
    `(F, H, W, 3) uint8` RGB array. Holds them all: for long videos use `VideoReader`."""
    with VideoReader(path, **kwargs) as reader:
        frames = [rgb for _, _, rgb in reader.frames(start, count)]
    if not frames:
        raise cannot_read(
            path, f"no frames in range start={start} (the input has {reader.info.num_frames})"
        )
    return np.stack(frames)


def read_frame(path: str | Path, index: int = 0, **kwargs) -> np.ndarray:
    """One `(H, W, 3) uint8` RGB frame."""
    return read_frames(path, index, 1, **kwargs)[0]
