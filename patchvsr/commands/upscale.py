"""`python -m patchvsr upscale IN -o OUT`: upscale a video, a folder of frames or an image.

    python -m patchvsr upscale IN [IN ...] -o OUT [--scale K | --size WxH] [--model NAME]
        [--steps N] [--strength S] [--denoise S|auto] [--patch P]
        [--scheme paper|sliding|tiles|shifted]
        [--scheduler unipc|euler|dpm++] [--guidance-scale G] [--negative-prompt TEXT]
        [--vae-dtype fp32|bf16] [--seed S] [--device auto|cuda|mps|cpu]
        [--batch-size B] [--no-colour-fix] [--compare CMP.mp4] [--resume]
        [--crf 18] [--codec libx264] [--frames] [--max-output-pixels N]
        [--parallel auto|patches|windows]

Several inputs, or a folder of videos, go to the folder OUT, one output per input named after
it (see `patchvsr.video.batch`). Keeps the input's frame rate and timestamps and copies its
audio. Shows a progress bar and ends with a one-line summary. `--model bicubic` /
`--model lanczos` are the classical baselines. Output, comparison and work folder are written atomically (see `patchvsr.video.jobs`).
Under `torchrun --nproc_per_node N -m patchvsr upscale ...` the same command shares its work
over N processes (see `patchvsr.parallel`).
"""

from __future__ import annotations

import argparse
import functools
import sys

from patchvsr import parallel
from patchvsr.commands.plan import add_scheme_option
from patchvsr.devices import DEVICES, resolve_device
from patchvsr.errors import PatchVSRError
from patchvsr.io.comparison import MODES
from patchvsr.io.probe import probe
from patchvsr.io.writer import DEFAULT_CODEC, DEFAULT_CRF
from patchvsr.models.configs import VAE_DTYPE, VAE_DTYPE_NAMES
from patchvsr.request import DEFAULT_SCALE, Request, parse_denoise, parse_size
from patchvsr.serve import training_free
from patchvsr.video.batch import plan_batch, run_batch, wants_batch
from patchvsr.video.distributed import MODES as PARALLEL_MODES
from patchvsr.video.distributed import announce, follow, lead_windows, leading
from patchvsr.video.jobs import DEFAULT_MAX_OUTPUT_PIXELS, UpscaleJob, run_job, validate_job
from patchvsr.video.upscalers import BASELINES, get_upscaler

