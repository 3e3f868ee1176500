"""Upscale a whole video: temporal windows, resumable, streaming, atomic.

How a job runs
1. Check everything that can be checked before any work: the input decodes, the output size
   is within the limit, the output folder is writable and is not the input, there is disk
   space for the work folder.
2. Upscale phase. The input is decoded once, in order; the upscaler gets windows of
   `upscaler.window` frames (consecutive windows share `upscaler.overlap` frames) planned by
   `patchvsr.method.temporal.plan_windows`. Window k uses seed `seed + k`, so a window computed
   again gives the same frames. Each finished window is saved in the work folder
   `OUT.patchvsr-work/` as `window_NNNNN.npy` (raw uint8, exact) plus a `.json` with its
   timestamps (`patchvsr.video.workfolder`): a window is either complete or absent. The progress
   bar counts the clip's frames, each once, however the windows overlap.
3. Assembly phase (`patchvsr.video.assemble`). Frames are read back one at a time (memory-mapped),
   overlaps cross-faded with `patchvsr.method.temporal.window_weights`, and streamed into the encoder
   (and the comparison video) with the input's timestamps and audio. The encoder writes into
   the work folder and the finished file is renamed onto the output path.
4. The work folder is removed.

Memory holds one window of input and output frames, never the whole video. Disk: the work
folder holds every output frame uncompressed (width x height x 3 bytes each) until the end;
the job refuses to start when the disk cannot take it.

`--resume` keeps the finished windows of an earlier, interrupted run of the *same* job (the
manifest records the input's path, size and mtime and every option that changes the output)
and computes only the rest; the assembly is deterministic, so the file is byte-identical to
an uninterrupted run's.
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from patchvsr import parallel
from patchvsr.errors import PatchVSRError
from patchvsr.io.comparison import comparison_size
from patchvsr.io.output import check_codec, check_output_path, output_kind
from patchvsr.io.probe import VideoInfo, probe
from patchvsr.io.reader import VideoReader
from patchvsr.io.writer import DEFAULT_CODEC, DEFAULT_CRF
from patchvsr.method.temporal import plan_windows, window_weights
from patchvsr.video.assemble import assemble as _assemble
from patchvsr.video.upscalers import Upscaler
from patchvsr.video.workfolder import WorkFolder, make_manifest, path_bytes, work_dir_for

# 7680 x 4320 (8K UHD): above this a frame is almost surely a typo in --scale/--size.
DEFAULT_MAX_OUTPUT_PIXELS = 7680 * 4320
# (frames of the clip done, frames in all, what is happening)
JobProgress = Callable[[float, int, str], None]
# (job, upscaler, info, work folder, window spans, windows to do): the upscale phase of a run
# shared over a process group.
LeadWindows = Callable[["UpscaleJob", Upscaler, VideoInfo, WorkFolder, list, list], None]


@dataclass
class UpscaleJob:
    """Everything that defines one upscaling job. `out_size` is (height, width)."""

    input: Path
    output: Path
    out_size: tuple[int, int]
    seed: int = 0
    codec: str = DEFAULT_CODEC
    crf: int = DEFAULT_CRF
    as_frames: bool = False
    resume: bool = False
    compare: Path | None = None
    compare_mode: str = "auto"
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS
    max_output_bytes: int | None = None
    window: int | None = None  # frames per window; None: the upscaler's own
    fps: float | None = None  # frame rate of image inputs
    options: dict = field(default_factory=dict)  # model options, recorded in the manifest
    quiet: bool = False
    parallel: str = "auto"  # on several processes: share "patches", "windows", or choose

    def __post_init__(self) -> None:
        self.input = Path(self.input)
        self.output = Path(self.output)
        self.compare = Path(self.compare) if self.compare is not None else None


class JobStopped(PatchVSRError):
    """The job could not go on for a reason outside it (a full disk, a read-only folder);
    its finished windows are kept in `work` for `--resume`. `reason` is the system's
    ("No space left on device"), `filename` what was being written, when known."""

    def __init__(self, reason: str, work: Path, filename: str | None = None) -> None:
        where = f" (writing {filename})" if filename else ""
        super().__init__(
            f"the job stopped: {reason}{where}; its finished windows are kept in {work}: "
            "make room (or make the folder writable) and run again with --resume"
        )
        self.reason, self.work, self.filename = reason, work, filename


@dataclass
class JobResult:
    output: Path
    compare: Path | None
    num_frames: int
    width: int
    height: int
    bytes: int
    seconds: float
    windows_total: int
    windows_run: int
    notes: list[str] = field(default_factory=list)

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / max(1, self.num_frames)

    def summary(self) -> str:
        resumed = ""
        if self.windows_run < self.windows_total:
            resumed = f", resumed: {self.windows_total - self.windows_run} windows kept"
        return (
            f"wrote {self.output}: {self.num_frames} frames, {self.width}x{self.height}, "
            f"{human_bytes(self.bytes)}, {self.seconds:.1f} s "
            f"({self.seconds_per_frame:.3f} s/frame){resumed}"
        )


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


# --- the job ---------------------------------------------------------------------------------


def _check_disk(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise PatchVSRError(
            f"not enough disk space in {folder}: the work folder needs about "
            f"{human_bytes(needed)}, {human_bytes(free)} free"
        )


def input_windows(
    reader: VideoReader, spans: list[tuple[int, int]], todo: list[int]
) -> Iterator[tuple[int, np.ndarray, list[int]]]:
    """(k, frames (F, H, W, 3), pts) for each window in `todo`, decoding the input once.
    Keeps only the frames a later window still needs (the overlap), not the whole clip."""
    if not todo:
        return
    first = spans[todo[0]][0]
    buffer: dict[int, tuple[int, np.ndarray]] = {}
    frames = reader.frames(start=first)
    for k in todo:
        start, stop = spans[k]
        for index, pts, rgb in frames:
            buffer[index] = (pts, rgb)
            if index + 1 >= stop:
                break
        missing = [i for i in range(start, stop) if i not in buffer]
        if missing:
            raise PatchVSRError(f"cannot read {reader.path}: frame {missing[0]} is missing")
        yield (
            k,
            np.stack([buffer[i][1] for i in range(start, stop)]),
            [buffer[i][0] for i in range(start, stop)],
        )
        keep_from = spans[todo[todo.index(k) + 1]][0] if k != todo[-1] else stop
        for i in [i for i in buffer if i < keep_from]:
            del buffer[i]


def progress_bar(quiet: bool, **kwargs) -> tqdm:
    return tqdm(disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False, **kwargs)


def validate_job(job: UpscaleJob, info: VideoInfo | None = None) -> VideoInfo:
    """Every check that needs no model: the input decodes, sizes are within the limits, the
    outputs can be written and are not the input. Returns the input's `VideoInfo` (`info`, the
    input already probed, spares probing it again)."""
    info = info or probe(job.input, fps=job.fps)
    out_h, out_w = job.out_size
    if out_w * out_h > job.max_output_pixels:
        raise PatchVSRError(
            f"output {out_w}x{out_h} ({out_w * out_h:,} pixels) exceeds the limit of "
            f"{job.max_output_pixels:,} pixels per frame (raise it with --max-output-pixels)"
        )
    kind = output_kind(job.output, job.as_frames)
    if kind == "image" and info.num_frames != 1:
        raise PatchVSRError(
            f"{job.output} is an image but the input has {info.num_frames} frames: "
            "use a video extension or --frames"
        )
    check_output_path(job.output, [job.input])
    if kind == "video":
        check_codec(job.codec, job.output, (out_w, out_h))
    if kind == "frames" and job.output.exists():
        if not job.output.is_dir() or any(job.output.iterdir()):
            raise PatchVSRError(f"output folder {job.output} exists and is not empty")
    if job.compare is not None:
        check_output_path(job.compare, [job.input, job.output])
        cmp_w, cmp_h = comparison_size(job.compare_mode, out_w, out_h)
        if output_kind(job.compare) == "video":
            check_codec(job.codec, job.compare, (cmp_w, cmp_h))
        if cmp_w * cmp_h > job.max_output_pixels:
            raise PatchVSRError(
                f"comparison {cmp_w}x{cmp_h} exceeds the limit of {job.max_output_pixels:,} "
                "pixels per frame: use --compare-mode split"
            )
    return info


def run_job(
    job: UpscaleJob,
    upscaler: Upscaler,
    info: VideoInfo | None = None,
    on_progress: JobProgress | None = None,
    lead_windows: LeadWindows | None = None,
) -> JobResult:
    """Run `job` with `upscaler`; see the module docstring for the phases. `info`: the input
    already probed; `on_progress(frames done, frames in all, what)` follows the upscale phase
    in frames of the clip (each counted once), as the progress bar does. `lead_windows`: the
    upscale phase shared over a process group (`patchvsr.video.distributed.lead_windows`,
    bound to the group), handed in by whoever started the group; None: this process alone."""
    started = time.perf_counter()
    # 1. Checks, before any work.
    info = validate_job(job, info)
    out_h, out_w = job.out_size
    window = job.window or upscaler.window
    overlap = min(upscaler.overlap, window - 1)
    spans = plan_windows(info.num_frames, window, overlap)
    weights = window_weights(spans, info.num_frames)
    frame_bytes = out_w * out_h * 3
    _check_disk(
        job.output.parent, sum(e - s for s, e in spans) * frame_bytes + info.num_frames * 1024
    )

    manifest = make_manifest(job, info, upscaler, window, overlap)
    work, notes = WorkFolder.open(work_dir_for(job.output), manifest, job.resume)
    try:
        # 2. Upscale phase: the windows still to compute (all of them unless resuming).
        todo = [k for k, span in enumerate(spans) if not work.is_done(k, span)]
        if lead_windows is None:
            _upscale_windows(job, upscaler, info, spans, todo, work, on_progress)
        else:  # torchrun / accelerate: shared with the other processes
            lead_windows(job, upscaler, info, work, spans, todo)
        # 3. Assembly phase.
        bar = functools.partial(progress_bar, job.quiet)
        writer_notes = _assemble(job, upscaler, info, spans, weights, work, bar)
    except parallel.PeerLost as err:
        raise err.kept(work.path) from err  # the finished windows are intact
    except PatchVSRError:
        work.remove()  # bad input or a refused request: nothing worth resuming
        raise
    except OSError as err:
        # A full disk, a folder turned read-only, a drive gone: each finished window was
        # written atomically and is intact, so it is kept for --resume.
        raise JobStopped(err.strerror or str(err), work.path, err.filename) from err
    except BaseException:
        if not job.quiet:
            print(
                f"partial work kept in {work.path}: run again with --resume to continue",
                file=sys.stderr,
            )
        raise
    # 4. Clean up.
    work.remove()
    return JobResult(
        output=job.output,
        compare=job.compare,
        num_frames=info.num_frames,
        width=out_w,
        height=out_h,
        bytes=path_bytes(job.output),
        seconds=time.perf_counter() - started,
        windows_total=len(spans),
        windows_run=len(todo),
        notes=notes + writer_notes,
    )


def _upscale_windows(
    job: UpscaleJob,
    upscaler: Upscaler,
    info: VideoInfo,
    spans: list[tuple[int, int]],
    todo: list[int],
    work: WorkFolder,
    on_progress: JobProgress | None = None,
) -> None:
    """Upscale the windows `todo`, in order, saving each. The bar counts the clip's frames:
    a window adds the frames no earlier window covered, so overlaps are not counted twice."""
    out_h, out_w = job.out_size
    covered = frames_done(spans, todo)
    with (
        progress_bar(job.quiet, total=info.num_frames, initial=len(covered), unit="frame") as bar,
        VideoReader(job.input, info=info) as reader,
    ):
        bar.set_description_str(upscaler.name)
        # Inside a window the bar advances with the upscaler's own progress (frames, patches
        # or denoising steps), so the ETA moves during long windows.
        current = {"label": "", "before": len(covered), "new": 0}

        def progress(done: int, count: int, what: str) -> None:
            fraction = min(1.0, done / count) if count else 1.0
            frames = current["before"] + fraction * current["new"]
            bar.set_postfix_str(f"{current['label']}, {what} ({done}/{count})", refresh=False)
            bar.update(frames - bar.n)  # throttled redraw
            if on_progress is not None:
                on_progress(frames, info.num_frames, what)

        for n, (k, frames, pts) in enumerate(input_windows(reader, spans, todo)):
            start, stop = spans[k]
            current.update(
                label=f"window {n + 1}/{len(todo)}",
                before=len(covered),
                new=len(set(range(start, stop)) - covered),
            )
            bar.set_postfix_str(current["label"])
            progress(0, 1, "starting")
            result = upscaler.upscale(frames, (out_h, out_w), seed=job.seed + k, progress=progress)
            save_window(work, k, spans[k], result, pts, job.out_size, upscaler.name)
            covered.update(range(start, stop))
            progress(1, 1, "done")


def frames_done(spans: list[tuple[int, int]], todo: list[int]) -> set[int]:
    """The frames the windows not in `todo` cover: what a resumed job's bar starts from."""
    return {f for k, (s, e) in enumerate(spans) if k not in todo for f in range(s, e)}


def save_window(
    work: WorkFolder,
    k: int,
    span: tuple[int, int],
    result: np.ndarray | None,
    pts,
    out_hw: tuple[int, int],
    source: str,
) -> None:
    """Keep window `k`'s result in the work folder, after checking it is what the job asked
    `source` (the upscaler, or the process that ran it) for."""
    expected = (span[1] - span[0], *out_hw, 3)
    if result is None or result.shape != expected or result.dtype != np.uint8:
        got = "nothing" if result is None else f"{result.shape} {result.dtype}"
        raise RuntimeError(f"{source} returned {got} for window {k}, expected {expected} uint8")
    work.save(k, span, result, pts)


__all__ = [
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "JobProgress",
    "LeadWindows",
    "JobResult",
    "JobStopped",
    "UpscaleJob",
    "WorkFolder",
    "frames_done",
    "input_windows",
    "progress_bar",
    "run_job",
    "save_window",
    "validate_job",
    "work_dir_for",
]
