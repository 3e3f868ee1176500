"""Upscale a whole video: temporal windows, resumable, streaming, atomic.

How a job runs
1. Check everything that can be checked before any work: the input decodes, the output size
   is within the limit, the output folder is writable and is not the input, there is disk
   space for the work folder.
2. Upscale phase. The input is decoded once, in order; the upscaler gets windows of
   `upscaler.window` frames (consecutive windows share `upscaler.overlap` frames) planned by
   `patchvsr.temporal.plan_windows`. Window k uses seed `seed + k`, so a window computed
   again gives the same frames. Each finished window is saved in the work folder
   `OUT.patchvsr-work/` as `window_NNNNN.npy` (raw uint8, exact) plus a `.json` with its
   timestamps, each written under a temporary name and renamed: a window is either complete
   or absent.
3. Assembly phase. Frames are read back one at a time (memory-mapped), overlaps cross-faded
   with `patchvsr.temporal.window_weights`, and streamed into the encoder (and the
   comparison video) with the input's timestamps and audio. The encoder writes into the work
   folder and the finished file is renamed onto the output path.
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

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from patchvsr.errors import PatchVSRError
from patchvsr.io.comparison import ComparisonWriter, comparison_size
from patchvsr.io.output import check_codec, check_output_path, output_kind
from patchvsr.io.probe import VideoInfo, probe
from patchvsr.io.reader import VideoReader
from patchvsr.io.writer import DEFAULT_CODEC, DEFAULT_CRF, open_writer
from patchvsr.temporal import plan_windows, window_weights
from patchvsr.upscalers import Upscaler, bicubic_resize

WORK_SUFFIX = ".patchvsr-work"
MANIFEST_VERSION = 1
# 7680 x 4320 (8K UHD): above this a frame is almost surely a typo in --scale/--size.
DEFAULT_MAX_OUTPUT_PIXELS = 7680 * 4320


def parse_size(text: str) -> tuple[int, int]:
    """ "1920x1080" -> (1920, 1080)."""
    try:
        w, h = (int(v) for v in text.lower().replace("*", "x").split("x"))
    except ValueError:
        raise PatchVSRError(f"size must look like 1920x1080, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise PatchVSRError(f"size must be positive, got {text!r}")
    return w, h


def resolve_out_size(
    info: VideoInfo, scale: float | None = None, size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Output (width, height): `size` exactly, else the input scaled by `scale` (rounded)."""
    if size is not None:
        return size
    if scale is None or scale <= 0:
        raise PatchVSRError(f"scale must be positive, got {scale}")
    return max(1, round(info.width * scale)), max(1, round(info.height * scale))


@dataclass
class UpscaleJob:
    """Everything that defines one upscaling job. `out_size` is (width, height)."""

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
            f"{_human_bytes(self.bytes)}, {self.seconds:.1f} s "
            f"({self.seconds_per_frame:.3f} s/frame){resumed}"
        )


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _path_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def work_dir_for(output: Path) -> Path:
    return output.with_name(output.name + WORK_SUFFIX)


# --- the work folder -------------------------------------------------------------------------


