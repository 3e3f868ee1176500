"""Training clips and batches, drawn from the media of `patchvsr.train.media`.

Images are stills; they become short clips with a random camera pan and zoom. Videos give runs
of consecutive frames (stride 1 or 2) seen through a random zoomed window.

A batch is a pure function of (seed, step): `make_batch(sources, settings, seed, step)` draws
everything from `numpy.random.default_rng([seed, step])`. Resuming at step n therefore sees the
very batches an uninterrupted run would have seen, and DataLoader workers need no shared state.

What the batch holds is what inference starts from: the LR clip of a whole "scene" (the frame
the patch lies in), the HR scene it came from, the patch box on the token lattice and the scale.
The model inputs (condition latent, global view with ROI, location encoding) are built from it
by the pipeline's own methods (`patchvsr.train.step`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from patchvsr.frames import to_levels, to_signed
from patchvsr.method.clean_input import clean_clip
from patchvsr.train.degrade import from_uint8, pick
from patchvsr.train.graded import degrade_with_level
from patchvsr.train.media import Source

# -- clips --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSettings:
    """How training clips and batches are drawn (the `[data]` section of a config)."""

    frames: int = 8
    scenes: tuple[tuple[int, int], ...] = ((256, 256),)  # HR scene (height, width) choices
    patch: int = 128  # output patch size, pixels
    align: int = 16  # boxes lie on this lattice (the model's pixels per token)
    scales: tuple[int, ...] = (4,)
    degradations: dict[str, float] = field(default_factory=lambda: {"bilinear": 1.0})
    video_fraction: float = 0.5  # chance that a clip comes from a video (when there are both)
    zoom: tuple[float, float] = (1.0, 2.0)  # source pixels per scene pixel
    # Clips taken at zoom 1 on whole pixels: plain crops, the sharpest ground truth (and the
    # cheapest to make: resampling dominates the cost of a batch).
    native_fraction: float = 0.5
    max_pan: float = 3.0  # scene pixels per frame, for stills
    batch_size: int = 8
    # Patches cut from each scene: making the scene (resampling, degrading) costs far more
    # than cutting a patch, so several patches per scene keep a GPU fed.
    patches_per_scene: int = 1
    # The denoise control's input filter (`patchvsr.method.clean_input`) run on every input
    # at this level (0: off), as inference runs it: a head trained for cleaned clips.
    clean_input: float = 0.0


def _window_box(cy, cx, z, scene_hw) -> tuple[float, float, float, float]:
    h, w = scene_hw
    return (cx - w * z / 2, cy - h * z / 2, cx + w * z / 2, cy + h * z / 2)  # PIL: l, t, r, b


def _render(frame: np.ndarray, box, scene_hw) -> np.ndarray:
    """The source region `box` (left, top, right, bottom; fractional) resized to the scene."""
    h, w = scene_hw
    src_h, src_w = frame.shape[:2]
    left, top, right, bottom = box
    if _is_native(box, scene_hw) and 0 <= left and right <= src_w and 0 <= top and bottom <= src_h:
        return frame[int(top) : int(bottom), int(left) : int(right)]  # a plain crop
    # Rounding can push a window that exactly fits a hair outside the image: shift it back.
    bw, bh = min(right - left, src_w), min(bottom - top, src_h)
    left = min(max(left, 0.0), src_w - bw)
    top = min(max(top, 0.0), src_h - bh)
    image = Image.fromarray(frame)
    return np.asarray(
        image.resize((w, h), Image.Resampling.BICUBIC, box=(left, top, left + bw, top + bh))
    )


def _is_native(box, scene_hw) -> bool:
    left, top, right, bottom = box
    whole = all(float(v).is_integer() for v in box)
    return whole and right - left == scene_hw[1] and bottom - top == scene_hw[0]


def _native_box(cy: float, cx: float, scene_hw) -> tuple[float, float, float, float]:
    """The window at zoom 1 centred near (cy, cx), on whole pixels: a crop, no resampling."""
    top, left = round(cy - scene_hw[0] / 2), round(cx - scene_hw[1] / 2)
    return (float(left), float(top), float(left + scene_hw[1]), float(top + scene_hw[0]))


def _zoom_range(src_hw, scene_hw, zoom) -> tuple[float, float]:
    """Zooms (source px per scene px) whose window fits in the source. Sources smaller than
    the scene are upscaled (the only case below 1)."""
    fit = min(src_hw[0] / scene_hw[0], src_hw[1] / scene_hw[1])
    hi = min(zoom[1], fit)
    return min(zoom[0], hi), hi


def still_clip(
    image: np.ndarray, frames: int, scene_hw, rng: np.random.Generator, s: DataSettings
) -> np.ndarray:
    """A clip (frames, H, W, 3) from one image: a window that pans and zooms linearly."""
    src_h, src_w = image.shape[:2]
    lo, hi = _zoom_range((src_h, src_w), scene_hw, s.zoom)
    native = lo <= 1.0 <= hi and rng.random() < s.native_fraction
    z0 = 1.0 if native else rng.uniform(lo, hi)
    z1 = 1.0 if native else float(np.clip(z0 * np.exp(rng.uniform(-0.15, 0.15)), lo, hi))
    speed = rng.uniform(0, s.max_pan) * max(z0, z1)  # source pixels per frame
    angle = rng.uniform(0, 2 * np.pi)
    travel = speed * (frames - 1)
    dy, dx = travel * np.sin(angle), travel * np.cos(angle)

    def centre_range(z, extent, size):
        half = size * z / 2
        return half, extent - half

    # Start and end centres that keep both windows inside the image.
    (ylo0, yhi0), (xlo0, xhi0) = (
        centre_range(z0, src_h, scene_hw[0]),
        centre_range(z0, src_w, scene_hw[1]),
    )
    (ylo1, yhi1), (xlo1, xhi1) = (
        centre_range(z1, src_h, scene_hw[0]),
        centre_range(z1, src_w, scene_hw[1]),
    )
    ylo, yhi = max(ylo0, ylo1 - dy), min(yhi0, yhi1 - dy)
    xlo, xhi = max(xlo0, xlo1 - dx), min(xhi0, xhi1 - dx)
    if ylo > yhi or xlo > xhi:  # the pan does not fit: stand still
        dy = dx = 0.0
        ylo, yhi, xlo, xhi = ylo0, max(ylo0, yhi0), xlo0, max(xlo0, xhi0)
    cy, cx = rng.uniform(ylo, yhi), rng.uniform(xlo, xhi)
    out = []
    for i in range(frames):
        a = i / max(1, frames - 1)
        z = z0 + (z1 - z0) * a
        y, x = cy + dy * a, cx + dx * a
        box = _native_box(y, x, scene_hw) if native else _window_box(y, x, z, scene_hw)
        out.append(_render(image, box, scene_hw))
    return np.stack(out)


def video_clip(
    video: np.ndarray, frames: int, scene_hw, rng: np.random.Generator, s: DataSettings
) -> np.ndarray:
    """A clip of consecutive frames (stride 1 or 2) through one fixed zoomed window."""
    n, src_h, src_w = video.shape[:3]
    stride = 2 if n >= 2 * frames and rng.random() < 0.5 else 1
    span = (frames - 1) * stride + 1
    start = int(rng.integers(0, max(1, n - span + 1)))
    # Short videos play forward then backward (a ping-pong loop) to fill the clip.
    cycle = np.concatenate([np.arange(n), np.arange(n - 2, 0, -1)]) if n > 1 else np.zeros(1, int)
    index = cycle[(start + stride * np.arange(frames)) % len(cycle)]
    lo, hi = _zoom_range((src_h, src_w), scene_hw, s.zoom)
    native = lo <= 1.0 <= hi and rng.random() < s.native_fraction
    z = 1.0 if native else rng.uniform(lo, hi)
    wh, ww = scene_hw[0] * z, scene_hw[1] * z
    cy = rng.uniform(wh / 2, max(wh / 2, src_h - wh / 2))
    cx = rng.uniform(ww / 2, max(ww / 2, src_w - ww / 2))
    box = _native_box(cy, cx, scene_hw) if native else _window_box(cy, cx, z, scene_hw)
    return np.stack([_render(video[i], box, scene_hw) for i in index])


def random_clip(
    sources: Sequence[Source], scene_hw, rng: np.random.Generator, s: DataSettings
) -> np.ndarray:
    """One HR clip (frames, H, W, 3) uint8 from a random source, randomly flipped/reversed."""
    videos = [x for x in sources if not x.is_still]
    stills = [x for x in sources if x.is_still]
    if videos and (not stills or rng.random() < s.video_fraction):
        src = videos[int(rng.integers(len(videos)))]
        clip = video_clip(src.frames, s.frames, scene_hw, rng, s)
    else:
        src = stills[int(rng.integers(len(stills)))]
        clip = still_clip(src.frames[0], s.frames, scene_hw, rng, s)
    if rng.random() < 0.5:
        clip = clip[:, :, ::-1]
    if rng.random() < 0.5:
        clip = clip[::-1]
    # A copy, not np.ascontiguousarray: with one frame, numpy calls a flipped view contiguous
    # (length-1 axes are ignored) and keeps its negative stride, which torch refuses.
    return clip.copy()


# -- batches ------------------------------------------------------------------------------


@dataclass
class Batch:
    """What one training step starts from: S scenes and B patches cut from them.

    `hr`: (S, 3, F, H, W) uint8, the HR scenes; `lr`: (S, 3, F, H / k, W / k) uint8, their
    degraded inputs (8-bit, as real inputs are); `scene`: (B,) int64, each patch's scene;
    `boxes`: (B, 4) int64 patch boxes (y0, x0, y1, x1) in HR pixels on the token lattice;
    `scale`: k; `kinds`: each scene's degradation; `seeds`: (B,) int64, each patch's seed for
    its noise and noise level (so the loss of a patch does not depend on its batch); `levels`:
    (S,) float32, each scene's degradation level (`degrade_with_level`), what a detail head
    with levels is told. Kept in uint8 and once per scene, a batch
    is small enough for DataLoader workers to hand over quickly."""

    hr: torch.Tensor
    lr: torch.Tensor
    scene: torch.Tensor
    boxes: torch.Tensor
    scale: int
    kinds: list[str]
    seeds: torch.Tensor
    levels: torch.Tensor | None = None

    def to(self, device, non_blocking: bool = False) -> Batch:
        hr = self.hr.to(device, non_blocking=non_blocking)
        lr = self.lr.to(device, non_blocking=non_blocking)
        return dataclasses.replace(self, hr=hr, lr=lr)

    def pin_memory(self) -> Batch:
        return dataclasses.replace(self, hr=self.hr.pin_memory(), lr=self.lr.pin_memory())


def as_video(frames: torch.Tensor) -> torch.Tensor:
    """uint8 clips (..., 3, F, H, W) -> float in [-1, 1], on their device."""
    return to_signed(frames)


def _quantize(clip: torch.Tensor) -> torch.Tensor:
    return to_levels(clip)


def random_box(scene_hw, patch: int, align: int, rng: np.random.Generator) -> list[int]:
    """A patch box inside the scene, its corner on the token lattice."""
    h, w = scene_hw
    y0 = align * int(rng.integers(0, (h - patch) // align + 1))
    x0 = align * int(rng.integers(0, (w - patch) // align + 1))
    return [y0, x0, y0 + patch, x0 + patch]


def scenes_per_step(s: DataSettings) -> int:
    """Scenes of one step's (global) batch: `batch_size` patches, `patches_per_scene` each."""
    return -(-s.batch_size // s.patches_per_scene)


@dataclass
class Scene:
    """One scene of a batch: HR clip (3, F, H, W) uint8, its LR input, its patch boxes."""

    hr: torch.Tensor
    lr: torch.Tensor
    boxes: list[list[int]]
    seeds: list[int]
    scale: int
    kind: str
    level: float = 0.0


def make_scene(
    sources: Sequence[Source], s: DataSettings, seed: int, draw: int, index: int
) -> Scene:
    """Scene `index` of batch `draw`: a pure function of (seed, draw, index). The scene size
    and the scale are the batch's (drawn from (seed, draw) alone), so any subset of a batch's
    scenes can be made on its own: each process makes only its shard."""
    common = np.random.default_rng([seed, draw])
    scene_hw = tuple(s.scenes[int(common.integers(len(s.scenes)))])
    scale = int(s.scales[int(common.integers(len(s.scales)))])
    rng = np.random.default_rng([seed, draw, index])
    clip = random_clip(sources, scene_hw, rng, s)  # (F, H, W, 3) uint8
    kind = pick(s.degradations, rng)
    lr, level = degrade_with_level(from_uint8(clip), scale, kind, rng)
    if s.clean_input > 0.0:
        lr = clean_clip(lr[None], s.clean_input)[0]
    lr = _quantize(lr)
    patches = min(s.patches_per_scene, s.batch_size - index * s.patches_per_scene)
    boxes = [random_box(scene_hw, s.patch, s.align, rng) for _ in range(patches)]
    seeds = [int(v) for v in rng.integers(2**62, size=patches)]
    hr = torch.from_numpy(clip).permute(3, 0, 1, 2)
    return Scene(hr, lr, boxes, seeds, scale, kind, level)


def collate_scenes(scenes: Sequence[Scene]) -> Batch:
    """Scenes of one batch (or of one process's shard of it) -> a `Batch`."""
    scene = [i for i, sc in enumerate(scenes) for _ in sc.boxes]
    boxes = [b for sc in scenes for b in sc.boxes]
    return Batch(
        torch.stack([sc.hr for sc in scenes]),
        torch.stack([sc.lr for sc in scenes]),
        torch.tensor(scene),
        torch.tensor(boxes),
        scenes[0].scale,
        [sc.kind for sc in scenes],
        torch.tensor([seed for sc in scenes for seed in sc.seeds]),
        torch.tensor([sc.level for sc in scenes], dtype=torch.float32),
    )


def make_batch(sources: Sequence[Source], s: DataSettings, seed: int, step: int) -> Batch:
    """The whole batch of draw `step`: a pure function of (seed, step)."""
    return collate_scenes(
        [make_scene(sources, s, seed, step, i) for i in range(scenes_per_step(s))]
    )


class SceneDataset(torch.utils.data.Dataset):
    """Item k is scene k % S of batch k // S (S scenes per batch): a pure function of k, so
    DataLoader workers need no shared state and any process can make any scene."""

    def __init__(self, sources: Sequence[Source], settings: DataSettings, seed: int) -> None:
        self.sources, self.settings, self.seed = list(sources), settings, seed
        self.per_batch = scenes_per_step(settings)

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, k: int) -> Scene:
        draw, index = divmod(k, self.per_batch)
        return make_scene(self.sources, self.settings, self.seed, draw, index)


class BatchIndices(torch.utils.data.Sampler):
    """The scene indices of batches start, start + 1, ...: one list per batch. With
    accelerate's `split_batches`, process r of N takes the r-th N-th of each list, so the
    global batch is the same whatever the number of processes (and a run resumed on another
    number of processes sees the very batches it would have seen)."""

    def __init__(self, per_batch: int, start: int) -> None:
        self.batch_size, self.start = per_batch, start  # `batch_size`: accelerate reads it

    def __iter__(self):
        draw = self.start
        while True:
            yield list(range(draw * self.batch_size, (draw + 1) * self.batch_size))
            draw += 1


def batch_loader(
    sources: Sequence[Source],
    settings: DataSettings,
    seed: int,
    start: int,
    workers: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader of the batches of draws start, start + 1, ... (endless), prefetched by
    `workers` processes; hand it to `accelerator.prepare` to shard it across processes."""
    dataset = SceneDataset(sources, settings, seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=BatchIndices(dataset.per_batch, start),
        num_workers=workers,
        prefetch_factor=4 if workers > 0 else None,
        pin_memory=pin_memory,
        collate_fn=collate_scenes,
    )
