"""Training media: loading videos, images and folders, and media packs.

Sources
- a video file (read whole with `patchvsr.io.reader`, PyAV);
- an image file, or a folder (every image and video inside, recursively);
- a media pack (`.npz`, see `write_pack`): the same media in one file, readable with numpy and
  Pillow alone, for machines without PyAV.

Benchmark images (Set5/Set14 names) are never loaded for training, whatever folder they are in.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from patchvsr.errors import PatchVSRError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
# Benchmark images that must never be trained on, whatever folder they turn up in (OpenCV's
# samples ship baboon and butterfly, which are also in Set14/Set5).
BENCHMARK_STEMS = frozenset(
    "baboon mandrill barbara bridge coastguard comic face flowers foreman lena lenna man "
    "monarch pepper peppers ppt3 zebra baby bird butterfly head woman".split()
)


@dataclass
class Source:
    """One training medium: `frames` (F, H, W, 3) uint8; F = 1 for a still image."""

    name: str
    frames: np.ndarray
    encoded: bytes | None = None  # a still's original file, stored verbatim in media packs

    @property
    def is_still(self) -> bool:
        return self.frames.shape[0] == 1

    @property
    def size(self) -> tuple[int, int]:
        return self.frames.shape[1], self.frames.shape[2]


# -- loading ------------------------------------------------------------------------------


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def read_image(path: str | Path) -> np.ndarray:
    with Image.open(path) as im:
        return _rgb(im)


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    from patchvsr.io.reader import read_frames  # PyAV: only needed for video files

    return read_frames(path, 0, max_frames)


def is_benchmark(path: str | Path) -> bool:
    return Path(path).stem.lower() in BENCHMARK_STEMS


def _files_in(folder: Path) -> list[Path]:
    exts = IMAGE_EXTS + VIDEO_EXTS
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def load_sources(paths: Iterable[str | Path], max_frames: int | None = 600) -> list[Source]:
    """Every medium under `paths` (files, folders, media packs), benchmarks left out."""
    sources: list[Source] = []
    for entry in paths:
        path = Path(entry)
        if not path.exists():
            raise PatchVSRError(f"training data {path} does not exist")
        if path.suffix == ".npz":
            sources += read_pack(path)
            continue
        for file in _files_in(path) if path.is_dir() else [path]:
            if is_benchmark(file):
                continue
            if file.suffix.lower() in IMAGE_EXTS:
                sources.append(Source(file.stem, read_image(file)[None], file.read_bytes()))
            elif file.suffix.lower() in VIDEO_EXTS:
                sources.append(Source(file.stem, read_video(file, max_frames)))
            else:
                raise PatchVSRError(f"{file} is neither an image nor a video")
    if not sources:
        raise PatchVSRError(f"no training media found in {', '.join(map(str, paths))}")
    return sources


# -- media packs --------------------------------------------------------------------------
# An .npz of 1-D uint8 arrays holding encoded images: "still/<name>" (the original file, else
# PNG) and "clip/<name>/<index>" (JPEG, quality 95, 4:4:4: the clips are lossy already). Encoded
# frames make the pack a tenth of raw frames' size; numpy and Pillow read it anywhere.


def _encode(frame: np.ndarray, fmt: str) -> np.ndarray:
    buf = io.BytesIO()
    # No chroma subsampling: colour detail is part of the ground truth.
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {"optimize": True}
    Image.fromarray(frame).save(buf, format=fmt, **options)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def write_pack(path: str | Path, sources: Sequence[Source]) -> Path:
    """Write sources into one compact media pack."""
    arrays: dict[str, np.ndarray] = {}
    for s in sources:
        if "/" in s.name:
            raise ValueError(f"source names cannot hold '/': {s.name!r}")
        if s.is_still and s.encoded is not None:
            arrays[f"still/{s.name}"] = np.frombuffer(s.encoded, dtype=np.uint8)
        elif s.is_still:
            arrays[f"still/{s.name}"] = _encode(s.frames[0], "PNG")
        else:
            for i, frame in enumerate(s.frames):
                arrays[f"clip/{s.name}/{i:05d}"] = _encode(frame, "JPEG")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def read_pack(path: str | Path) -> list[Source]:
    """The sources of a media pack, in the order they were written."""
    clips: dict[str, list[tuple[int, np.ndarray]]] = {}
    sources: list[Source] = []
    with np.load(path, allow_pickle=False) as pack:
        for key in pack.files:
            kind, name, *index = key.split("/")
            frame = _rgb(Image.open(io.BytesIO(pack[key].tobytes())))
            if kind == "still":
                sources.append(Source(name, frame[None]))
            elif kind == "clip":
                clips.setdefault(name, []).append((int(index[0]), frame))
            else:
                raise PatchVSRError(f"{path} is not a PatchVSR media pack (key {key!r})")
    for name, frames in clips.items():
        sources.append(Source(name, np.stack([f for _, f in sorted(frames, key=lambda x: x[0])])))
    return sources
