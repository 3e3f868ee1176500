"""Upscaling jobs of the web demo: bounded, observable, cancellable, each in a folder of its own.

A request (`DemoRequest`) names a clip, the frames to take from it, the output size and the
model. `check_request` refuses what the server's `Limits` do not allow before any work;
`run_request` then
1. makes a job folder `job-<time>-<id>` under the output folder (and removes job folders
   older than the maximum age),
2. copies the chosen frames losslessly into it when the request takes only part of the clip,
3. upscales them with the job runner (`patchvsr.jobs`), writing the result and the
   side-by-side comparison with the bicubic upscale,
4. saves the chosen frame both ways (PNG) and a figure of zoomed crops.

`BackgroundJob` runs that in a thread: the page polls its progress, which comes from the
pipeline's own `progress(done, total, what)` callback, and `cancel()` stops the job at the
model's next report (a denoising step); a cancelled or failed job leaves no folder behind.
One job at a time holds the device (`DEVICE_LOCK`): a job that starts while a cancelled one is
still finishing its step waits for it.
"""

from __future__ import annotations

import contextvars
import ctypes
import gc
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from patchvsr import viz
from patchvsr.app_config import Limits
from patchvsr.commands.plan import output_size
from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import VideoInfo, is_image_path, probe
from patchvsr.io.reader import VideoReader, read_frame
from patchvsr.io.writer import FrameFolderWriter
from patchvsr.jobs import JobStopped, UpscaleJob, run_job
from patchvsr.temporal import plan_windows
from patchvsr.upscalers import BASELINES, Upscaler, bicubic_resize, get_upscaler

Report = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)
Box = tuple[float, float, float, float]  # normalised (y0, x0, y1, x1)
JOB_PREFIX = "job-"
DEVICE_LOCK = threading.Lock()


class JobCancelled(Exception):
    """Raised inside a job's thread at its next progress report after `cancel()`."""


@dataclass(frozen=True)
class DemoRequest:
    """One upscaling request. `size` is an explicit output (height, width) and wins over
    `scale`; `steps`/`strength` of None (or 0) mean the model's own defaults; `crop` is the
    region (normalised box) to show zoomed, by default the most detailed one, and
    `crop_label` what it is ("patch #3 ...")."""

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
    crop: Box | None = None
    crop_label: str = ""


@dataclass(frozen=True)
class CheckedRequest:
    request: DemoRequest
    info: VideoInfo
    out_size: tuple[int, int]  # (height, width)
    start: int
    count: int
    notes: tuple[str, ...] = ()


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
    height, width = output_size((info.height, info.width), request.scale, request.size)
    limits.check_output(width, height)
    limits.check_frames(request.frames)
    if not 0 <= request.start < info.num_frames:
        raise PatchVSRError(
            f"frame {request.start} is not in {name}: it has frames 0 to {info.num_frames - 1}"
        )
    count = min(request.frames, info.num_frames - request.start)
    notes = []
    if count < request.frames:
        notes.append(f"the clip ends after frame {info.num_frames - 1}: {count} frame(s) taken")
    if request.steps is not None and request.steps < 0:
        raise PatchVSRError(
            f"steps must be 1 or more (0: the model's default), got {request.steps}"
        )
    if request.strength is not None and not 0 <= request.strength <= 1:
        raise PatchVSRError(
            f"strength must be between 0 and 1 (0: the model's default), got {request.strength}"
        )
    if info.has_audio and count < info.num_frames:
        notes.append("part of the clip was taken: its sound is not kept")
    return CheckedRequest(request, info, (height, width), request.start, count, tuple(notes))


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


def make_upscaler(name: str, steps: int | None, strength: float | None, colour: bool) -> Upscaler:
    """A baseline, or a PatchVSR model (loaded once and kept) with these options."""
    if name in BASELINES:
        return get_upscaler(name)
    from patchvsr.upscalers import PatchVSRUpscaler

    return PatchVSRUpscaler(_pipeline(name), name, steps or None, strength or None, colour=colour)


