"""`prepare-data`: the user's folders of videos and images -> a folder of training media.

    DIR/clips/<name>-<source id>-<start>.mp4   clips of `frames` consecutive frames
    DIR/stills/<name>-<source id>.png          images
    DIR/manifest.json                          every item's source, and every source seen

Videos are cut into clips of the configured length (non-overlapping), scaled down (never up)
so the short side is at most `size`, and written near-losslessly (H.264 CRF 10, 4:4:4).
Dropped: a clip that holds a scene cut (the frames before and after a cut are no motion a
model should learn), a static clip (nothing moves: a still's job, done better by images),
and any source smaller than `min_size`. An unreadable file is skipped with one line and
counted. The manifest remembers every source by path, size and modification time, so
running again adds only what is new. `data.sources = ["DIR"]` trains on the result.

Train only on media you may use.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from patchvsr.errors import PatchVSRError
from patchvsr.train.media import IMAGE_EXTS, VIDEO_EXTS, is_benchmark

MANIFEST = "manifest.json"
# Mean absolute difference of consecutive frames (8-bit levels, on 64 px grey thumbnails):
# above CUT a scene changes; below STATIC on average, nothing moves.
CUT = 40.0
STATIC = 0.5
Say = Callable[[str], None]


@dataclass(frozen=True)
class PrepareSettings:
    frames: int = 33  # frames per clip (the config's data.frames)
    size: int = 1024  # scale down so the short side is at most this (never up)
    min_size: int = 512  # drop sources whose short side is smaller


def source_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every video and image under `paths` (files or folders), benchmarks left out."""
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if not path.exists():
            raise PatchVSRError(f"{path} does not exist")
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        exts = IMAGE_EXTS + VIDEO_EXTS
        files += [f for f in found if f.is_file() and f.suffix.lower() in exts]
    return [f for f in files if not is_benchmark(f)]


def _key(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime": stat.st_mtime_ns}


def _thumb(rgb: np.ndarray) -> np.ndarray:
    grey = Image.fromarray(rgb).convert("L").resize((64, 64), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.float32)


def _scaled(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if min(h, w) <= size:
        return rgb
    k = size / min(h, w)
    # Even sides: 4:2:0 players need them, and the loader's scales divide them more often.
    new = (max(2, round(w * k) // 2 * 2), max(2, round(h * k) // 2 * 2))
    return np.asarray(Image.fromarray(rgb).resize(new, Image.Resampling.LANCZOS))


def clips_of(
    frames: Iterator[np.ndarray], length: int, counts: Counter
) -> Iterator[tuple[int, list]]:
    """(start, frames) of non-overlapping clips of `length` frames, without scene cuts or
    static clips (counted in `counts`)."""
    clip: list[np.ndarray] = []
    motion: list[float] = []
    start, last = 0, None
    for index, rgb in enumerate(frames):
        thumb = _thumb(rgb)
        if last is not None:
            change = float(np.abs(thumb - last).mean())
            if change > CUT:  # a cut: what came before it cannot be finished into a clip
                if clip:
                    counts["clips with a scene cut"] += 1
                clip, motion, start = [], [], index
            elif clip:
                motion.append(change)
        last = thumb
        if not clip:
            start = index
        clip.append(rgb)
        if len(clip) == length:
            if length > 1 and float(np.mean(motion)) < STATIC:
                counts["static clips"] += 1
            else:
                yield start, clip
            clip, motion = [], []


def _source_id(path: Path) -> str:
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


def _write_clip(path: Path, frames: list[np.ndarray], fps) -> None:
    from patchvsr.io.writer import VideoWriter

    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, w, h, rate=fps, crf=10) as writer:
        for rgb in frames:
            writer.write(rgb)


def _prepare_video(
    path: Path, out: Path, s: PrepareSettings, counts: Counter, items: list[dict]
) -> None:
    from patchvsr.io.probe import probe
    from patchvsr.io.reader import VideoReader

    info = probe(path)
    if min(info.width, info.height) < s.min_size:
        counts["too small"] += 1
        return
    if info.num_frames < s.frames:
        counts["too short"] += 1
        return
    with VideoReader(path, info=info) as reader:
        frames = (_scaled(rgb, s.size) for _, _, rgb in reader)
        for start, clip in clips_of(frames, s.frames, counts):
            name = f"clips/{path.stem}-{_source_id(path)}-{start:06d}.mp4"
            _write_clip(out / name, clip, info.fps)
            items.append({"file": name, "source": str(path.resolve()), "start": start})
            counts["clips"] += 1


def _prepare_image(
    path: Path, out: Path, s: PrepareSettings, counts: Counter, items: list[dict]
) -> None:
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    if min(rgb.shape[:2]) < s.min_size:
        counts["too small"] += 1
        return
    name = f"stills/{path.stem}-{_source_id(path)}.png"
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    tmp = out / (name + ".tmp.png")
    Image.fromarray(_scaled(rgb, s.size)).save(tmp)
    tmp.replace(out / name)
    counts["stills"] += 1
    items.append({"file": name, "source": str(path.resolve())})


def prepare_data(
    paths: Iterable[str | Path],
    out: str | Path,
    settings: PrepareSettings,
    say: Say = print,
    progress: bool = True,
) -> Counter:
    """Add the media under `paths` to the training folder `out`; return what was done."""
    from tqdm import tqdm

    out = Path(out)
    files = source_files(paths)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest = {"settings": vars(settings), "sources": {}, "items": []}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest["settings"] != vars(settings):
            raise PatchVSRError(
                f"{out} was prepared with other settings ({manifest['settings']}); "
                "use another folder"
            )
    counts: Counter = Counter()
    for path in tqdm(files, desc="preparing", unit="file", disable=not progress):
        source = str(path.resolve())
        if manifest["sources"].get(source, {}).get("key") == _key(path):
            counts["already there"] += 1
            continue
        # A source that changed since the last run: its old items go.
        stale = [i for i in manifest["items"] if i["source"] == source]
        for item in stale:
            (out / item["file"]).unlink(missing_ok=True)
        manifest["items"] = [i for i in manifest["items"] if i["source"] != source]
        items: list[dict] = []
        prepare = _prepare_video if path.suffix.lower() in VIDEO_EXTS else _prepare_image
        try:
            prepare(path, out, settings, counts, items)
        except (PatchVSRError, OSError, ValueError) as err:
            say(f"skipped {path}: {(str(err).splitlines() or [type(err).__name__])[0]}")
            counts["unreadable"] += 1
            for item in items:  # the clips written before it failed
                (out / item["file"]).unlink(missing_ok=True)
            continue
        manifest["items"] += items
        manifest["sources"][source] = {"key": _key(path), "items": len(items)}
        tmp = manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        tmp.replace(manifest_path)  # after each source: an interrupted run keeps its work
    return counts
