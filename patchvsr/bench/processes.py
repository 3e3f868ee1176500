"""Several processes against one: the same `upscale` on 1 and on 2 processes, and how evenly
the 4K grid's patches split over 2, 4 and 8.

The timing runs the command line as a user does, once alone and twice under
`python -m torch.distributed.run --standalone --nproc_per_node 2` (once sharing whole windows,
once sharing each step's patches), on the same clip, one after the other. Each process of a
2-process run gets one torch thread (torchrun's default), the single process all of them:
on a machine with as many cores as processes, the second process only helps as far as
torch's own threads did not already keep the cores busy. The balance is arithmetic on the
plan the pipeline runs (the 1.3B configuration: 512-pixel patches, 8x VAE, 2x2 tokens,
33 frames), the same split `patchvsr.parallel` makes.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from patchvsr.bench.clip import make_clip, time_cli
from patchvsr.method.grid import plan_patches
from patchvsr.parallel.balance import balance, patch_tokens

FULL_4K = (2160, 3840)
LATENT_FRAMES_33 = 9  # 33 frames through Wan's 4x temporal VAE


def balance_table(processes: tuple[int, ...] = (2, 4, 8), size=FULL_4K) -> dict:
    """Tokens per process and the idle share of a step for the 1.3B model's grid."""
    plan = plan_patches(*size, 512, "paper", align=16).scaled(8)
    tokens = [t * LATENT_FRAMES_33 for t in patch_tokens(plan, (2, 2))]
    rows = []
    for n in processes:
        split = balance(tokens, n)
        rows.append(
            {
                "processes": n,
                "patches": list(split.patches),
                "tokens": list(split.tokens),
                "idle_share": split.idle_share,
                "speedup": split.speedup,
            }
        )
    return {"size": list(size), "evaluations": len(tokens), "tokens": sum(tokens), "rows": rows}


def measure_processes(
    model: str,
    clip_size: tuple[int, int],
    clip_seconds: float,
    threads: int = 0,
    log: Callable[[str], None] = print,
    timeout: float = 1800.0,
) -> dict:
    """`upscale --scale 4` of the same clip on 1 process and on 2 (windows, then patches)."""
    width, height = clip_size
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    torchrun += ["--nproc_per_node", "2"]
    with tempfile.TemporaryDirectory(prefix="patchvsr-bench-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        result = {"clip": make_clip(clip, width, height, clip_seconds), "model_name": model}
        runs = {
            "one": (None, []),
            "two_windows": (torchrun, ["--parallel", "windows"]),
            "two_patches": (torchrun, ["--parallel", "patches"]),
        }
        for key, (launcher, extra) in runs.items():
            log(f"processes: upscale {width}x{height} x4 with {model}, {key.replace('_', ' ')} ...")
            out = Path(tmp) / f"{key}.mp4"
            args = ["upscale", str(clip), "-o", str(out), "--scale", "4", "--model", model]
            result[key] = time_cli([*args, *extra], threads, timeout, launcher)
    one = result["one"].get("seconds")
    for key in ("two_windows", "two_patches"):
        two = result[key].get("seconds")
        if one and two:
            result[key]["speedup"] = one / two
    return result


def format_processes(p: dict, b: dict) -> str:
    clip = p["clip"]
    lines = [
        f"Several processes: upscale --scale 4 of a {clip['width']}x{clip['height']}, "
        f"{clip['frames']}-frame clip with {p['model_name']}, 1 process against "
        "torchrun --nproc_per_node 2 (model loading and start-up included)"
    ]
    for key, label in (
        ("one", "1 process"),
        ("two_windows", "2 processes, windows"),
        ("two_patches", "2 processes, patches"),
    ):
        run = p[key]
        if "error" in run:
            lines.append(f"  {label}: {run['error']}")
            continue
        speed = f" ({run['speedup']:.2f}x one process)" if "speedup" in run else ""
        lines.append(f"  {label}: {run['seconds']:.1f} s{speed}")
    h, w = b["size"]
    lines.append(
        f"Balance of the {w}x{h} grid ({b['evaluations']} evaluations, {b['tokens']:,} tokens "
        "per step at 33 frames), split by tokens:"
    )
    for row in b["rows"]:
        lines.append(
            f"  N={row['processes']}: {min(row['tokens']):,}-{max(row['tokens']):,} tokens, "
            f"{min(row['patches'])}-{max(row['patches'])} patches per process, "
            f"{row['idle_share']:.1%} of a step idle, {row['speedup']:.2f}x at best"
        )
    return "\n".join(lines)
