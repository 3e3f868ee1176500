"""The end-to-end figure a CPU user cares about: seconds for `upscale --scale 4` of a short
real clip, run exactly as a user runs it (`python -m patchvsr upscale IN -o OUT`).

The clip is the bundled example (`assets/examples/dove_002.mp4`, a real 2-second, 16 fps clip)
resized to the benchmark's size, 256x144 by default. The command line runs in a child process
twice: with the benchmark's model and with `--model bicubic` through the same job runner, so
their ratio is what the model itself costs over decoding, resizing and encoding. Timings
include starting Python and loading the model, as the user's wait does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from patchvsr.bench.child import PACKAGE_ROOT, child_env
from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import probe
from patchvsr.io.reader import read_frames
from patchvsr.io.writer import VideoWriter
from patchvsr.video.upscalers import lanczos_resize

EXAMPLE = PACKAGE_ROOT / "assets" / "examples" / "dove_002.mp4"


def example_clip() -> Path:
    """The bundled example clip. It comes with a checkout of the repository (`assets/`), not
    with the installed package, so the benchmark refuses at once, in one line, without one."""
    if not EXAMPLE.is_file():
        raise PatchVSRError(
            "the benchmark runs on the example clip assets/examples/dove_002.mp4, which comes "
            f"with a checkout of the repository, not with the installed package ({EXAMPLE} is "
            "missing): run `python -m patchvsr bench` from a checkout"
        )
    return EXAMPLE


def make_clip(path: Path, width: int, height: int, seconds: float) -> dict:
    """Write the first `seconds` of the example clip at `width` x `height`; describe it."""
    example = example_clip()
    info = probe(example)
    count = max(1, min(info.num_frames, round(seconds * info.fps)))
    frames = lanczos_resize(read_frames(example, count=count), (height, width))
    with VideoWriter(path, width, height, rate=info.rate) as writer:
        for frame in frames:
            writer.write(frame)
    return {"width": width, "height": height, "frames": count, "fps": float(info.fps)}


def time_cli(
    args: list[str],
    threads: int,
    timeout: float,
    launcher: list[str] | None = None,
    env_changes: dict | None = None,
    package_root: Path | None = None,
) -> dict:
    """Seconds of one `python -m patchvsr ...` in a fresh process, or {"error": ...}.
    `launcher` replaces `python` (e.g. `python -m torch.distributed.run ...`); `env_changes`
    sets variables (a value of None removes one); `package_root` runs the `patchvsr` of
    another checkout (an earlier version, for a before/after figure)."""
    env = child_env()
    if package_root is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(package_root), env["PYTHONPATH"]])
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    for key, value in (env_changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    cmd = [*(launcher or [sys.executable]), "-m", "patchvsr", *args, "--quiet"]
    start = time.perf_counter()
    try:
        # `python -m` puts the working folder first on the path: run in the checkout timed.
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=package_root
        )
    except subprocess.TimeoutExpired:
        return {"error": f"took longer than {timeout:.0f} s"}
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit code {proc.returncode}: {tail}"}
    return {"seconds": seconds}


def measure_clip(
    model: str,
    size: tuple[int, int],
    seconds: float,
    threads: int = 0,
    timeout: float = 1800.0,
    log: Callable[[str], None] = print,
) -> dict:
    """`upscale --scale 4` of the clip with `model` and with bicubic, side by side."""
    width, height = size
    with tempfile.TemporaryDirectory(prefix="patchvsr-bench-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        result = {"clip": make_clip(clip, width, height, seconds), "scale": 4}
        result["output"] = {"width": 4 * width, "height": 4 * height}
        for name in (model, "bicubic"):
            log(f"clip: upscale {width}x{height} x4 with {name} ...")
            out = Path(tmp) / f"out-{len(result)}.mp4"
            args = ["upscale", str(clip), "-o", str(out), "--scale", "4", "--model", name]
            run = time_cli(args, threads, timeout)
            written = probe(out).num_frames if "error" not in run else None
            if written is not None and written != result["clip"]["frames"]:
                run = {"error": f"the output has {written} frames"}
            result["model" if name == model else "bicubic"] = run
    m, b = result["model"], result["bicubic"]
    if "seconds" in m:
        frames = result["clip"]["frames"]
        m["seconds_per_frame"] = m["seconds"] / frames
        m["times_real_time"] = m["seconds"] / (frames / result["clip"]["fps"])
        if "seconds" in b:
            result["model_over_bicubic"] = m["seconds"] / b["seconds"]
    result["model_name"] = model
    return result
