"""`python -m patchvsr bench`: patch-wise against full-frame inference, side by side.

    python -m patchvsr bench [--quick] [--json] [--model mini|tiny|DIR] [--threads N]
                             [--only seams|cpu-speed] [--before DIR] [--steps N] [--patch P]

One run measures, on the same model: wall time and peak memory of patch-wise and full-frame
upscaling as the output grows (each configuration in its own process), the real 1.3B model's
FLOPs per step at 1080p/1440p/4K (meta device), where the time of a patch-wise run goes, the
shared global branch, patch batching, `upscale --scale 4` of a short real clip end to end (the
model against bicubic), and on a CUDA GPU the 1.3B configuration at 4K.
`--quick` takes a few minutes on 2 CPU cores; the full run goes up to the largest output the
full-frame path finishes.
"""

from __future__ import annotations

import argparse
import json
import sys

from patchvsr.bench.config import PRESETS, preset
from patchvsr.errors import PatchVSRError


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark patch-wise against full-frame inference",
        description=__doc__.split("\n\n")[2].replace("\n", " "),
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes on a CPU")
    size.add_argument("--preset", choices=sorted(PRESETS), help="a named preset (smoke: tests)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--model", help="mini (default; random weights if not installed), tiny, or a folder"
    )
    parser.add_argument("--threads", type=int, help="torch threads per run (default: all cores)")
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA measurement")
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="cpu-speed: a checkout of the earlier code, timed beside this one "
        "(e.g. `git worktree add DIR COMMIT`)",
    )
    parser.add_argument(
        "--steps", type=int, default=4, help="seams: denoising steps of every run (default 4)"
    )
    parser.add_argument(
        "--patch", type=int, help="seams: patch size in output pixels (default: the model's own)"
    )
    parser.add_argument(
        "--only",
        choices=sorted(PARTS),
        help="run one comparison alone: seams (tiles, paper and shifted grids at 4 steps, "
        "figure in assets/figures/seams.png) or cpu-speed (the CPU path before and after, "
        "beside bicubic)",
    )
    return parser


def _seams(args: argparse.Namespace, log) -> tuple[dict, str]:
    from patchvsr.bench.seams import compare_seams, figure_path, format_seams

    if args.steps < 1:
        raise PatchVSRError(f"--steps must be 1 or more, got {args.steps}")
    figure = figure_path(args.steps, args.patch)
    result = compare_seams(
        model=args.model or "mini", steps=args.steps, patch=args.patch, figure=figure, log=log
    )
    return result, format_seams(result)


def _cpu_speed(args: argparse.Namespace, log) -> tuple[dict, str]:
    from patchvsr.bench.cpu_speed import format_cpu_speed, measure_cpu_speed

    result = measure_cpu_speed(model=args.model or "mini", before=args.before, log=log)
    return result, format_cpu_speed(result)


PARTS = {"seams": _seams, "cpu-speed": _cpu_speed}


def run(args: argparse.Namespace) -> int:
    from patchvsr.bench.clip import example_clip
    from patchvsr.bench.report import format_report

    example_clip()  # every run needs it: refuse before minutes of other sections
    if args.only:
        result, text = PARTS[args.only](args, lambda msg: print(msg, file=sys.stderr, flush=True))
        print(json.dumps(result, indent=2, default=str) if args.json else text)
        return 0
    from patchvsr.bench.suite import run_suite

    name = args.preset or ("quick" if args.quick else "full")
    cfg = preset(name, model=args.model, threads=args.threads, cuda=False if args.no_cuda else None)
    result = run_suite(cfg, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0
