"""`python -m patchvsr plan`: the patch plan for an output size, and what it costs the model.

    python -m patchvsr plan (IN | --in-size WxH) (--scale K | --size WxH) [--patch P]
                       [--scheme paper|sliding|tiles] [--overlap F] [--json]

The size options (`--scale`, `--size`, `--patch`, `--scheme`, `--overlap`) and their checks are
shared with `viz` through `add_plan_options` and `plan_from_args`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import asdict, dataclass

from patchvsr.errors import PatchVSRError
from patchvsr.grid import SCHEMES, PatchPlan, plan_patches

# Outputs larger than this on a side are refused: 16K is beyond any display, and weight maps
# for bigger canvases would take gigabytes.
MAX_OUTPUT_SIDE = 16384
DEFAULT_SCALE = 4.0
DEFAULT_PATCH = 512
DEFAULT_OVERLAP = 0.25


def parse_size(text: str, what: str = "size") -> tuple[int, int]:
    """'WxH' (as people write video sizes) -> (height, width), both positive."""
    match = re.fullmatch(r"\s*(-?\d+)\s*[xX]\s*(-?\d+)\s*", text)
    if not match:
        raise PatchVSRError(f"{what} must look like WIDTHxHEIGHT, e.g. 3840x2160; got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width <= 0 or height <= 0:
        raise PatchVSRError(f"{what} must be positive, got {width}x{height}")
    return height, width


def output_size(
    in_size: tuple[int, int], scale: float | None = None, size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(height, width) of the output: `size` as given, else the input times `scale`, rounded."""
    if size is not None:
        height, width = size
    else:
        scale = DEFAULT_SCALE if scale is None else scale
        if not math.isfinite(scale) or scale <= 0:
            raise PatchVSRError(f"--scale must be a positive number, got {scale:g}")
        height, width = round(in_size[0] * scale), round(in_size[1] * scale)
        if height <= 0 or width <= 0:
            raise PatchVSRError(
                f"--scale {scale:g} makes the {in_size[1]}x{in_size[0]} input vanish "
                f"({width}x{height})"
            )
    if max(height, width) > MAX_OUTPUT_SIDE:
        raise PatchVSRError(
            f"output {width}x{height} is too large: at most {MAX_OUTPUT_SIDE} pixels a side"
        )
    return height, width


def make_plan(
    out_size: tuple[int, int],
    patch: int = DEFAULT_PATCH,
    scheme: str = "paper",
    overlap: float | None = None,
) -> PatchPlan:
    """`grid.plan_patches` with the command line's checks and one-line errors.

    A patch larger than the output on *both* sides is refused: one patch would cover the whole
    frame, and patch-wise super-resolution has nothing to do. A patch larger on one side only is
    fine (a wide, short frame): the patches are then as tall (or wide) as the frame."""
    height, width = out_size
    if patch <= 0 or patch % 16:
        raise PatchVSRError(f"--patch must be a positive multiple of 16, got {patch}")
    if patch > max(height, width):
        raise PatchVSRError(
            f"--patch {patch} is bigger than the whole {width}x{height} output; "
            f"use a patch of at most {max(height, width) // 16 * 16} or a larger output"
        )
    if overlap is not None and scheme != "sliding":
        raise PatchVSRError("--overlap applies to --scheme sliding only")
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    if not 0.0 <= overlap < 1.0:
        raise PatchVSRError(f"--overlap must be in [0, 1), got {overlap:g}")
    try:
        return plan_patches(height, width, patch, scheme, overlap)
    except ValueError as err:
        raise PatchVSRError(str(err)) from None


# --- model work ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCost:
    """The shape of the base transformer, enough to count its work (Wan2.1-T2V-1.3B)."""

    name: str = "Wan2.1-T2V-1.3B"
    dim: int = 1536
    ffn_dim: int = 8960
    layers: int = 30
    text_tokens: int = 512
    vae_spatial: int = 8
    vae_temporal: int = 4
    patch: int = 2  # transformer patch, 2x2 latent cells per token

    def latent_frames(self, frames: int) -> int:
        return (frames - 1) // self.vae_temporal + 1

    def tokens(self, height: int, width: int, frames: int) -> int:
        cell = self.vae_spatial * self.patch  # 16 pixels per token side; edges are padded up
        return math.ceil(height / cell) * math.ceil(width / cell) * self.latent_frames(frames)

    def flops(self, tokens: int) -> float:
        """Forward FLOPs of one evaluation: projections and FFN grow with the tokens, self-
        attention with their square (which is why one full-frame pass costs so much)."""
        n, d, t = tokens, self.dim, self.text_tokens
        per_layer = (
            8 * n * d * d  # self-attention q, k, v, out
            + 4 * n * n * d  # self-attention scores and values
            + 4 * n * d * d
            + 4 * t * d * d  # cross-attention q, out; k, v of the text
            + 4 * n * t * d  # cross-attention scores and values
            + 4 * n * d * self.ffn_dim  # feed-forward
        )
        return float(per_layer * self.layers)


@dataclass(frozen=True)
class WorkEstimate:
    model: str
    frames: int
    latent_frames: int
    tokens_per_patch: list[int]
    tokens_per_step: int
    flops_per_step: float
    full_frame_tokens: int
    full_frame_flops: float


