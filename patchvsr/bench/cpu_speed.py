"""The CPU path before and after, side by side: `upscale --scale 4` of the same real clip
with the model as the earlier code runs it (a checkout given by `--before`), as this code runs
it, and with bicubic through this code's job runner.

    python -m patchvsr bench --only cpu-speed [--before DIR]

Everything a user waits for is timed: starting Python, imports, loading the model, decoding,
upscaling, encoding. The runs alternate and repeat, and each figure is the fastest of its
repeats: on a shared CPU the load moves between runs, and the fastest run is the one least
disturbed by it. The outputs of before and after are compared frame by frame (Y-PSNR of one
against the other, on PNG frames of the first window and on the whole encoded clip), so a
speed-up that changes the picture shows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from patchvsr.bench.child import PACKAGE_ROOT
from patchvsr.bench.clip import make_clip, time_cli
from patchvsr.errors import PatchVSRError
from patchvsr.io.reader import read_frames
from patchvsr.metrics import psnr_y


def _check_checkout(root: Path) -> Path:
    root = Path(root).resolve()
    if not (root / "patchvsr" / "__main__.py").is_file():
        raise PatchVSRError(f"--before {root} is not a checkout of this project (no patchvsr/)")
    return root


def _compare_frames(tmp: Path, model: str, size: tuple[int, int], before: Path, timeout) -> dict:
    """Before against after on the clip's first window, written as PNG frames: the H.264 of
    the timed runs turns a change of one level into larger ones where its decisions flip."""
    short = tmp / "short.mp4"
    make_clip(short, *size, seconds=0.25)
    frames = {}
    for name, root in (("before", before), ("after", PACKAGE_ROOT)):
        out = tmp / f"{name}-frames"
        args = ["upscale", str(short), "-o", str(out), "--scale", "4", "--model", model]
        run = time_cli([*args, "--frames"], 0, timeout, package_root=root)
        if "error" in run:
            return {"error": f"{name} (frames): {run['error']}"}
        frames[name] = read_frames(out)
    old, new = frames["before"], frames["after"]
    return {
        "compared_frames": len(new),
        "psnr_after_vs_before": psnr_y(new, old),
        "max_difference": int(np.abs(new.astype(np.int16) - old).max()),
    }


def measure_cpu_speed(
    model: str = "mini",
    size: tuple[int, int] = (256, 144),
    seconds: float = 2.0,
    repeats: int = 2,
    before: Path | None = None,
    timeout: float = 3600.0,
    log: Callable[[str], None] = print,
) -> dict:
    """Seconds of `upscale --scale 4` with `model` now, with bicubic, and with `model` as the
    checkout `before` runs it (left out when None), fastest of `repeats` alternating runs."""
    width, height = size
    runs = {"after": (model, PACKAGE_ROOT), "bicubic": ("bicubic", PACKAGE_ROOT)}
    if before is not None:
        runs = {"before": (model, _check_checkout(before)), **runs}
    times: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory(prefix="patchvsr-cpu-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        result = {"clip": make_clip(clip, width, height, seconds), "model_name": model}
        result["repeats"] = repeats
        if before is not None:
            result["before_checkout"] = str(runs["before"][1])
        for rep in range(repeats):
            for name, (which, root) in runs.items():
                log(f"cpu speed: {name} ({which}), run {rep + 1}/{repeats} ...")
                out = Path(tmp) / f"{name}.mp4"
                args = ["upscale", str(clip), "-o", str(out), "--scale", "4", "--model", which]
                run = time_cli(args, 0, timeout, package_root=root)
                if "error" in run:
                    return {**result, "error": f"{name}: {run['error']}"}
                times[name].append(run["seconds"])
                log(f"cpu speed: {name} took {run['seconds']:.1f} s")
        if before is not None:
            old = read_frames(Path(tmp) / "before.mp4")  # (F, H, W, 3) uint8
            new = read_frames(Path(tmp) / "after.mp4")
            result["video_psnr_after_vs_before"] = psnr_y(new, old)
            compared = _compare_frames(Path(tmp), model, size, runs["before"][1], timeout)
            if "error" in compared:
                return {**result, "error": compared["error"]}
            result.update(compared)
    best = {name: min(t) for name, t in times.items()}
    frames = result["clip"]["frames"]
    result.update(
        times=times,
        seconds=best,
        seconds_per_frame={name: t / frames for name, t in best.items()},
        after_over_bicubic=best["after"] / best["bicubic"],
    )
    if before is not None:
        result["speedup"] = best["before"] / best["after"]
        result["before_over_bicubic"] = best["before"] / best["bicubic"]
    return result


def format_cpu_speed(r: dict) -> str:
    clip = r["clip"]
    head = (
        f"CPU path: upscale --scale 4 of a real {clip['width']}x{clip['height']} clip, "
        f"{clip['frames']} frames, fastest of {r['repeats']} alternating runs each"
    )
    if "error" in r:
        return f"{head}\n  {r['error']}"
    s, per = r["seconds"], r["seconds_per_frame"]
    name = r["model_name"]
    lines = [head]
    labels = {"before": f"{name}, before", "after": f"{name}, now", "bicubic": "bicubic"}
    for key, label in labels.items():
        if key in s:
            lines.append(f"  {label}: {s[key]:.1f} s ({per[key]:.2f} s per frame)")
    if "speedup" in r:
        lines.append(
            f"  {name} now is {r['speedup']:.2f}x faster than before; {name} / bicubic: "
            f"{r['before_over_bicubic']:.1f}x before, {r['after_over_bicubic']:.1f}x now"
        )
        lines.append(
            f"  outputs now against before, first {r['compared_frames']} frames as PNG: Y-PSNR "
            f"{r['psnr_after_vs_before']:.2f} dB, largest difference {r['max_difference']} of "
            f"255; the whole clip through H.264: {r['video_psnr_after_vs_before']:.2f} dB"
        )
    else:
        lines.append(
            f"  {name} / bicubic: {r['after_over_bicubic']:.1f}x (--before DIR: a before row)"
        )
    return "\n".join(lines)
