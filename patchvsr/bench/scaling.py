"""Patch-wise against full-frame inference on the same model as the output grows.

Each (size, mode) runs in a fresh process (`child.run_child`), the two modes alternating at
every size so that both meet the same machine load. The full-frame path's cost grows with the
square of the tokens (global self-attention), so once it runs out of time at one size the
larger sizes are not tried.
"""

from __future__ import annotations

from collections.abc import Callable

from patchvsr.bench.child import run_child
from patchvsr.bench.config import BenchConfig

MODES = ("patch-wise", "full-frame")


def measure_scaling(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict:
    rows: list[dict] = []
    full_frame_stopped = False
    for size in cfg.sizes:
        pair = {}
        for mode in MODES:
            full = mode == "full-frame"
            if full and full_frame_stopped:
                pair[mode] = {"error": "skipped: a smaller size already ran out of time"}
                continue
            log(f"scaling: {size}x{size} {mode} ...")
            job = dict(
                job="upscale",
                model=cfg.model,
                size=size,
                frames=cfg.frames,
                steps=cfg.steps,
                full_frame=full,
                batch=cfg.patch_batch,
                threads=cfg.threads,
            )
            result = run_child(job, cfg.max_seconds)
            full_frame_stopped |= full and "took longer" in result.get("error", "")
            pair[mode] = result
        rows.append({"size": size, **pair, "ratios": _ratios(pair)})
    return {
        "frames": cfg.frames,
        "steps": cfg.steps,
        "patch_batch": cfg.patch_batch,
        "rows": rows,
        "growth": _growth(rows),
    }


def _ratios(pair: dict) -> dict:
    """Full-frame over patch-wise (> 1: patch-wise is cheaper)."""
    a, b = pair["patch-wise"], pair["full-frame"]
    out = {}
    for key in ("seconds", "denoise_seconds", "peak_bytes", "step_peak_bytes"):
        if a.get(key) and b.get(key):
            out[key] = b[key] / a[key]
    return out


def _growth(rows: list[dict]) -> dict:
    """Growth of each mode's peak memory from the smallest to the largest size both ran."""
    both = [r for r in rows if all("peak_bytes" in r[m] for m in MODES)]
    if len(both) < 2:
        return {}
    first, last = both[0], both[-1]
    out = {"from_size": first["size"], "to_size": last["size"]}
    for mode in MODES:
        out[mode] = {
            key: last[mode][key] - first[mode][key]
            for key in ("peak_bytes", "step_peak_bytes")
            if last[mode].get(key) is not None and first[mode].get(key) is not None
        }
    return out
