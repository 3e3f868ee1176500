"""Upscaling jobs of the web demo: bounded, each in a folder of its own.

A request (`DemoRequest`) names a clip, the frames to take from it, the output size and the
model. `check_request` refuses what the server's `Limits` do not allow before any work, and
computes the output size once (`patchvsr.request`); `run_request` then
1. makes a job folder `job-<time>-<id>` under the output folder (and removes job folders
   older than the maximum age),
2. copies the chosen frames losslessly into it when the request takes only part of the clip,
3. upscales them with the job runner (`patchvsr.video.jobs`), writing the result and the
   side-by-side comparison with the bicubic upscale,
4. saves the chosen frame both ways (PNG) and a figure of zoomed crops.

The job's progress (`report`) comes from the job runner's, in frames of the clip; a cancelled
or failed job leaves no folder behind. Running it in the background is
`patchvsr.serve.background`.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from patchvsr import viz
from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import VideoInfo, is_image_path, probe
from patchvsr.io.reader import VideoReader, read_frame
from patchvsr.io.writer import FrameFolderWriter
from patchvsr.request import Request
from patchvsr.serve import training_free
from patchvsr.serve.background import Report
from patchvsr.serve.config import Limits
from patchvsr.video.jobs import JobStopped, UpscaleJob, run_job
from patchvsr.video.upscalers import (
    BASELINES,
    PatchVSRUpscaler,
    Upscaler,
    bicubic_resize,
    get_upscaler,
)

Box = tuple[float, float, float, float]  # normalised (y0, x0, y1, x1)
JOB_PREFIX = "job-"


@dataclass(frozen=True)
class DemoRequest:
    """One upscaling request. `size` is an explicit output (height, width) and wins over
    `scale`; `steps`/`strength` of None (or 0) mean the model's own defaults; `denoise` in
    [0, 1] is how much noise, grain and codec blocks the model removes (None: estimated from
    the clip); `crop` is the region (normalised box) to show zoomed, by default the most
    detailed one, and `crop_label` what it is ("patch #3 ...")."""

    input: Path
    model: str
    start: int = 0
    frames: int = 8
    scale: float | None = 4.0
    size: tuple[int, int] | None = None
    steps: int | None = None
    strength: float | None = None
    seed: int = 0
    colour: bool = True
    denoise: float | None = None
    crop: Box | None = None
    crop_label: str = ""


@dataclass(frozen=True)
class CheckedRequest:
    request: DemoRequest
    info: VideoInfo
    sizes: Request  # the output size, steps and strength, checked
    start: int
    count: int
    notes: tuple[str, ...] = ()

    @property
    def out_size(self) -> tuple[int, int]:
        """(height, width) of the output."""
        return self.sizes.out_hw


@dataclass
class DemoResult:
    """What a finished job made, all inside `folder`. `video` and `compare` are videos for
    a clip and PNG images for a single image."""

    folder: Path
    video: Path
    compare: Path
    before: Path  # the chosen frame, bicubic upscale (PNG)
    after: Path  # the chosen frame, upscaled by the model (PNG)
    crops: Path  # zoomed crops of both, side by side (PNG)
    zoom_before: Path  # the zoomed region of `before` at its own pixels (PNG)
    zoom_after: Path  # the same region of `after`
    zoom_label: str  # which region the zoom shows
    summary: str
    notes: list[str] = field(default_factory=list)

    @property
    def is_video(self) -> bool:
        return self.video.suffix == ".mp4"


def check_request(request: DemoRequest, limits: Limits, name: str | None = None) -> CheckedRequest:
    """Everything that can be refused before work: the clip reads and fits the limits, the
    output size is possible and allowed, the frame range is in the clip."""
    name = name or Path(request.input).name
    info = probe(request.input)
    limits.check_input(info, name)
    sizes = Request.make(
        (info.height, info.width),
        scale=request.scale,
        size=request.size,
        steps=request.steps,
        strength=request.strength,
        denoise=request.denoise,
    )
    limits.check_output(sizes.out_hw)
    limits.check_frames(request.frames)
    if not 0 <= request.start < info.num_frames:
        raise PatchVSRError(
            f"frame {request.start} is not in {name}: it has frames 0 to {info.num_frames - 1}"
        )
    count = min(request.frames, info.num_frames - request.start)
    notes = []
    if count < request.frames:
        notes.append(f"the clip ends after frame {info.num_frames - 1}: {count} frame(s) taken")
    if info.has_audio and count < info.num_frames:
        notes.append("part of the clip was taken: its sound is not kept")
    return CheckedRequest(request, info, sizes, request.start, count, tuple(notes))


# --- job folders -----------------------------------------------------------------------------


def new_job_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{JOB_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def remove_old_jobs(root: Path, max_age: float, now: float | None = None) -> list[Path]:
    """Delete job folders under `root` last modified more than `max_age` seconds ago."""
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    removed = []
    for folder in root.glob(f"{JOB_PREFIX}*"):
        try:
            old = folder.is_dir() and now - folder.stat().st_mtime > max_age
        except FileNotFoundError:  # removed by another job meanwhile
            continue
        if old:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


# --- models ----------------------------------------------------------------------------------


@lru_cache(maxsize=1)  # one model in memory at a time: a shared server has little to spare
def _pipeline(name: str):
    from patchvsr.runtime import load_pipeline

    return load_pipeline(name)


def make_upscaler(
    name: str,
    steps: int | None,
    strength: float | None,
    colour: bool,
    denoise: float | None = None,
) -> Upscaler:
    """A baseline, or a PatchVSR model (loaded once and kept) with these options; None for
    `steps` and `strength` means the model's own, None for `denoise` estimated from the clip."""
    if name in BASELINES:
        return get_upscaler(name)
    return PatchVSRUpscaler(_pipeline(name), name, steps, strength, colour=colour, denoise=denoise)


