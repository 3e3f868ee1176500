"""The CPU path before and after, side by side: `upscale --scale 4` of the same real clip with
the model as it ran before (libgomp's default spinning wait), as it runs now (passive
waiting, set by `python -m patchvsr` itself), and with bicubic through the same job runner.

The runs alternate and repeat, and each figure is the fastest of its repeats: on a shared CPU
the load moves between runs, and the fastest run is the one least disturbed by it. The two
model outputs are compared frame by frame (the change is in scheduling only, so they must be
identical).

    python -m patchvsr bench --only cpu-speed
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from patchvsr.bench.clip import make_clip, time_cli
from patchvsr.io.reader import read_frames
from patchvsr.metrics import psnr_y

# libgomp's own default when neither variable is set: spin 300,000 times, then sleep. Setting
# it keeps `python -m patchvsr` from choosing passive waiting, so "before" runs as it used to.
BEFORE = {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": "300000"}
AFTER = {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None}


def measure_cpu_speed(
    model: str = "mini",
    size: tuple[int, int] = (256, 144),
    seconds: float = 2.0,
    repeats: int = 2,
    timeout: float = 3600.0,
    log: Callable[[str], None] = print,
) -> dict:
    width, height = size
    runs = {"before": (model, BEFORE), "after": (model, AFTER), "bicubic": ("bicubic", AFTER)}
    times: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory(prefix="patchvsr-cpu-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        result = {"clip": make_clip(clip, width, height, seconds), "model_name": model}
        for rep in range(repeats):
            for name, (which, env) in runs.items():
                log(f"cpu speed: {name} ({which}), run {rep + 1}/{repeats} ...")
                out = Path(tmp) / f"{name}.mp4"
                args = ["upscale", str(clip), "-o", str(out), "--scale", "4", "--model", which]
                run = time_cli(args, 0, timeout, env_changes=env)
                if "error" in run:
                    return {**result, "error": f"{name}: {run['error']}"}
                times[name].append(run["seconds"])
                log(f"cpu speed: {name} took {run['seconds']:.1f} s")
        before, after = read_frames(Path(tmp) / "before.mp4"), read_frames(Path(tmp) / "after.mp4")
    best = {name: min(t) for name, t in times.items()}
    frames = result["clip"]["frames"]
    result.update(
        times=times,
        seconds=best,
        seconds_per_frame={name: t / frames for name, t in best.items()},
        speedup=best["before"] / best["after"],
        before_over_bicubic=best["before"] / best["bicubic"],
        after_over_bicubic=best["after"] / best["bicubic"],
        identical_output=bool(np.array_equal(before, after)),
        psnr_after_vs_before=psnr_y(after, before),
    )
    return result


def format_cpu_speed(r: dict) -> str:
    clip = r["clip"]
    head = (
        f"CPU path: upscale --scale 4 of a real {clip['width']}x{clip['height']} clip, "
        f"{clip['frames']} frames, fastest of {len(r['times']['after'])} alternating runs each"
    )
    if "error" in r:
        return f"{head}\n  {r['error']}"
    s, per = r["seconds"], r["seconds_per_frame"]
    name = r["model_name"]
    lines = [head]
    for key, label in (
        ("before", f"{name}, before (spinning OpenMP wait)"),
        ("after", f"{name}, now (passive wait)"),
        ("bicubic", "bicubic"),
    ):
        lines.append(f"  {label}: {s[key]:.1f} s ({per[key]:.2f} s per frame)")
    lines.append(
        f"  {name} now is {r['speedup']:.2f}x faster than before; {name} / bicubic: "
        f"{r['before_over_bicubic']:.1f}x before, {r['after_over_bicubic']:.1f}x now"
    )
    same = "identical" if r["identical_output"] else f"Y-PSNR {r['psnr_after_vs_before']:.2f} dB"
    lines.append(f"  outputs before and after: {same}")
    return "\n".join(lines)
