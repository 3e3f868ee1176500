"""Seams side by side: plain tiles, the paper's grid and the shifted grid on one clip.

The same model, clip, seed and steps run with each scheme, and once on the whole frame (no
patches, so no patch seams: the reference). Each output is scored with `metrics.seam_score` at
the base grid's seams (where tiles and the paper's grid put them) and at every seam the
shifted grid used. A model's own texture also jumps at some lines (mini's tokens are 16 pixels
wide), so each score is divided by the full-frame output's score at the same lines: 1.0 means
no more jump across those lines than the model makes without patches.

    python -m patchvsr bench --only seams [--steps N] [--patch P]

At the defaults (4 steps, the model's own patch) the figure is assets/figures/seams.png;
other settings write seams-{N}-steps[-{P}px].png beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from patchvsr.bench.clip import EXAMPLE, example_clip
from patchvsr.method.grid import PatchPlan, step_plans
from patchvsr.metrics import seam_lines, seam_score

SCHEMES = ("tiles", "paper", "shifted")
# Beside the example clip, in the checkout's assets/ (the benchmark needs a checkout).
FIGURE = EXAMPLE.parents[1] / "figures" / "seams.png"


def all_seams(plan: PatchPlan, steps: int) -> tuple[list[int], list[int]]:
    """Every seam line any of the plan's steps used (rows, columns)."""
    ys: set[int] = set()
    xs: set[int] = set()
    for step in step_plans(plan, steps):
        rows, cols = seam_lines(step)
        ys.update(rows)
        xs.update(cols)
    return sorted(ys), sorted(xs)


def compare_seams(
    model: str = "mini",
    size: tuple[int, int] = (192, 108),  # input (width, height); the output is x4
    frames: int = 4,
    steps: int = 4,
    seed: int = 0,
    figure: Path | None = FIGURE,
    log: Callable[[str], None] = print,
    patch: int | None = None,
) -> dict:
    """Every scheme at `steps` steps and `patch` pixels (None: the model's own) and the whole
    frame, scored at the base and the shifted seams; the figure goes to `figure`."""
    from patchvsr.io.reader import read_frames
    from patchvsr.runtime import load_pipeline
    from patchvsr.video.upscalers import lanczos_resize

    pipe = load_pipeline(model, "cpu")
    width, height = size
    clip = lanczos_resize(read_frames(example_clip(), count=frames), (height, width))
    outputs, plans, seconds = {}, {}, {}
    for name in ("full-frame", *SCHEMES):
        log(f"seams: {model}, {steps} steps, {name} ...")
        start = time.perf_counter()
        out = pipe(
            clip,
            scale=4,
            num_inference_steps=steps,
            patch_size=patch,
            scheme="tiles" if name == "full-frame" else name,
            full_frame=name == "full-frame",
            generator=torch.Generator().manual_seed(seed),
        )
        seconds[name] = time.perf_counter() - start
        outputs[name], plans[name] = out.frames, out.plan
    lines = {
        "base grid seams": seam_lines(plans["tiles"]),
        "shifted grid seams": all_seams(plans["shifted"], steps),
    }
    result: dict = {
        "model": model,
        "steps": steps,
        "input": [width, height],
        "output": [4 * width, 4 * height],
        "frames": frames,
        "patch": plans["tiles"].patch_size,
        "evaluations_per_step": {n: plans[n].evaluations_per_step for n in SCHEMES},
        "seconds": seconds,
        "scores": {},
        "relative": {},
    }
    for where, (ys, xs) in lines.items():
        raw = {n: seam_score(outputs[n], ys, xs) for n in outputs}
        result["scores"][where] = raw
        result["relative"][where] = {n: raw[n] / raw["full-frame"] for n in SCHEMES}
    if figure is not None:
        result["figure"] = str(seams_figure(outputs, plans["tiles"], figure))
    return result


def figure_path(steps: int, patch: int | None) -> Path:
    """seams.png at the defaults, else a name that says the steps and the patch size."""
    if steps == 4 and patch is None:
        return FIGURE
    size = f"-{patch}px" if patch else ""
    return FIGURE.with_name(f"seams-{steps}-steps{size}.png")


def seams_figure(outputs: dict[str, np.ndarray], plan: PatchPlan, path: Path) -> Path:
    """Crops around one crossing of base seams, enlarged, one panel per output."""
    from patchvsr.viz import new_figure, save_figure

    ys, xs = seam_lines(plan)
    cy, cx = ys[len(ys) // 2] if ys else plan.height // 2, xs[len(xs) // 2]
    half = 48
    names = list(outputs)
    fig = new_figure(2.6 * len(names), 2.9)
    for i, name in enumerate(names):
        frame = outputs[name][0]
        y0, x0 = max(0, cy - half), max(0, cx - half)
        crop = frame[y0 : cy + half, x0 : cx + half]
        ax = fig.add_subplot(1, len(names), i + 1)
        ax.imshow(crop, interpolation="nearest")
        ax.axhline(cy - y0 - 0.5, color="yellow", lw=0.6, ls=":")
        ax.axvline(cx - x0 - 0.5, color="yellow", lw=0.6, ls=":")
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("A crossing of base-grid seams (dotted), 4x enlarged crops", fontsize=9)
    return save_figure(fig, path)


def format_seams(r: dict) -> str:
    if "error" in r:
        return f"seams: {r['error']}"
    lines = [
        f"Seams: {r['model']} at {r['steps']} steps, {r['input'][0]}x{r['input'][1]} x4 to "
        f"{r['output'][0]}x{r['output'][1]}, {r['frames']} frames, {r['patch']}-pixel patches; "
        "seam score over the full-frame output's at the same lines (1.0 = no patch seams)"
    ]
    evals = r["evaluations_per_step"]
    lines.append("  " + "".ljust(20) + "".join(f"{n} ({evals[n]} ev.)".rjust(20) for n in SCHEMES))
    for where, rel in r["relative"].items():
        lines.append("  " + where.ljust(20) + "".join(f"{rel[n]:.3f}".rjust(20) for n in SCHEMES))
    secs = ", ".join(f"{n} {s:.0f} s" for n, s in r["seconds"].items())
    lines.append(f"  time: {secs}")
    if "figure" in r:
        lines.append(f"  figure: {r['figure']}")
    return "\n".join(lines)
