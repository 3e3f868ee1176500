"""`python -m patchvsr prepare-data SRC... -o DIR`: a training set from your own videos and images.

    python -m patchvsr prepare-data SRC... -o DIR [--config CONFIG] [--frames N] [--size S]
        [--min-size S] [-q]

Cuts clips of the configured length from the videos under SRC (files or folders), keeps the
images as stills, drops clips with a scene cut, static clips and sources that are too small,
and writes DIR/manifest.json naming each item's source. Running it again adds only what is
new. Train on the result with `data.sources = ["DIR"]` or `train CONFIG --data DIR`. Train
only on media you may use. See `patchvsr.train.prepare`.
"""

from __future__ import annotations

import argparse

from patchvsr.errors import PatchVSRError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare-data",
        help="make a training set from folders of videos and images",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("sources", nargs="+", metavar="SRC", help="video/image files or folders")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="the training folder")
    p.add_argument(
        "--config",
        help="take the clip length and sizes from this training config (data.frames, "
        "data.scenes); default: the 1.3B recipe's (33 frames, 1024 px, at least 512 px)",
    )
    p.add_argument("--frames", type=int, help="frames per clip")
    p.add_argument("--size", type=int, help="scale down so the short side is at most this")
    p.add_argument("--min-size", type=int, help="drop sources whose short side is smaller")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from patchvsr.train.prepare import PrepareSettings, prepare_data

    settings = PrepareSettings()
    if args.config:
        from patchvsr.train.config import load_config

        data = load_config(args.config).data
        settings = PrepareSettings(
            frames=data.frames,
            size=max(max(scene) for scene in data.scenes),
            min_size=min(min(scene) for scene in data.scenes),
        )
    frames = args.frames or settings.frames
    size = args.size or settings.size
    min_size = args.min_size or settings.min_size
    for name, value in (("--frames", frames), ("--size", size), ("--min-size", min_size)):
        if value <= 0:
            raise PatchVSRError(f"{name} must be positive, got {value}")
    settings = PrepareSettings(frames, size, min_size)
    counts = prepare_data(args.sources, args.output, settings, progress=not args.quiet)
    done = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing to do"
    print(f"{args.output}: {done}")
    return 0