SCHEDULER_NAMES = (
    "unipc",
    "euler",
    "dpm++",
)  # patchvsr.pipeline.scheduling.SCHEDULERS, without diffusers


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "upscale",
        help="upscale a video, frame folder or image",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "input",
        metavar="IN",
        nargs="+",
        help="video, folder of PNG frames, image, or folder of videos",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        required=True,
        help="output video/image; a folder for several",
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, help=f"scale factor (default {DEFAULT_SCALE:g})")
    size.add_argument("--size", metavar="WxH", help="exact output size, e.g. 3840x2160")
    p.add_argument(
        "--model", default="mini", help="mini | tiny | wan2.1-1.3b | DIR | bicubic | lanczos"
    )
    p.add_argument(
        "--adapter",
        help="adapter weights (a folder or hub id) for --model wan2.1-1.3b or a base folder",
    )
    p.add_argument(
        "--steps",
        type=int,
        help="the scheduler's denoising steps, as diffusers counts them (model default if "
        "omitted); int(steps x strength) of them run",
    )
    p.add_argument(
        "--strength",
        type=float,
        help="share of the steps to run, 0..1 (1: from pure noise), as in diffusers' Wan "
        "video-to-video; a model without adapter weights (training-free) defaults to the share "
        "that starts at noise level sigma 0.3, and says both",
    )
    p.add_argument(
        "--scheduler",
        choices=SCHEDULER_NAMES,
        help="sampler, with the model's flow shift (default: the model's own; the hub's Wan "
        "folder ships unipc)",
    )
    p.add_argument(
        "--guidance-scale",
        type=float,
        default=1.0,
        help="classifier-free guidance, 1 = off (default: the picture comes from the input, "
        "not the prompt; above 1 runs the model twice per patch and step)",
    )
    p.add_argument(
        "--negative-prompt",
        metavar="TEXT",
        help="what guidance steers away from (needs a model with a text encoder, e.g. "
        "wan2.1-1.3b, and --guidance-scale above 1; default: the empty prompt)",
    )
    p.add_argument(
        "--vae-dtype",
        choices=VAE_DTYPE_NAMES,
        default=VAE_DTYPE,
        help=f"precision of the Wan autoencoder (default {VAE_DTYPE}: bf16 is faster and "
        "uses half the memory, at some fidelity; see the README)",
    )
    p.add_argument(
        "--denoise",
        default="auto",
        metavar="S|auto",
        help="how strongly mini cleans noise, film grain and codec blocks, 0..1 (0: the most "
        "faithful detail, for clean sources; 1: the cleanest); auto (default) reads it off "
        "the input. Models without the control ignore it",
    )
    p.add_argument(
        "--patch",
        type=int,
        default=None,
        help="patch size in output pixels (default: the model's own; 256 for mini, 512 for "
        "wan2.1-1.3b)",
    )
    add_scheme_option(p, None)
    p.add_argument("--seed", type=int, default=0, help="random seed (window k uses seed + k)")
    p.add_argument(
        "--device", default="auto", choices=DEVICES, help="auto: CUDA, then MPS, then the CPU"
    )
    p.add_argument("--batch-size", type=int, help="patches per model call")
    p.add_argument(
        "--no-colour-fix",
        dest="colour",
        action="store_false",
        help="keep the model's colours instead of matching the input's",
    )
    p.add_argument("--window", type=int, help="frames per temporal window (default: the model's)")
    p.add_argument("--compare", metavar="CMP.mp4", help="also write a bicubic-vs-result video")
    p.add_argument(
        "--compare-mode",
        default="auto",
        choices=MODES,
        help="side by side, or a sweeping split (auto: side unless too wide)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep finished windows of an interrupted run of the same job; with several inputs, "
        "also skip the outputs already written",
    )
    p.add_argument(
        "--crf",
        type=int,
        default=DEFAULT_CRF,
        help=f"encoder quality, lower is better (default {DEFAULT_CRF})",
    )
    p.add_argument("--codec", default=DEFAULT_CODEC, help=f"video codec (default {DEFAULT_CODEC})")
    p.add_argument(
        "--frames",
        action="store_true",
        help="write OUT as a folder of numbered PNG frames instead of a video",
    )
    p.add_argument("--fps", type=float, help="frame rate for frame-folder/image input (default 25)")
    p.add_argument(
        "--max-output-pixels",
        type=int,
        default=DEFAULT_MAX_OUTPUT_PIXELS,
        help="refuse outputs with more pixels per frame "
        f"(default {DEFAULT_MAX_OUTPUT_PIXELS:,} = 7680x4320)",
    )
    p.add_argument(
        "--max-output-mb",
        type=float,
        help="abort (leaving no file) if the output grows beyond this many MB",
    )
    p.add_argument(
        "--parallel",
        default="auto",
        choices=PARALLEL_MODES,
        help="under torchrun: share each step's patches or whole windows (auto: by clip length)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def _check_numbers(args: argparse.Namespace) -> None:
    if args.crf is not None and not 0 <= args.crf <= 51:
        raise PatchVSRError(f"--crf must be in 0..51, got {args.crf}")
    if args.max_output_pixels <= 0:
        raise PatchVSRError("--max-output-pixels must be positive")
    if args.max_output_mb is not None and args.max_output_mb <= 0:
        raise PatchVSRError("--max-output-mb must be positive")
    if args.window is not None and args.window <= 0:
        raise PatchVSRError("--window must be positive")
    if args.fps is not None and not 0 < args.fps <= 1000:
        raise PatchVSRError(f"--fps must be in (0, 1000], got {args.fps}")
    if not args.guidance_scale >= 1.0:
        raise PatchVSRError(f"--guidance-scale must be 1 (off) or more, got {args.guidance_scale}")
    if args.negative_prompt is not None and args.guidance_scale <= 1.0:
        raise PatchVSRError("--negative-prompt needs --guidance-scale above 1")


def _load(args: argparse.Namespace, options: dict):
    return get_upscaler(args.model, **options, device=args.device, batch_size=args.batch_size)


def run(args: argparse.Namespace) -> int:
    _check_numbers(args)
    if args.device != "auto":
        resolve_device(args.device)  # a device that is not there: one line, before any work
    if wants_batch(args.input, args.output, args.frames):
        return _run_batch(args)
    args.input = args.input[0]
    # Under torchrun / accelerate: the main process runs the job, the others help.
    group = parallel.start_group(args.device)
    if group is not None and not group.is_main:
        return follow(group, lambda options: _load(args, options))
    with leading(group):
        print(_run(args, group))
        return 0


def _run_batch(args: argparse.Namespace) -> int:
    """Several clips, one model load (per set of options): see `patchvsr.video.batch`."""
    if args.compare:
        raise PatchVSRError("--compare names one file: upscale one input to compare it")
    plan = plan_batch(args.input, args.output, args.frames, args.codec)  # refusals: no torch
    from patchvsr.parallel.group import launched

    if launched():
        raise PatchVSRError("several inputs under torchrun are not supported: one per command")
    loaded: dict = {}  # the upscaler per set of options, loaded once for every clip

    def run_one(item) -> str:
        clip = argparse.Namespace(**{**vars(args), "input": item.input, "output": item.output})
        return _run(clip, None, loaded)

    report = run_batch(plan, run_one, resume=args.resume, quiet=args.quiet)
    print(report.summary())
    return report.exit_code


def _run(args: argparse.Namespace, group: parallel.Group | None, loaded: dict | None = None) -> str:
    """Upscale one input; returns the summary line."""
    info = probe(args.input, fps=args.fps)  # the one probe of the input
    request = Request.make(
        (info.height, info.width),
        scale=args.scale,
        size=parse_size(args.size) if args.size else None,
        patch_size=args.patch,
        scheme=args.scheme,
        steps=args.steps,
        strength=args.strength,
        denoise=parse_denoise(args.denoise),
    )
    # Everything that changes the result; the work folder's manifest records it for --resume.
    options = {
        "steps": request.steps,
        "strength": request.strength,
        "denoise": request.denoise,
        "patch_size": request.patch_size,
        "scheme": request.scheme,
        "colour": args.colour,
        "adapter": args.adapter,
        "scheduler": args.scheduler,
        "guidance_scale": args.guidance_scale,
        "negative_prompt": args.negative_prompt,
        "vae_dtype": args.vae_dtype,
    }
    job = UpscaleJob(
        input=args.input,
        output=args.output,
        out_size=request.out_hw,
        seed=args.seed,
        codec=args.codec,
        crf=args.crf,
        as_frames=args.frames,
        resume=args.resume,
        compare=args.compare,
        compare_mode=args.compare_mode,
        max_output_pixels=args.max_output_pixels,
        max_output_bytes=int(args.max_output_mb * 1e6) if args.max_output_mb else None,
        window=args.window,
        fps=args.fps,
        options=options,
        quiet=args.quiet,
        parallel=args.parallel,
    )
    validate_job(job, info)  # before loading a model, which can take a while
    announce(group, options)  # the other processes load the same model with the same options
    if args.model.strip().lower() not in BASELINES:
        from patchvsr.runtime import use_free_cores  # loads diffusers: models only

        use_free_cores()  # before the model's first op: torch's thread pool is sized once
    key = repr(sorted(options.items()))
    upscaler = (loaded or {}).get(key)
    if upscaler is None:
        upscaler = _load(args, options)
        if notice := training_free.notice(upscaler):
            print(f"note: {notice}", file=sys.stderr)
        if loaded is not None:
            loaded[key] = upscaler
    lead = None if group is None else functools.partial(lead_windows, group=group)
    result = run_job(job, upscaler, info, lead_windows=lead)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.compare is not None:
        return f"{result.summary()}\ncomparison: {result.compare}"
    return result.summary()