# --- the job ---------------------------------------------------------------------------------

ZOOM = 480  # longest side of the 1:1 zoom, in output pixels


def zoom_region(image: np.ndarray, box: Box, size: int = ZOOM) -> np.ndarray:
    """At most `size` x `size` output pixels around the centre of `box` (normalised y0, x0,
    y1, x1), kept inside the image, unscaled."""
    height, width = image.shape[:2]
    h, w = min(size, height), min(size, width)
    cy, cx = (box[0] + box[2]) / 2 * height, (box[1] + box[3]) / 2 * width
    y0 = int(min(max(0, round(cy - h / 2)), height - h))
    x0 = int(min(max(0, round(cx - w / 2)), width - w))
    return np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w])


def _take_frames(checked: CheckedRequest, folder: Path) -> tuple[Path, float | None]:
    """The job's input: the clip itself when it is taken whole, else the chosen frames as a
    lossless PNG folder (with the clip's frame rate)."""
    info = checked.info
    if checked.start == 0 and checked.count == info.num_frames:
        return Path(checked.request.input), None
    target = folder / "input"
    with (
        FrameFolderWriter(target) as sink,
        VideoReader(checked.request.input, info=info) as reader,
    ):
        for _, _, rgb in reader.frames(checked.start, checked.count):
            sink.write(rgb)
    return target, info.fps


def _summary(checked: CheckedRequest, name: str, seconds: float, frames: int) -> str:
    info, (height, width) = checked.info, checked.out_size
    last = checked.start + frames - 1
    span = f"frame {checked.start}" if frames == 1 else f"frames {checked.start}-{last}"
    return (
        f"{name}: {span} of {Path(checked.request.input).name}, {info.width}x{info.height} -> "
        f"{width}x{height}, {seconds:.1f} s ({seconds / max(frames, 1):.2f} s per frame)"
    )


