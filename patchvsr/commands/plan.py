"""`python -m patchvsr plan`: the patch plan for an output size, and what it costs the model.

    python -m patchvsr plan (IN | --in-size WxH) (--scale K | --size WxH) [--patch P]
                       [--scheme paper|sliding|tiles|shifted] [--overlap F] [--model NAME] [--json]

The plan is the one the pipeline runs (`patchvsr.request.plan_for` with the model's geometry,
read from its configuration: no weights are loaded). The size options are shared with `viz`
through `add_plan_options` and `request_from_args`.
"""

from __future__ import annotations

import argparse

from patchvsr.cost import format_json, plan_json, plan_report
from patchvsr.errors import PatchVSRError
from patchvsr.method.grid import SCHEMES, PatchPlan
from patchvsr.models.configs import geometry_for
from patchvsr.request import DEFAULT_OVERLAP, DEFAULT_SCALE, Request, parse_size, plan_request

PLAN_MODEL = "wan2.1-1.3b"


def add_scheme_option(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--scheme, as `plan`, `viz` and `upscale` take it (checked by `Request.make`); a default
    of None stands for the model's own (`PatchVSRPipeline.scheme_for`)."""
    default_text = default or (
        "the model's own: mini's is shifted; else shifted from 2 steps on, paper at 1"
    )
    parser.add_argument(
        "--scheme",
        default=default,
        metavar="{" + ",".join(SCHEMES) + "}",
        help="paper: base + auxiliary seam patches; sliding: overlapping windows; "
        "tiles: base patches only; shifted: base patches only, seams moved every step "
        f"(default {default_text})",
    )


def add_plan_options(parser: argparse.ArgumentParser) -> None:
    """--scale/--size, --patch, --scheme, --overlap, --model: shared by `plan` and `viz`."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--scale", type=float, metavar="K", help=f"upscaling factor K (default {DEFAULT_SCALE:g})"
    )
    size.add_argument("--size", metavar="WxH", help="output size, e.g. 3840x2160")
    parser.add_argument(
        "--patch",
        type=int,
        metavar="P",
        help="patch size in output pixels, a multiple of the model's 16 (default: the model's "
        "own: 512 for the 1.3B, 256 for mini); refused if bigger than the output on both sides",
    )
    add_scheme_option(parser, "paper")
    parser.add_argument(
        "--overlap",
        type=float,
        metavar="F",
        help=f"overlap fraction of sliding windows, in [0, 1) (default {DEFAULT_OVERLAP:g})",
    )
    parser.add_argument(
        "--model",
        default=PLAN_MODEL,
        help=f"whose plan: tiny | mini | wan2.1-1.3b | DIR (default {PLAN_MODEL}); "
        "read from its configuration, no weights are loaded",
    )


def request_from_args(args: argparse.Namespace, in_hw: tuple[int, int]) -> Request:
    return Request.make(
        in_hw,
        scale=args.scale,
        size=parse_size(args.size) if args.size else None,
        patch_size=args.patch,
        scheme=args.scheme,
        overlap=args.overlap,
    )


def plan_from_args(args: argparse.Namespace, in_hw: tuple[int, int]) -> tuple[Request, PatchPlan]:
    request = request_from_args(args, in_hw)
    return request, plan_request(geometry_for(args.model), request)


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
    in_hw = parse_size(args.in_size, "in_size") if args.in_size else input_size(args.input)
    request, plan = plan_from_args(args, in_hw)
    if args.json:
        print(format_json(plan_json(plan, in_hw, request.out_hw)))
    else:
        print(plan_report(plan, in_hw, request.out_hw))
    return 0