def _manifest(job: UpscaleJob, info: VideoInfo, upscaler: Upscaler, window: int, overlap: int):
    stat = job.input.stat()
    manifest = {
        "version": MANIFEST_VERSION,
        "input": {
            "path": str(job.input.resolve()),
            "size": _path_bytes(job.input),
            "mtime_ns": stat.st_mtime_ns,
            "num_frames": info.num_frames,
        },
        "model": upscaler.name,
        "options": job.options,
        "seed": job.seed,
        "out_size": list(job.out_size),
        "window": window,
        "overlap": overlap,
    }
    return json.loads(json.dumps(manifest, default=str))  # as it reads back from disk


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class WorkFolder:
    """Finished windows of one job, kept until the output is complete."""

    def __init__(self, path: Path, manifest: dict) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: Path, manifest: dict, resume: bool) -> tuple[WorkFolder, list[str]]:
        notes = []
        if path.exists() and not path.is_dir():
            raise PatchVSRError(f"work folder {path} exists and is not a folder")
        if path.exists() and resume:
            try:
                old = json.loads((path / "manifest.json").read_text())
            except (OSError, ValueError):
                old = None
            if old != manifest:
                raise PatchVSRError(
                    f"work folder {path} was made for a different job (input or options "
                    "differ): delete it or run without --resume"
                )
            for stale in path.glob(".*"):  # temporaries of the interrupted run
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        else:
            if path.exists():
                notes.append(f"discarded earlier partial work in {path} (use --resume to keep it)")
                shutil.rmtree(path)
            elif resume:
                notes.append("nothing to resume: starting from the beginning")
            path.mkdir()
            _write_atomic(
                path / "manifest.json", lambda f: f.write(json.dumps(manifest, indent=1).encode())
            )
        return cls(path, manifest), notes

    def _stem(self, k: int) -> Path:
        return self.path / f"window_{k:05d}"

    def is_done(self, k: int, span: tuple[int, int]) -> bool:
        meta, frames = self._stem(k).with_suffix(".json"), self._stem(k).with_suffix(".npy")
        if not (meta.exists() and frames.exists()):
            return False
        try:
            stored = np.load(frames, mmap_mode="r")
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            return False
        w, h = self.manifest["out_size"]
        return stored.shape == (span[1] - span[0], h, w, 3) and info["span"] == list(span)

    def save(self, k: int, span: tuple[int, int], frames: np.ndarray, pts: list[int]) -> None:
        # Frames first, metadata last: the .json is the "window complete" marker.
        stem = self._stem(k)
        _write_atomic(stem.with_suffix(".npy"), lambda f: np.save(f, frames))
        meta = {"span": list(span), "pts": [int(p) for p in pts]}
        _write_atomic(stem.with_suffix(".json"), lambda f: f.write(json.dumps(meta).encode()))

    def load(self, k: int) -> tuple[np.ndarray, list[int]]:
        """Memory-mapped frames (nothing read until used) and timestamps of window k."""
        stem = self._stem(k)
        meta = json.loads(stem.with_suffix(".json").read_text())
        return np.load(stem.with_suffix(".npy"), mmap_mode="r"), meta["pts"]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# --- the job ---------------------------------------------------------------------------------


