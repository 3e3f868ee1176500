"""scripts/eval_mini.py: the scores it reports, on the tiny model and on made-up detail."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import eval_mini  # noqa: E402

from patchvsr.method.grid import plan_patches  # noqa: E402
from patchvsr.pipeline.builders import build_tiny  # noqa: E402


def _frames(detail: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(output, bicubic) uint8 clips whose difference is `detail` (F, H, W)."""
    up = np.full((*detail.shape, 3), 128, np.uint8)
    out = np.clip(128 + detail[..., None], 0, 255).astype(np.uint8).repeat(3, -1)
    return out, up


def test_edge_jumps_see_a_seam_and_only_a_seam():
    plan = plan_patches(128, 128, 64, "tiles")  # edges at row and column 64
    rng = np.random.default_rng(0)
    # Detail made per 16-pixel token, as mini makes it: it jumps at every token line.
    tokens = rng.normal(0, 8, (2, 8, 8)).repeat(16, 1).repeat(16, 2)
    clean = eval_mini.EdgeJumps()
    clean.add(*_frames(tokens), plan)
    seamed = tokens.copy()
    seamed[:, :, 64:] += 20  # every patch right of the edge brighter: a seam
    seam = eval_mini.EdgeJumps()
    seam.add(*_frames(seamed), plan)
    assert 0.6 < clean.ratio() < 1.6
    assert seam.ratio() > clean.ratio() + 0.5


def test_evaluate_scores_a_model_against_bicubic():
    hr = np.random.default_rng(1).integers(0, 255, (2, 64, 96, 3), dtype=np.uint8)
    result = eval_mini.evaluate(
        {"tiny": build_tiny()}, [("noise", hr)], "clean", [(1, 1.0)], 0, None, 2
    )
    assert set(result["means"]) == {"bicubic", "tiny"}
    psnr, ssim, tc = result["means"]["tiny"]
    assert 0 < psnr < 100 and -1 <= ssim <= 1 and tc >= 0
    assert math.isfinite(result["patch_edges"]["tiny"])
    with pytest.raises(SystemExit, match="unknown condition"):
        eval_mini.make_lr(hr, "crf99")
