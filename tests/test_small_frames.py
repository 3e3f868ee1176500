"""Tiny output frames with every encoder the writer is likely to be given: each size is written
or refused with a one-line `PatchVSRError`, and the process never dies.

x265 corrupts the heap on frames 48 pixels wide or narrower (48x32 aborted the fuzzer's
process) and SVT-AV1 crashes under 25 pixels wide, so the cases run in a child process with
glibc's heap checking on, where such a write aborts at once instead of later, by chance.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from patchvsr.errors import PatchVSRError
from patchvsr.video.jobs import UpscaleJob, validate_job

ROOT = Path(__file__).resolve().parents[1]
MALLOC_DEBUG = Path("/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so")
# (encoder, container): every encoder of the usual containers that PyAV's libraries have.
ENCODERS = [("libx264", ".mp4"), ("libx264rgb", ".mkv"), ("libx265", ".mp4"),
            ("libvpx", ".webm"), ("libvpx-vp9", ".webm"), ("libsvtav1", ".mp4"),
            ("mpeg4", ".mp4"), ("mpeg2video", ".mkv"), ("mjpeg", ".mkv"), ("png", ".mov"),
            ("ffv1", ".mkv"), ("prores_ks", ".mov")]  # fmt: skip
SIZES = [(2, 2), (16, 16), (17, 9), (33, 31), (48, 32), (50, 16), (64, 48)]

CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    from patchvsr.errors import PatchVSRError
    from patchvsr.io.probe import probe
    from patchvsr.io.writer import VideoWriter

    folder, cases = sys.argv[1], json.loads(sys.argv[2])
    for codec, suffix, width, height in cases:
        print(json.dumps({"case": [codec, width, height], "started": True}), flush=True)
        path = f"{folder}/{codec}-{width}x{height}{suffix}"
        try:
            with VideoWriter(path, width, height, codec=codec) as writer:
                for i in range(3):
                    writer.write(np.full((height, width, 3), 60 * i, np.uint8))
            info = probe(path)
            outcome = f"written {info.width}x{info.height}, {info.num_frames} frames"
        except PatchVSRError as err:
            outcome = f"refused: {err}"
        print(json.dumps({"case": [codec, width, height], "outcome": outcome}), flush=True)
""")


def run_cases(folder: Path) -> tuple[subprocess.CompletedProcess, dict]:
    cases = [[codec, suffix, w, h] for codec, suffix in ENCODERS for w, h in SIZES]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_CHECK_": "3"}
    if MALLOC_DEBUG.exists():  # glibc 2.34 on: the checks live in this library
        env["LD_PRELOAD"] = str(MALLOC_DEBUG)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder), json.dumps(cases)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, {tuple(r["case"]): r.get("outcome") for r in lines}


@pytest.mark.slow
def test_tiny_frames_are_written_or_refused_on_one_line_never_a_crash(tmp_path):
    done, outcomes = run_cases(tmp_path)
    died_on = [case for case, outcome in outcomes.items() if outcome is None]
    assert done.returncode == 0, f"the writing process died (status {done.returncode}) on {died_on}"
    assert len(outcomes) == len(ENCODERS) * len(SIZES)
    for (codec, width, height), outcome in outcomes.items():
        if outcome.startswith("refused: "):
            assert "\n" not in outcome and "Traceback" not in outcome, outcome
        else:
            assert outcome == f"written {width}x{height}, 3 frames", (codec, outcome)
    # What the measurements behind `MIN_FRAME_SIZE` say: refused up front below it, written above.
    assert outcomes[("libx265", 48, 32)].startswith("refused: libx265 cannot encode 48x32 frames")
    assert outcomes[("libx265", 50, 16)] == "written 50x16, 3 frames"
    assert outcomes[("libsvtav1", 16, 16)].startswith("refused: libsvtav1 cannot encode")
    assert outcomes[("libsvtav1", 33, 31)] == "written 33x31, 3 frames"
    # Encoders that take any size do (MJPEG too: it needs full-range YUV, which it now gets).
    for codec in ("libx264", "libvpx-vp9", "mpeg4", "mjpeg", "png"):
        assert all(outcomes[(codec, w, h)].startswith("written") for w, h in SIZES), codec


@pytest.mark.parametrize("target", ["output", "comparison"])
def test_a_job_with_frames_too_small_for_its_codec_is_refused_before_any_work(
    make_clip, tmp_path, target
):
    """`python -m patchvsr upscale small.mp4 -o out.mp4 --codec libx265` stops at validation,
    for the output or for the comparison video, and leaves nothing behind."""
    clip = make_clip(size=(12, 8), frames=2, audio=False)
    out = tmp_path / "out"
    out.mkdir()
    job = UpscaleJob(input=clip, output=out / "up.mp4", out_size=(32, 48), codec="libx265")
    if target == "comparison":  # the output is a frame folder; the comparison a video
        job.output, job.as_frames = out / "frames", True
        job.compare, job.compare_mode = out / "cmp.mp4", "split"
    with pytest.raises(PatchVSRError, match=r"^libx265 cannot encode 48x32 frames") as err:
        validate_job(job)
    assert "\n" not in str(err.value)
    assert not list(out.iterdir())