def estimate_work(plan: PatchPlan, frames: int = 33, cost: ModelCost | None = None) -> WorkEstimate:
    """Transformer work of one denoising step over all patches, beside one full-frame pass
    with global attention (base model only; the adapter branches add a few percent)."""
    cost = cost or ModelCost()
    tokens = [cost.tokens(p.height, p.width, frames) for p in plan.patches]
    full = cost.tokens(plan.height, plan.width, frames)
    return WorkEstimate(
        model=cost.name,
        frames=frames,
        latent_frames=cost.latent_frames(frames),
        tokens_per_patch=tokens,
        tokens_per_step=sum(tokens),
        flops_per_step=sum(cost.flops(n) for n in tokens),
        full_frame_tokens=full,
        full_frame_flops=cost.flops(full),
    )


def describe_work(work: WorkEstimate) -> str:
    low, high = min(work.tokens_per_patch), max(work.tokens_per_patch)
    per_patch = f"{low:,}" if low == high else f"{low:,}-{high:,}"
    ratio = work.full_frame_flops / work.flops_per_step
    return "\n".join(
        [
            f"model work    {work.model}, {work.frames} frames ({work.latent_frames} latent), "
            "one token per 16x16 pixels; per denoising step:",
            f"  patches     {len(work.tokens_per_patch)} x {per_patch} tokens = "
            f"{work.tokens_per_step:,} tokens, {work.flops_per_step / 1e15:.2f} PFLOP",
            f"  full frame  {work.full_frame_tokens:,} tokens in one pass with global "
            f"attention, {work.full_frame_flops / 1e15:.2f} PFLOP ({ratio:.1f}x the patches)",
        ]
    )


def plan_report(plan: PatchPlan, in_size: tuple[int, int] | None = None) -> str:
    """The readable summary that `plan` prints and the demo shows."""
    lines = []
    if in_size is not None:
        sy, sx = plan.height / in_size[0], plan.width / in_size[1]
        scale = (
            f"x{sx:.4g}" if math.isclose(sx, sy, rel_tol=1e-3) else f"x{sx:.4g} (w), x{sy:.4g} (h)"
        )
        lines.append(f"input         {in_size[1]}x{in_size[0]} (W x H), scale {scale}")
    lines.append(plan.summary())
    lines.append(describe_work(estimate_work(plan)))
    return "\n".join(lines)


def plan_json(plan: PatchPlan, in_size: tuple[int, int] | None = None) -> dict:
    data = plan.to_dict()
    if in_size is not None:
        data["in_size"] = list(in_size)
    data["work"] = asdict(estimate_work(plan))
    return data


def format_json(data: dict) -> str:
    """JSON with one top-level key per line and one list item per line: a 4K plan stays
    readable (and diffable) instead of nine lines per patch."""

    def value(v) -> str:
        if isinstance(v, list) and v and isinstance(v[0], dict):
            return "[\n" + ",\n".join(f"    {json.dumps(item)}" for item in v) + "\n  ]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {value(v)}" for k, v in data.items()) + "\n}"


# --- command line ----------------------------------------------------------------------------


def add_plan_options(parser: argparse.ArgumentParser) -> None:
    """--scale/--size, --patch, --scheme, --overlap: shared by `plan` and `viz`."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--scale", type=float, metavar="K", help=f"upscaling factor K (default {DEFAULT_SCALE:g})"
    )
    size.add_argument("--size", metavar="WxH", help="output size, e.g. 3840x2160")
    parser.add_argument(
        "--patch",
        type=int,
        default=DEFAULT_PATCH,
        metavar="P",
        help=f"patch size in output pixels, a multiple of 16 (default {DEFAULT_PATCH}); "
        "refused if bigger than the output on both sides",
    )
    parser.add_argument(
        "--scheme",
        choices=SCHEMES,
        default="paper",
        help="paper: base + auxiliary seam patches; sliding: overlapping windows; "
        "tiles: base patches only (default paper)",
    )
    parser.add_argument(
        "--overlap",
        type=float,
        metavar="F",
        help=f"overlap fraction of sliding windows, in [0, 1) (default {DEFAULT_OVERLAP:g})",
    )


def plan_from_args(args: argparse.Namespace, in_size: tuple[int, int]) -> PatchPlan:
    size = parse_size(args.size, "--size") if args.size else None
    return make_plan(output_size(in_size, args.scale, size), args.patch, args.scheme, args.overlap)


def input_size(path: str) -> tuple[int, int]:
    """(height, width) of a video, frame folder or image, read from its header."""
    from patchvsr.io.probe import probe  # PyAV loads only when a file is given

    info = probe(path)
    return info.height, info.width


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "plan",
        help="show the patch plan for an output size",
        description="Show the patches that cover the output (base and auxiliary seam patches), "
        "the model evaluations per denoising step and the model work they cost.",
    )
    parser.add_argument("input", nargs="?", metavar="IN", help="video, image or frame folder")
    parser.add_argument("--in-size", metavar="WxH", help="input size instead of a file")
    add_plan_options(parser)
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    if (args.input is None) == (args.in_size is None):
        raise PatchVSRError("give either an input file IN or --in-size WxH (one of them)")
    in_size = parse_size(args.in_size, "--in-size") if args.in_size else input_size(args.input)
    plan = plan_from_args(args, in_size)
    if args.json:
        print(format_json(plan_json(plan, in_size)))
    else:
        print(plan_report(plan, in_size))
    return 0
