"""`python -m patchvsr viz`: draw one of the method's pictures for a real clip or image.

    python -m patchvsr viz IN --what grid|weights|location|context|compare -o FIG.png
                      [--patch-index I] [--scale K | --size WxH] [--patch P]
                      [--scheme paper|sliding|tiles|shifted] [--overlap F]
                      [--weights paper|gaussian|linear|uniform] [--frame N] [--other FILE]
                      [--model NAME]

Everything is checked before drawing and the figure is written atomically, so a bad argument
leaves no file behind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from patchvsr.commands.plan import add_plan_options, input_size, plan_from_args
from patchvsr.errors import PatchVSRError
from patchvsr.method.weights import WEIGHT_MODES

WHAT = ("grid", "weights", "location", "context", "compare")
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "viz",
        help="draw the patch grid, weights, location, global view or a comparison",
        description="Draw a picture of the patch plan for a frame of a real video or image.",
    )
    parser.add_argument("input", metavar="IN", help="video, image or frame folder")
    parser.add_argument("--what", choices=WHAT, required=True, help="which picture")
    parser.add_argument("-o", "--output", required=True, metavar="FIG", help="figure file (.png)")
    parser.add_argument(
        "--patch-index",
        type=int,
        metavar="I",
        help="the patch to show (default: the auxiliary patch nearest the centre); "
        "`grid` labels every patch with its index",
    )
    add_plan_options(parser)
    parser.add_argument(
        "--weights", choices=WEIGHT_MODES, default="paper", help="blending weights (default paper)"
    )
    parser.add_argument("--frame", type=int, default=0, metavar="N", help="frame index (default 0)")
    parser.add_argument(
        "--other",
        metavar="FILE",
        help="compare: the second video or image (e.g. the result beside a bicubic upscale); "
        "without it, nearest vs bicubic upscaling of IN",
    )
    parser.add_argument("--dpi", type=int, default=100, help="figure resolution (default 100)")
    return parser


def _check_output(args: argparse.Namespace) -> Path:
    from patchvsr.io.output import check_output_path

    output = Path(args.output)
    if output.suffix.lower() not in FIGURE_SUFFIXES:
        raise PatchVSRError(
            f"figure must end in one of {', '.join(FIGURE_SUFFIXES)}, got {output.name!r}"
        )
    inputs = [args.input] + ([args.other] if args.other else [])
    return check_output_path(output, inputs)


def run(args: argparse.Namespace) -> int:
    from patchvsr import viz
    from patchvsr.io.reader import read_frame

    # 1. Check every argument before any drawing.
    output = _check_output(args)
    if args.frame < 0:
        raise PatchVSRError(f"--frame must be 0 or more, got {args.frame}")
    if not 20 <= args.dpi <= 600:
        raise PatchVSRError(f"--dpi must be between 20 and 600, got {args.dpi}")
    if args.other and args.what != "compare":
        raise PatchVSRError("--other applies to --what compare only")
    in_size = input_size(args.input)
    request, plan = plan_from_args(args, in_size)
    index = args.patch_index
    if index is not None and not 0 <= index < len(plan.patches):
        raise PatchVSRError(
            f"--patch-index {index} is out of range: the plan has {len(plan.patches)} patches "
            f"(0-{len(plan.patches) - 1}); see `python -m patchvsr plan`"
        )
    frame = read_frame(args.input, args.frame)
    other = read_frame(args.other, args.frame) if args.other else None

    # 2. Draw.
    scale = request.scale  # what the location encoding gets (`location.location_scale`)
    if args.what == "grid":
        fig = viz.grid_figure(frame, plan, highlight=index)
    elif args.what == "weights":
        fig = viz.weights_figure(plan, index, args.weights, frame)
    elif args.what == "location":
        fig = viz.location_figure(plan, index, in_size=in_size, out_size=request.out_hw)
    elif args.what == "context":
        fig = viz.context_figure(frame, plan, index)
    elif other is not None:
        names = [f"{Path(p).name}, frame {args.frame}" for p in (args.input, args.other)]
        fig = viz.compare_figure([frame, other], names)
    else:
        size = request.out_hw
        fig = viz.compare_figure(
            [viz.resize_rgb(frame, size, "nearest"), viz.resize_rgb(frame, size, "bicubic")],
            [f"nearest x{scale:.3g}", f"bicubic x{scale:.3g} (the patch condition)"],
        )

    # 3. Write atomically.
    viz.save_figure(fig, output, dpi=args.dpi)
    print(f"wrote {output}")
    return 0
