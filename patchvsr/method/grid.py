"""Patch grids for patch-wise super-resolution (the weight maps that fuse them: `weights`).

The paper's scheme (multi-patch joint modulation): the output frame is cut into
non-overlapping *base* patches of the base model's size P, and *auxiliary* patches are centred
on every vertical seam, every horizontal seam and every seam crossing, overlapping each
neighbour by half. At every denoising step all predictions are fused on one canvas with
per-patch weights.

The shifted scheme drops the auxiliary patches: base patches only, but each denoising step
moves every seam (`step_plan`), so a seam left by one step lies inside a patch at the next and
no seam sits in one place twice. A 4K step then costs 28 evaluations instead of 91. At one
step it is plain tiling.

Geometry here is plain data in pixels (or any unit: `PatchPlan.scaled` converts to latent
units), testable without torch. Boxes are `(y0, x0, y1, x1)`, end exclusive.

Sizes that are not multiples of P: a dimension of length L gets `n = max(1, L // P)` base
spans, each at least P long, the remainder spread over them in steps of `align` pixels. So no
patch is smaller than P unless the frame is, no patch leaves the frame, the base patches tile
the frame exactly, and the largest patch stays below 2P. Interior edges are multiples of
`align` (16 = VAE factor 8 x transformer patch 2), so every box maps onto whole latent tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

Kind = Literal["base", "aux"]
Scheme = Literal["paper", "sliding", "tiles", "shifted"]

SCHEMES: tuple[str, ...] = ("paper", "sliding", "tiles", "shifted")


@dataclass(frozen=True)
class Patch:
    """One patch of the grid. `seam` says which seam an auxiliary patch sits on:
    "v" (vertical seam), "h" (horizontal seam), "x" (a crossing); empty for base patches."""

    y0: int
    x0: int
    y1: int
    x1: int
    kind: Kind = "base"
    seam: str = ""

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.y0, self.x0, self.y1, self.x1)

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    def __str__(self) -> str:
        tag = f"{self.kind}:{self.seam}" if self.seam else self.kind
        return f"{tag}[y {self.y0}:{self.y1}, x {self.x0}:{self.x1}]"


@dataclass(frozen=True)
class PatchPlan:
    """All patches for one output size. `ramp` is the length over which a patch's weight
    fades towards an interior edge (half a patch for the paper's grid, the overlap for a
    sliding window). `offset` (dy, dx) is how far the seams of a shifted plan lie from the
    unshifted grid's (zero for every other scheme and for the first step)."""

    height: int
    width: int
    patch_size: int
    scheme: Scheme
    patches: tuple[Patch, ...]
    ramp: int
    align: int = 16
    overlap: float = 0.0
    notes: tuple[str, ...] = field(default=())
    offset: tuple[int, int] = (0, 0)

    @property
    def base(self) -> list[Patch]:
        return [p for p in self.patches if p.kind == "base"]

    @property
    def aux(self) -> list[Patch]:
        return [p for p in self.patches if p.kind == "aux"]

    @property
    def evaluations_per_step(self) -> int:
        """Model evaluations per denoising step: one per patch."""
        return len(self.patches)

    def scaled(self, factor: int) -> PatchPlan:
        """The same plan in units `factor` times coarser (pixels -> latent cells).

        Every box edge must be divisible by `factor`; the pipeline pads the frame so it is."""
        coords = [c for p in self.patches for c in p.box] + [self.height, self.width]
        if any(c % factor for c in coords):
            raise ValueError(f"plan edges are not multiples of {factor}")
        patches = tuple(
            Patch(p.y0 // factor, p.x0 // factor, p.y1 // factor, p.x1 // factor, p.kind, p.seam)
            for p in self.patches
        )
        return PatchPlan(
            height=self.height // factor,
            width=self.width // factor,
            patch_size=self.patch_size // factor,
            scheme=self.scheme,
            patches=patches,
            ramp=max(1, self.ramp // factor),
            align=max(1, self.align // factor),
            overlap=self.overlap,
            notes=self.notes,
            offset=(self.offset[0] // factor, self.offset[1] // factor),
        )

    def to_dict(self) -> dict:
        return {
            "out_size": [self.height, self.width],
            "patch_size": self.patch_size,
            "scheme": self.scheme,
            "align": self.align,
            "num_base": len(self.base),
            "num_aux": len(self.aux),
            "evaluations_per_step": self.evaluations_per_step,
            **({"offset": list(self.offset)} if self.scheme == "shifted" else {}),
            "patches": [
                {"box": list(p.box), "kind": p.kind, **({"seam": p.seam} if p.seam else {})}
                for p in self.patches
            ],
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        sizes = sorted({(p.height, p.width) for p in self.base})
        lines = [
            f"output        {self.width}x{self.height} (W x H)",
            f"scheme        {self.scheme}, patch {self.patch_size}, align {self.align}",
            f"base patches  {len(self.base)}  sizes (h x w): "
            + ", ".join(f"{h}x{w}" for h, w in sizes),
        ]
        if self.scheme == "paper":
            by_seam = {s: sum(p.seam == s for p in self.aux) for s in "vhx"}
            lines.append(
                f"aux patches   {len(self.aux)}  (vertical seams {by_seam['v']}, "
                f"horizontal seams {by_seam['h']}, crossings {by_seam['x']})"
            )
        elif self.scheme == "sliding":
            lines.append(f"overlap       {self.overlap:.0%}")
        elif self.scheme == "shifted":
            offsets = ", ".join(f"{step.offset[1]:+d}" for step in step_plans(self, 4))
            lines.append(f"seam shift    x offsets of steps 1-4: {offsets} (y alike)")
        lines.append(
            f"evaluations   {self.evaluations_per_step} model evaluations per denoising step"
        )
        lines += [f"note          {n}" for n in self.notes]
        return "\n".join(lines)


def validate_patch_size(patch_size: int, align: int = 16) -> None:
    if patch_size <= 0 or patch_size % align:
        raise ValueError(f"patch size must be a positive multiple of {align}, got {patch_size}")


def base_spans(length: int, patch: int, align: int = 16) -> list[tuple[int, int]]:
    """Split [0, length) into `max(1, length // patch)` spans, each >= patch (unless the
    whole length is shorter), interior edges on multiples of `align`."""
    n = max(1, length // patch)
    if n == 1:
        return [(0, length)]
    extra = length - n * patch  # >= 0, spread over the spans in whole `align` steps
    edges = [i * patch + align * ((extra * i) // (n * align)) for i in range(n)] + [length]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _seam_span(seam: int, length: int, patch: int, align: int) -> tuple[int, int]:
    """A span of `patch` centred on `seam`, on the `align` lattice, kept inside [0, length)."""
    size = min(patch, length)
    start = seam - size // 2
    start = align * round(start / align)
    start = min(max(start, 0), length - size)
    return start, start + size


def plan_patches(
    height: int,
    width: int,
    patch_size: int = 512,
    scheme: Scheme = "paper",
    overlap: float = 0.25,
    align: int = 16,
) -> PatchPlan:
    """Plan the patches that cover an output of `height` x `width`.

    scheme "paper": base patches plus auxiliary seam patches (the paper's joint modulation);
    "sliding": equal windows of `patch_size` with the given overlap fraction (MultiDiffusion,
    tiled upscalers); "tiles": base patches only (naive tiling, for comparison).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    validate_patch_size(patch_size, align)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    notes = []
    if patch_size > max(height, width):
        notes.append(f"frame {width}x{height} is smaller than the patch: one patch covers it")

    if scheme == "sliding":
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        ys = _sliding_starts(height, patch_size, overlap, align)
        xs = _sliding_starts(width, patch_size, overlap, align)
        ph, pw = min(patch_size, height), min(patch_size, width)
        patches = tuple(Patch(y, x, y + ph, x + pw) for y in ys for x in xs)
        ramp = max(align, int(round(patch_size * overlap)))
        return PatchPlan(
            height, width, patch_size, scheme, patches, ramp, align, overlap, tuple(notes)
        )

    rows = base_spans(height, patch_size, align)
    cols = base_spans(width, patch_size, align)
    patches = [Patch(y0, x0, y1, x1) for y0, y1 in rows for x0, x1 in cols]
    if scheme == "paper":
        row_seams = [_seam_span(y1, height, patch_size, align) for _, y1 in rows[:-1]]
        col_seams = [_seam_span(x1, width, patch_size, align) for _, x1 in cols[:-1]]
        patches += [Patch(y0, x0, y1, x1, "aux", "v") for y0, y1 in rows for x0, x1 in col_seams]
        patches += [Patch(y0, x0, y1, x1, "aux", "h") for y0, y1 in row_seams for x0, x1 in cols]
        patches += [
            Patch(y0, x0, y1, x1, "aux", "x") for y0, y1 in row_seams for x0, x1 in col_seams
        ]
    if scheme == "shifted":
        notes.append("base patches only; every denoising step moves the seams (step_plan)")
    ramp = max(1, min(patch_size, height, width) // 2)
    return PatchPlan(
        height, width, patch_size, scheme, tuple(patches), ramp, align, 0.0, tuple(notes)
    )


def _sliding_starts(length: int, patch: int, overlap: float, align: int) -> list[int]:
    if patch >= length:
        return [0]
    stride = max(align, align * int(patch * (1.0 - overlap) // align))
    count = math.ceil((length - patch) / stride) + 1
    starts = [min(i * stride, length - patch) for i in range(count)]
    return sorted(set(starts))


# --- shifted grids ---------------------------------------------------------------------------


def van_der_corput(step: int) -> float:
    """The step-th point of the base-2 van der Corput sequence in [0, 1): 0, 1/2, 1/4, 3/4,
    1/8, ... Each point falls in the widest gap the earlier ones left, so consecutive steps
    differ by a quarter of a patch or more and no two of the first 2^k steps coincide."""
    value, denom = 0.0, 1.0
    while step:
        denom *= 2.0
        value += (step & 1) / denom
        step >>= 1
    return value


def shift_fraction(step: int) -> float:
    """Seam shift of a step as a fraction of the patch, in [-1/2, 1/2): 0, +1/2, +1/4, -1/4,
    +1/8, ... Centring keeps every shifted span between P/2 and its unshifted length + P/2."""
    f = van_der_corput(step)
    return f if f <= 0.5 else f - 1.0


def _shifted_spans(length: int, patch: int, align: int, fraction: float) -> list[tuple[int, int]]:
    """The base spans with every interior edge moved by `fraction` of a patch (on the align
    lattice). One span (a frame at most two patches long) cannot move."""
    spans = base_spans(length, patch, align)
    if len(spans) == 1:
        return spans
    delta = align * round(fraction * patch / align)
    edges = [0] + [y1 + delta for _, y1 in spans[:-1]] + [length]
    return list(zip(edges[:-1], edges[1:], strict=True))


def default_scheme(steps: int) -> str:
    """The scheme a run of `steps` denoising steps uses unless told otherwise. From two steps
    on, the shifted grid: measured on PatchVSR-mini at 4 steps it leaves no more seam than the
    paper's grid (docs/performance.md) at a third of the evaluations. At one step it would be
    plain tiling, so one-step runs keep the paper's seam patches. A model may name its own
    (`default_scheme` in its config, see `PatchVSRPipeline.scheme_for`)."""
    return "shifted" if steps >= 2 else "paper"


def step_plan(plan: PatchPlan, step: int) -> PatchPlan:
    """The plan that denoising step `step` (0-based) evaluates. Other schemes use the same plan
    at every step; a shifted plan moves its seams by `shift_fraction(step)` of a patch."""
    if plan.scheme != "shifted":
        return plan
    fraction = shift_fraction(step)
    rows = _shifted_spans(plan.height, plan.patch_size, plan.align, fraction)
    cols = _shifted_spans(plan.width, plan.patch_size, plan.align, fraction)
    base_rows = base_spans(plan.height, plan.patch_size, plan.align)
    base_cols = base_spans(plan.width, plan.patch_size, plan.align)
    patches = tuple(Patch(y0, x0, y1, x1) for y0, y1 in rows for x0, x1 in cols)
    offset = (rows[0][1] - base_rows[0][1], cols[0][1] - base_cols[0][1])
    return replace(plan, patches=patches, offset=offset)


def step_plans(plan: PatchPlan, steps: int) -> list[PatchPlan]:
    """One plan per denoising step (the same object for every step of an unshifted scheme)."""
    return [step_plan(plan, i) for i in range(steps)]


# A shifted plan's cost is that of the heaviest of its first steps (8 covers every offset a
# run of up to 8 steps takes; later offsets repeat those patch sizes closely).
SHIFT_STEPS_COUNTED = 8


def counted_steps(plan: PatchPlan) -> list[PatchPlan]:
    """The distinct step plans of a plan's first `SHIFT_STEPS_COUNTED` steps: what its cost
    and memory bounds are taken over (the plan alone for every scheme but "shifted")."""
    return list({p.offset: p for p in step_plans(plan, SHIFT_STEPS_COUNTED)}.values())


def heaviest_step(plan: PatchPlan, patch_cost: Callable[[Patch], float]) -> PatchPlan:
    """The counted step plan whose patches cost the most by `patch_cost`."""
    return max(counted_steps(plan), key=lambda q: sum(patch_cost(p) for p in q.patches))


__all__ = [
    "Patch",
    "PatchPlan",
    "SCHEMES",
    "base_spans",
    "counted_steps",
    "default_scheme",
    "heaviest_step",
    "plan_patches",
    "shift_fraction",
    "step_plan",
    "step_plans",
    "validate_patch_size",
]
