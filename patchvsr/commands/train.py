"""`python -m patchvsr train CONFIG`: train (or resume) a PatchVSR model from a TOML config.

    python -m patchvsr train CONFIG [--device auto|cpu|cuda] [--resume] [--max-steps N]
        [--time-budget SECONDS] [--out DIR] [--data PATH ...] [--no-export] [-q]

On several processes (GPUs, machines) the same command runs under accelerate:

    accelerate launch [--multi_gpu --num_processes N | --num_machines M ...] -m patchvsr train CONFIG

Writes the run folder (checkpoint, loss curve, sample comparisons, and at the end the EMA
weights as a pipeline folder usable with `upscale --model DIR/pipeline`); see
`patchvsr.train.loop`. Configs: `configs/mini.toml`, `configs/tiny.toml`, `configs/wan2.1-1.3b.toml`.
"""

from __future__ import annotations

import argparse

from patchvsr.errors import PatchVSRError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a model from a TOML config", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("config", metavar="CONFIG", help="training config (.toml)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: the config's")
    p.add_argument("--resume", action="store_true", help="continue the run in the run folder")
    p.add_argument("--max-steps", type=int, help="stop at this step (overrides run.max_steps)")
    p.add_argument(
        "--time-budget", type=float, help="seconds of training, then stop, save and export"
    )
    p.add_argument("--out", metavar="DIR", help="run folder (default: the config's run.out)")
    p.add_argument(
        "--data",
        nargs="+",
        metavar="PATH",
        help="training media (overrides data.sources), e.g. a folder made by prepare-data",
    )
    p.add_argument("--no-export", action="store_true", help="do not write the pipeline folder")
    p.add_argument("-q", "--quiet", action="store_true", help="log to the run folder only")
    return p


def run(args: argparse.Namespace) -> int:
    if args.max_steps is not None and args.max_steps <= 0:
        raise PatchVSRError(f"--max-steps must be positive, got {args.max_steps}")
    if args.time_budget is not None and args.time_budget <= 0:
        raise PatchVSRError(f"--time-budget must be positive, got {args.time_budget}")
    # Imported here: loading torch/diffusers is only worth it once the arguments are good.
    from patchvsr.train import train
    from patchvsr.train.config import load_config

    cfg = load_config(args.config)
    if args.data:
        cfg.data.sources = list(args.data)
    run_dir = train(
        cfg,
        resume=args.resume,
        out=args.out,
        max_steps=args.max_steps,
        time_budget=args.time_budget,
        device=args.device,
        echo=None if args.quiet else print,
        export=not args.no_export,
    )
    from accelerate import PartialState

    if PartialState().is_main_process:  # one line, not one per process
        print(f"run folder: {run_dir}")
    return 0