def _check_disk(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise PatchVSRError(
            f"not enough disk space in {folder}: the work folder needs about "
            f"{_human_bytes(needed)}, {_human_bytes(free)} free"
        )


def _input_windows(
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


def _bar(quiet: bool, **kwargs) -> tqdm:
    return tqdm(disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False, **kwargs)


def validate_job(job: UpscaleJob) -> VideoInfo:
    """Every check that needs no model: the input decodes, sizes are within the limits, the
    outputs can be written and are not the input. Returns the input's `VideoInfo`."""
    info = probe(job.input, fps=job.fps)
    out_w, out_h = job.out_size
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
        check_codec(job.codec, job.output)
    if kind == "frames" and job.output.exists():
        if not job.output.is_dir() or any(job.output.iterdir()):
            raise PatchVSRError(f"output folder {job.output} exists and is not empty")
    if job.compare is not None:
        check_output_path(job.compare, [job.input, job.output])
        if output_kind(job.compare) == "video":
            check_codec(job.codec, job.compare)
        cmp_w, cmp_h = comparison_size(job.compare_mode, out_w, out_h)
        if cmp_w * cmp_h > job.max_output_pixels:
            raise PatchVSRError(
                f"comparison {cmp_w}x{cmp_h} exceeds the limit of {job.max_output_pixels:,} "
                "pixels per frame: use --compare-mode split"
            )
    return info


def run_job(job: UpscaleJob, upscaler: Upscaler) -> JobResult:
    """Run `job` with `upscaler`; see the module docstring for the phases."""
    started = time.perf_counter()
    # 1. Checks, before any work.
    info = validate_job(job)
    out_w, out_h = job.out_size
    window = job.window or upscaler.window
    overlap = min(upscaler.overlap, window - 1)
    spans = plan_windows(info.num_frames, window, overlap)
    weights = window_weights(spans, info.num_frames)
    frame_bytes = out_w * out_h * 3
    _check_disk(
        job.output.parent, sum(e - s for s, e in spans) * frame_bytes + info.num_frames * 1024
    )

    manifest = _manifest(job, info, upscaler, window, overlap)
    work, notes = WorkFolder.open(work_dir_for(job.output), manifest, job.resume)
    try:
        # 2. Upscale phase.
        todo = [k for k, span in enumerate(spans) if not work.is_done(k, span)]
        _upscale_windows(job, upscaler, info, spans, todo, work)
        # 3. Assembly phase.
        writer_notes = _assemble(job, upscaler, info, spans, weights, work)
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
        bytes=_path_bytes(job.output),
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
) -> None:
    out_w, out_h = job.out_size
    total = sum(spans[k][1] - spans[k][0] for k in todo)
    with (
        _bar(job.quiet, total=total, unit="frame", desc=upscaler.name) as bar,
        VideoReader(job.input, info=info) as reader,
    ):
        # The bar counts output frames; inside a window it advances with the upscaler's own
        # progress (frames, patches or denoising steps), so the ETA moves during long windows.
        done_frames = 0
        current = {"label": "", "size": 0}

        def progress(done: int, count: int, what: str) -> None:
            bar.set_postfix_str(f"{current['label']}, {what} ({done}/{count})", refresh=False)
            fraction = min(1.0, done / count) if count else 1.0
            bar.update(done_frames + fraction * current["size"] - bar.n)  # throttled redraw

        for n, (k, frames, pts) in enumerate(_input_windows(reader, spans, todo)):
            current.update(label=f"window {n + 1}/{len(todo)}", size=len(frames))
            bar.set_postfix_str(current["label"])
            result = upscaler.upscale(frames, (out_h, out_w), seed=job.seed + k, progress=progress)
            expected = (len(frames), out_h, out_w, 3)
            if result.shape != expected or result.dtype != np.uint8:
                raise RuntimeError(
                    f"{upscaler.name} returned {result.shape} {result.dtype}, "
                    f"expected {expected} uint8"
                )
            work.save(k, spans[k], result, pts)
            done_frames += len(frames)
            bar.update(done_frames - bar.n)


def _assemble(
    job: UpscaleJob,
    upscaler: Upscaler,
    info: VideoInfo,
    spans: list[tuple[int, int]],
    weights: list[np.ndarray],
    work: WorkFolder,
) -> list[str]:
    out_w, out_h = job.out_size
    sink = open_writer(
        job.output,
        out_w,
        out_h,
        info,
        as_frames=job.as_frames,
        codec=job.codec,
        crf=job.crf,
        max_bytes=job.max_output_bytes,
        tmp_dir=work.path,
    )
    sinks = [sink]
    baseline, baseline_reader = None, None
    try:
        if job.compare is not None:
            sinks.append(
                ComparisonWriter(
                    job.compare,
                    out_w,
                    out_h,
                    info,
                    labels=("bicubic", upscaler.name),
                    mode=job.compare_mode,
                    codec=job.codec,
                    crf=job.crf,
                    tmp_dir=work.path,
                )
            )
            baseline_reader = VideoReader(job.input, info=info)
            baseline = baseline_reader.frames()
        open_windows: dict[int, tuple[np.ndarray, list[int]]] = {}
        with _bar(job.quiet, total=info.num_frames, unit="frame", desc="encode") as bar:
            for f in range(info.num_frames):
                parts = [k for k, (s, e) in enumerate(spans) if s <= f < e]
                for k in parts:
                    if k not in open_windows:
                        open_windows[k] = work.load(k)
                for k in [k for k in open_windows if spans[k][1] <= f]:
                    del open_windows[k]  # past this window: unmap it
                frame, pts = _blend(f, parts, spans, weights, open_windows)
                sink.write(frame, pts)
                if baseline is not None:
                    _, _, low = next(baseline)
                    up = bicubic_resize(low[None], (out_h, out_w))[0]
                    sinks[1].write(up, frame, pts)
                bar.update(1)
    except BaseException:
        for s in sinks:
            s.abort()
        raise
    finally:
        if baseline_reader is not None:
            baseline_reader.close()
    # The comparison first: if the main output then fails, the comparison goes too, so a
    # failed job leaves neither.
    closed: list[Path] = []
    try:
        for s in reversed(sinks):
            closed.append(s.close())
    except BaseException:
        for s in sinks:
            s.abort()
        for path in closed:
            path.unlink(missing_ok=True)
        raise
    return sorted({n for s in sinks for n in s.notes})


def _blend(
    f: int,
    parts: list[int],
    spans: list[tuple[int, int]],
    weights: list[np.ndarray],
    windows: dict[int, tuple[np.ndarray, list[int]]],
) -> tuple[np.ndarray, int]:
    """Frame f as the weighted sum of the windows covering it (exact copy when only one)."""
    first = parts[0]
    frames, pts = windows[first]
    timestamp = pts[f - spans[first][0]]
    if len(parts) == 1:
        return np.array(frames[f - spans[first][0]]), timestamp
    acc = np.zeros(frames.shape[1:], dtype=np.float32)
    for k in parts:
        i = f - spans[k][0]
        acc += np.float32(weights[k][i]) * windows[k][0][i].astype(np.float32)
    return np.clip(np.rint(acc), 0, 255).astype(np.uint8), timestamp


__all__ = [
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "JobResult",
    "JobStopped",
    "UpscaleJob",
    "WorkFolder",
    "parse_size",
    "resolve_out_size",
    "run_job",
    "validate_job",
    "work_dir_for",
]
