"""Side-by-side crops of real low-quality clips upscaled x4: bicubic, mini models, Real-ESRGAN.

    python scripts/real_clip_crops.py [MODEL_DIR ...] [--out real_crops.png] [--labels A,B]
        [--denoise auto,0,1] [--clips dove_demo/002.mp4,dove_demo/005.mp4,realbasicvsr_demo_000]
        [--data ../shared/data]

Real inputs have no ground truth: this is for looking. The crop is the most textured 48x48 LR
window of each clip's first frame; its first 4 frames (mini's window) are upscaled with 16 LR
pixels of context on every side (cheap on a CPU, and no method sees a frame edge there), and
the crop is shown at x4 (192 px) per method, one row per clip. Real-ESRGAN (realesr-animevideov3) is the
column users compare against; it is left out, with a note, where it is not installed.
`--denoise` gives each model column its denoise level (auto, or 0..1; one model folder may be
listed twice at two levels); models without the control ignore it. Auto is estimated as
`upscale` estimates it, on the clip's first 16 whole frames, not on the crop.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import realesrgan_reference  # noqa: E402
from eval_mini import SCALE, bicubic, parse_denoise_levels, strip, textured_window  # noqa: E402

from patchvsr.frames import frames_to_video  # noqa: E402
from patchvsr.io.reader import read_frames  # noqa: E402
from patchvsr.method.denoise_level import estimate_denoise  # noqa: E402
from patchvsr.models.configs import MINI_DIR  # noqa: E402
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline  # noqa: E402
from patchvsr.video.upscalers import FILTER_WINDOW  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CLIPS = "dove_demo/002.mp4,dove_demo/005.mp4,realbasicvsr_demo_000"
LR_CROP = 48
CONTEXT = 16


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[str(MINI_DIR)])
    parser.add_argument("--labels", help="comma-separated column names for the models")
    parser.add_argument("--denoise", help="comma-separated denoise level per model (auto, 0..1)")
    parser.add_argument("--clips", default=CLIPS)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default="real_crops.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    labels = args.labels.split(",") if args.labels else [Path(m).name for m in args.models]
    if len(labels) != len(args.models):
        raise SystemExit(f"{len(labels)} labels for {len(args.models)} models")
    levels = parse_denoise_levels(args.denoise or ",".join(["auto"] * len(args.models)))
    if len(levels) != len(args.models):
        raise SystemExit(f"{len(levels)} denoise levels for {len(args.models)} models")
    denoise = dict(zip(labels, levels, strict=True))
    models = {
        lb: PatchVSRPipeline.from_pretrained(m) for lb, m in zip(labels, args.models, strict=True)
    }
    reference, why = realesrgan_reference.load()
    if reference is None:
        print(f"note: no Real-ESRGAN column: {why}")
    rows = []
    for clip in args.clips.split(","):
        whole = read_frames(Path(args.data) / clip, 0, FILTER_WINDOW)
        auto = estimate_denoise(frames_to_video(whole))
        whole = whole[:4]
        y, x = textured_window(whole[0], LR_CROP)
        y0, x0 = max(0, y - CONTEXT), max(0, x - CONTEXT)
        lr = np.ascontiguousarray(whole[:, y0 : y + LR_CROP + CONTEXT, x0 : x + LR_CROP + CONTEXT])
        lr = lr[:, : lr.shape[1] // 2 * 2, : lr.shape[2] // 2 * 2]
        hr_shape = (len(lr), lr.shape[1] * SCALE, lr.shape[2] * SCALE)
        outputs = {"bicubic": bicubic(lr, hr_shape)[0]}
        for label, pipe in models.items():
            gen = torch.Generator().manual_seed(args.seed)
            level = auto if denoise[label] is None and pipe.has_denoise else denoise[label]
            out = pipe(lr, scale=SCALE, generator=gen, denoise=level)
            outputs[label] = out.frames[0]
        if reference is not None:
            outputs["Real-ESRGAN"] = reference(lr[:1])[0]
        Y, X, S = (y - y0) * SCALE, (x - x0) * SCALE, LR_CROP * SCALE
        tiles = {k: np.ascontiguousarray(v[Y : Y + S, X : X + S]) for k, v in outputs.items()}
        rows.append(strip(tiles, zoom=1))
        print(
            f"{clip}: LR crop at ({y}, {x}), {LR_CROP} px; auto denoise {auto:.2f}; "
            f"columns: {', '.join(tiles)}"
        )
    sheet = Image.new(
        "RGB", (max(r.width for r in rows), sum(r.height + 14 for r in rows)), "white"
    )
    top = 0
    draw = ImageDraw.Draw(sheet)
    for clip, row in zip(args.clips.split(","), rows, strict=True):
        draw.text((4, top), clip, fill="black")
        sheet.paste(row, (0, top + 14))
        top += row.height + 14
    sheet.save(args.out)
    print(f"{args.out}: {len(rows)} clips")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
