"""The assembly phase of a job: finished windows read back one frame at a time
(memory-mapped), their overlaps cross-faded, and streamed into the encoder (and the comparison
video) with the input's timestamps and audio. Outputs are written into the work folder and
renamed onto their paths only when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from patchvsr.io.comparison import ComparisonWriter
from patchvsr.io.probe import VideoInfo
from patchvsr.io.reader import VideoReader
from patchvsr.io.writer import open_writer
from patchvsr.video.upscalers import Upscaler, bicubic_resize
from patchvsr.video.workfolder import WorkFolder


def assemble(
    job,  # UpscaleJob
    upscaler: Upscaler,
    info: VideoInfo,
    spans: list[tuple[int, int]],
    weights: list[np.ndarray],
    work: WorkFolder,
    bar: Callable[..., tqdm],
) -> list[str]:
    """Write the job's output (and comparison) from its finished windows; returns the
    writers' notes. `bar(total=..., ...)` makes the progress bar of the encoding."""
    out_h, out_w = job.out_size
    encoding = {"codec": job.codec, "crf": job.crf, "tmp_dir": work.path}
    sink = open_writer(
        job.output, out_w, out_h, info, as_frames=job.as_frames, max_bytes=job.max_output_bytes,
        **encoding,
    )  # fmt: skip
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
                    **encoding,
                )
            )
            baseline_reader = VideoReader(job.input, info=info)
            baseline = baseline_reader.frames()
        open_windows: dict[int, tuple[np.ndarray, list[int]]] = {}
        with bar(total=info.num_frames, unit="frame", desc="encode") as encoded:
            for f in range(info.num_frames):
                parts = [k for k, (s, e) in enumerate(spans) if s <= f < e]
                for k in parts:
                    if k not in open_windows:
                        open_windows[k] = work.load(k)
                for k in [k for k in open_windows if spans[k][1] <= f]:
                    del open_windows[k]  # past this window: unmap it
                frame, pts = blend(f, parts, spans, weights, open_windows)
                sink.write(frame, pts)
                if baseline is not None:
                    _, _, low = next(baseline)
                    up = bicubic_resize(low[None], (out_h, out_w))[0]
                    sinks[1].write(up, frame, pts)
                encoded.update(1)
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


def blend(
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
