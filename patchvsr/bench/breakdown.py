"""Where the time of one patch-wise run goes.

Every part is timed where it is called (method wrappers, `timing.timed_calls`), on the
pipeline as users run it: read the input video, upscale, write the output. The model's
forward passes are the transformer on the patches, the global branch and the codec; all else
(cutting and fusing patches, the scheduler, bicubic upscaling, colour correction, video I/O) is
overhead, and its share is what the issue's "under 10%" target is about.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import patchvsr.pipeline.denoising as pipeline_module  # where the denoising step calls colour_fix
from patchvsr.bench.timing import clock, timed_calls
from patchvsr.bench.workload import SCALE, bench_clip, upscale_kwargs
from patchvsr.method import fusion
from patchvsr.pipeline.codec import LatentCodec
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

MODEL_PARTS = ("transformer", "global branch", "codec encode", "codec decode")
OVERHEAD_PARTS = ("fusion", "colour fix", "video I/O", "other")


def _video_io():
    """patchvsr.io's reader and writer, or None where PyAV is not installed."""
    try:
        from patchvsr.io.reader import read_frames
        from patchvsr.io.writer import VideoWriter
    except ImportError:
        return None
    return VideoWriter, read_frames


def time_breakdown(
    pipe: PatchVSRPipeline,
    size: int | tuple[int, int],
    frames: int,
    steps: int,
    batch_size: int | None = None,
) -> dict:
    """One patch-wise x4 upscale to `size` (a side, or (height, width)), timed by parts."""
    device = pipe.device
    io = _video_io()
    out_h, out_w = (size, size) if isinstance(size, int) else size
    clip = bench_clip(frames, out_h // SCALE, out_w // SCALE)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.mp4", Path(tmp) / "out.mp4"
        io_seconds = None
        if io is not None:
            writer_cls, read_frames = io
            with writer_cls(src, clip.shape[2], clip.shape[1]) as w:
                for frame in clip:
                    w.write(frame)
            start = time.perf_counter()
            clip = read_frames(src)
            io_seconds = time.perf_counter() - start

        targets = {
            "transformer": (pipe.model, "forward"),
            "global branch": (pipe.model, "encode_global"),
            "codec encode": (LatentCodec, "encode"),
            "codec decode": (LatentCodec, "decode"),
            "predict": (fusion, "fuse_patches"),
            "colour fix": (pipeline_module, "colour_fix"),
        }
        with timed_calls(targets, device) as t:
            start = clock(device)
            out = pipe(clip, scale=SCALE, **upscale_kwargs(steps, False, batch_size))
            run_seconds = clock(device) - start

        if io is not None:
            start = time.perf_counter()
            with writer_cls(dst, out.frames.shape[2], out.frames.shape[1]) as w:
                for frame in out.frames:
                    w.write(frame)
            io_seconds += time.perf_counter() - start

    parts = {name: t.seconds.get(name, 0.0) for name in MODEL_PARTS}
    parts["fusion"] = t.seconds["predict"] - t.seconds["transformer"]
    parts["colour fix"] = t.seconds.get("colour fix", 0.0)
    parts["video I/O"] = io_seconds or 0.0
    total = run_seconds + (io_seconds or 0.0)
    parts["other"] = total - sum(parts.values())
    model = sum(parts[p] for p in MODEL_PARTS)
    return {
        "size": [out_h, out_w],
        "frames": frames,
        "steps": steps,
        "evaluations_per_step": out.plan.evaluations_per_step,
        "transformer_calls": t.calls["transformer"],
        "global_calls": t.calls["global branch"],
        "seconds": total,
        "parts": parts,
        "shares": {k: v / total for k, v in parts.items()},
        "overhead_share": 1.0 - model / total,
        "video_io": io is not None,
    }
