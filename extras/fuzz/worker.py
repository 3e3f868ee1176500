"""The process that reads fuzzed files: `python -m extras.fuzz.worker`.

It reads one file path per line on stdin, runs it through the reading path (what the command
line and the app do before upscaling) and answers one JSON line on stdout: the outcome, the
message, and how far its resident memory peaked above where it was before the file. A crash
or a hang takes only this process down; the runner notices and starts another.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from patchvsr.bench.rss import peak_bytes, reset_peak, rss_bytes, trim_heap
from patchvsr.errors import PatchVSRError
from patchvsr.io.reader import VideoReader
from patchvsr.video.jobs import UpscaleJob, validate_job

WINDOW = 16  # frames decoded: the largest first window the app or the command line reads
# Address space the worker may take beyond what it holds at start. Far above the fuzzer's
# memory budget, so a bomb shows as a peak over the budget, not as a failed allocation; but a
# bound, so a runaway allocation fails here instead of pressing on the whole machine.
ADDRESS_SPACE_MARGIN = 6 << 30


def read_like_the_front_ends(path: Path, scratch: Path) -> str:
    """Probe and validate `path` as `python -m patchvsr upscale` does, then decode the first
    window as both front ends do; returns what was read. Raises `PatchVSRError` on a refusal."""
    job = UpscaleJob(input=path, output=scratch / "out.mp4", out_size=(96, 128))  # (H, W)
    info = validate_job(job)
    count = 0
    with VideoReader(path, info=info) as reader:
        for _, _, rgb in reader.frames(0, WINDOW):
            if rgb.shape != (info.height, info.width, 3) or rgb.dtype != np.uint8:
                raise AssertionError(
                    f"frame {count} is {rgb.shape} {rgb.dtype}, the probe said "
                    f"{info.width}x{info.height}"
                )
            count += 1
    if count != min(WINDOW, info.num_frames):
        raise AssertionError(f"decoded {count} frames of the {info.num_frames} probed")
    return f"{count} frames of {info.width}x{info.height}"


def run_one(path: Path, scratch: Path) -> dict:
    trim_heap()
    reset_peak()
    before = rss_bytes() or 0
    start = time.perf_counter()
    try:
        outcome, message = "frames", read_like_the_front_ends(path, scratch)
    except PatchVSRError as err:
        outcome, message = "refused", str(err)
    except BaseException as err:  # noqa: BLE001 - any other exception is what we look for
        outcome, message = "exception", f"{type(err).__name__}: {err}"
    return {
        "outcome": outcome,
        "message": message,
        "seconds": time.perf_counter() - start,
        "peak_growth": max(0, (peak_bytes() or 0) - before),
        "rss": rss_bytes() or 0,
    }


def _virtual_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def main() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _virtual_kib("VmSize") * 1024 + ADDRESS_SPACE_MARGIN
    if hard == resource.RLIM_INFINITY or limit < hard:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    with tempfile.TemporaryDirectory(prefix="patchvsr-fuzz-") as scratch:
        sys.stdout.write("ready\n")  # imports done: the first case's CPU time is its own
        sys.stdout.flush()
        for line in sys.stdin:
            result = run_one(Path(line.rstrip("\n")), Path(scratch))
            # FFmpeg also says "Cannot allocate memory" about damaged tables; only an
            # allocation that reached the bound is a memory failure. The peak of the address
            # space cannot be reset, so the worker stops after one and a fresh one goes on.
            at_bound = _virtual_kib("VmPeak") * 1024 > limit - (256 << 20)
            if at_bound:
                result["outcome"] = "memory"
                result["message"] = f"an allocation reached the bound ({result['message']})"
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
            if at_bound:
                break


if __name__ == "__main__":
    main()