class _Observed:
    """An upscaler that reports the whole job's progress as it goes (the report raises
    `JobCancelled` when the job is cancelled, which stops the pipeline mid-window)."""

    def __init__(self, inner: Upscaler, num_frames: int, report: Report, share: float) -> None:
        self.inner, self.report, self.share = inner, report, share
        self.name, self.window, self.overlap = inner.name, inner.window, inner.overlap
        spans = plan_windows(num_frames, self.window, min(self.overlap, self.window - 1))
        self.total = sum(stop - start for start, stop in spans)
        self.done = 0

    def upscale(self, frames: np.ndarray, out_size, *, seed: int = 0, progress=None):
        n = len(frames)

        def step(done: int, count: int, what: str) -> None:
            if progress is not None:
                progress(done, count, what)
            fraction = (self.done + n * min(1.0, done / max(count, 1))) / self.total
            self.report(self.share * fraction, f"{self.name}: {what}")

        step(0, 1, "starting")
        out = self.inner.upscale(frames, out_size, seed=seed, progress=step)
        self.done += n
        return out


# --- the job ---------------------------------------------------------------------------------


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
    upscaler = make_upscaler(request.model, request.steps, request.strength, request.colour)
    observed = _Observed(upscaler, checked.count, report, share=0.9)
    job = UpscaleJob(
        input=source,
        output=output,
        out_size=(width, height),
        seed=request.seed,
        compare=compare,
        compare_mode="auto",
        max_output_pixels=2 * width * height,  # the side-by-side comparison is twice as wide
        fps=fps,
        quiet=True,
    )
    result = run_job(job, observed)

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
        summary=_summary(checked, request.model, seconds, result.num_frames),
        notes=list(checked.notes) + result.notes,
    )


# --- in the background -----------------------------------------------------------------------


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def return_freed_memory() -> None:
    """Hand freed memory back to the system. glibc keeps freed blocks in its per-thread
    arenas, so a server that runs each job (and each request) in a thread of its own only
    ever grows without this (measured: +200 MB over 60 small jobs); with it, at the start and
    the end of every job, it stays near its size after the first. A no-op elsewhere than
    glibc. Cyclic garbage goes first: a few Python objects in a cycle can hold large native
    buffers (frames, figures) that no allocation count would make the collector look at."""
    _forget_thread_fonts()
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _forget_thread_fonts() -> None:
    """matplotlib caches the fonts it opens per thread (up to 64, each an open file): a job's
    thread never comes back, so its entries only hold file handles (measured: +6 over 40
    jobs, up to 64)."""
    font_manager = sys.modules.get("matplotlib.font_manager")
    if font_manager is not None and hasattr(font_manager, "_get_font"):
        font_manager._get_font.cache_clear()


class BackgroundJob:
    """Run `target(report)` in a thread; `progress` holds its latest (fraction, text).

    `cancel()` makes the next `report` raise `JobCancelled` inside the thread. The thread
    runs in a copy of the caller's context (so request-scoped state travels with it) and holds
    `DEVICE_LOCK` while it works."""

    def __init__(self, target: Callable[[Report], object]) -> None:
        self._target = target
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._result: object = None
        self._error: BaseException | None = None
        self.progress: tuple[float, str] = (0.0, "queued")
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._main,), daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def report(self, fraction: float, what: str) -> None:
        if self._cancel.is_set():
            raise JobCancelled("cancelled")
        self.progress = (max(0.0, min(1.0, fraction)), what)

    def _main(self) -> None:
        try:
            while not DEVICE_LOCK.acquire(timeout=0.2):
                self.report(0.0, "waiting for the previous job to stop")
            try:
                return_freed_memory()  # what serving the previous request left
                self._result = self._target(self.report)
            finally:
                DEVICE_LOCK.release()
                return_freed_memory()
        except BaseException as err:  # handed to whoever asks for the result
            self._error = err
        finally:
            self._finished.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def result(self):
        """The target's return value; re-raises its exception."""
        if not self._finished.is_set():
            raise RuntimeError("the job is still running")
        if self._error is not None:
            raise self._error
        return self._result


__all__ = [
    "DEVICE_LOCK",
    "BackgroundJob",
    "CheckedRequest",
    "DemoRequest",
    "DemoResult",
    "JobCancelled",
    "check_request",
    "make_upscaler",
    "new_job_folder",
    "remove_old_jobs",
    "run_request",
]
