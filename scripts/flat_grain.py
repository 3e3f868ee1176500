"""Is an upscale grainier than bicubic in the flat areas of real clips? One line per clip.

    python scripts/flat_grain.py [MODEL_DIR ...] [--denoise auto,1] [--clips A,B]
        [--data ../shared/data] [--frames 8] [--crop 256x144]

Real clips have no ground truth; what can be measured is how much fine texture an upscale puts
where the picture is flat (`patchvsr.flat_pattern.flat_grain`: Y less its Gaussian blur, the
median 16x16 block of the flattest 30%, flatness read from bicubic's upscale). Each clip's
first `--frames` frames, a central crop of `--crop` input pixels, are upscaled x4 by bicubic
and by each model at each `--denoise` level (auto is estimated on the clip's first 16 whole
frames, as `upscale` estimates it). Lower is quieter; a model at or under bicubic adds no grain.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_mini import SCALE, bicubic, parse_denoise_levels  # noqa: E402

from patchvsr.flat_pattern import flat_grain  # noqa: E402
from patchvsr.frames import frames_to_video  # noqa: E402
from patchvsr.io.reader import read_frames  # noqa: E402
from patchvsr.method.denoise_level import estimate_denoise  # noqa: E402
from patchvsr.models.configs import MINI_DIR  # noqa: E402
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline  # noqa: E402
from patchvsr.video.upscalers import FILTER_WINDOW  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLIPS = (
    "dove_demo/001.mp4,dove_demo/002.mp4,dove_demo/004.mp4,realbasicvsr_demo_000,"
    "realesrgan_onepiece/onepiece_demo.mp4,star_input/023_klingai_reedit.mp4,"
    "venhancer_sample/sample.mp4"
)


def central_crop(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    y0, x0 = max(0, (h - height) // 2), max(0, (w - width) // 2)
    crop = frames[:, y0 : y0 + height, x0 : x0 + width]
    return np.ascontiguousarray(crop[:, : crop.shape[1] // 2 * 2, : crop.shape[2] // 2 * 2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[str(MINI_DIR)])
    parser.add_argument("--denoise", default="auto", help="levels, comma-separated (auto, 0..1)")
    parser.add_argument("--clips", default=CLIPS)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--crop", default="256x144", help="input pixels, WxH")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    width, height = (int(v) for v in args.crop.split("x"))
    levels = parse_denoise_levels(args.denoise)
    models = {Path(m).name: PatchVSRPipeline.from_pretrained(m) for m in args.models}
    columns = [f"{name} d={'auto' if lv is None else lv}" for name in models for lv in levels]
    print(f"flat-area grain, x{SCALE}, 8-bit levels of Y (lower is quieter)")
    print(f"{'clip':40s} {'auto':>5s} {'bicubic':>8s} " + " ".join(f"{c:>18s}" for c in columns))
    for clip in args.clips.split(","):
        whole = read_frames(Path(args.data) / clip, 0, FILTER_WINDOW)
        auto = estimate_denoise(frames_to_video(whole))
        lr = central_crop(whole[: args.frames], width, height)
        shape = (len(lr), lr.shape[1] * SCALE, lr.shape[2] * SCALE)
        reference = bicubic(lr, shape)
        row = [flat_grain(reference, reference)]
        for pipe in models.values():
            for level in levels:
                generator = torch.Generator().manual_seed(args.seed)
                at = auto if level is None else level
                out = pipe(lr, scale=SCALE, generator=generator, denoise=at).frames
                row.append(flat_grain(out, reference))
        cells = " ".join(f"{v:>18.2f}" for v in row[1:])
        print(f"{clip:40s} {auto:5.2f} {row[0]:8.2f} {cells}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