def run_request(
    checked: CheckedRequest,
    root: Path,
    report: Report = lambda fraction, what: None,
    max_age: float = 3600.0,
) -> DemoResult:
    """Run a checked request in a new job folder under `root`; see the module docstring.
    The folder is removed if the job fails or is cancelled."""
    remove_old_jobs(root, max_age)
    try:
        folder = new_job_folder(root)
    except OSError as err:
        raise _cannot_write(err) from None
    try:
        return _run(checked, folder, report)
    except (JobStopped, OSError) as err:  # a full disk, a read-only folder
        shutil.rmtree(folder, ignore_errors=True)
        raise _cannot_write(err) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _cannot_write(err: OSError | JobStopped) -> PatchVSRError:
    # Nobody resumes a web job: say what went wrong, without the server's paths.
    reason = err.reason if isinstance(err, JobStopped) else err.strerror or type(err).__name__
    return PatchVSRError(f"the server could not write the result ({reason}); try again later")


def _run(checked: CheckedRequest, folder: Path, report: Report) -> DemoResult:
    request, (height, width) = checked.request, checked.out_size
    started = time.perf_counter()
    report(0.0, "reading the clip")
    source, fps = _take_frames(checked, folder)
    suffix = ".png" if is_image_path(request.input) else ".mp4"
    stem = f"{Path(request.input).stem}_{width}x{height}_{request.model}".replace("/", "_")
    output, compare = folder / f"{stem}{suffix}", folder / f"{stem}_vs_bicubic{suffix}"

    report(0.0, f"loading {request.model}")
    sizes = checked.sizes
    upscaler = make_upscaler(
        request.model, sizes.steps, sizes.strength, request.colour, sizes.denoise
    )
    job = UpscaleJob(
        input=source,
        output=output,
        out_size=sizes.out_hw,
        seed=request.seed,
        compare=compare,
        compare_mode="auto",
        max_output_pixels=2 * width * height,  # the side-by-side comparison is twice as wide
        fps=fps,
        quiet=True,
    )

    def progress(frames: float, total: int, what: str) -> None:
        report(0.9 * frames / max(total, 1), f"{upscaler.name}: {what}")

    # The clip itself was probed by `check_request`; a folder of chosen frames is new.
    result = run_job(job, upscaler, checked.info if fps is None else None, progress)

    report(0.95, "drawing the comparison")
    low = read_frame(source, 0)
    after = read_frame(output, 0)
    before = bicubic_resize(low[None], (height, width))[0]
    crop = request.crop or viz.auto_crop(before)
    what = request.crop_label or "the most detailed region"
    figure = viz.compare_figure(
        [before, after],
        ["bicubic", request.model],
        crops=[crop],
        title=f"Frame {checked.start}, zoomed into {what}",
    )
    paths = {"before": folder / "frame_bicubic.png", "after": folder / "frame_result.png"}
    for key, image in (("before", before), ("after", after)):
        Image.fromarray(image).save(paths[key])
    # The zoom at the output's own pixels, one screen pixel each: the gain shows without
    # going full screen.
    zoom = {"before": folder / "zoom_bicubic.png", "after": folder / "zoom_result.png"}
    for key, image in (("before", before), ("after", after)):
        Image.fromarray(zoom_region(image, crop)).save(zoom[key])
    crops_path = viz.save_figure(figure, folder / "crops.png")
    report(1.0, "done")
    seconds = time.perf_counter() - started
    return DemoResult(
        folder=folder,
        video=output,
        compare=compare,
        before=paths["before"],
        after=paths["after"],
        crops=crops_path,
        zoom_before=zoom["before"],
        zoom_after=zoom["after"],
        zoom_label=what,
        summary=_summary(
            checked, training_free.label(request.model, upscaler), seconds, result.num_frames
        ),
        notes=list(checked.notes) + training_free.notes(upscaler) + result.notes,
    )


__all__ = [
    "CheckedRequest",
    "DemoRequest",
    "DemoResult",
    "check_request",
    "make_upscaler",
    "zoom_region",
    "new_job_folder",
    "remove_old_jobs",
    "run_request",
]
