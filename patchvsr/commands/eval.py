"""`python -m patchvsr eval --pred OUT --ref GT`: how close an upscaled video is to the truth.

    python -m patchvsr eval --pred OUT --ref GT [--border 4] [--patch 512] [--json]

PSNR and SSIM on the Y channel (border cropped) per frame and their means, the seam score of
the prediction (and of the reference, for calibration) on the base-patch grid a PatchVSR run
at `--patch` would use, and the temporal consistency (see `patchvsr.metrics`). Reads videos,
frame folders or images, one frame at a time.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import probe
from patchvsr.io.reader import VideoReader
from patchvsr.metrics import SeamStats, psnr_y, seam_lines, ssim_y, temporal_consistency
from patchvsr.models.configs import WAN_SETTINGS, PlanGeometry, geometry_for
from patchvsr.request import plan_for

DEFAULT_PATCH = WAN_SETTINGS["base_size"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval", help="PSNR/SSIM (Y), seam score, temporal consistency", description=__doc__
    )
    p.add_argument("--pred", required=True, help="upscaled video, frame folder or image")
    p.add_argument("--ref", required=True, help="ground truth of the same size")
    p.add_argument("--border", type=int, default=4, help="pixels cropped per side (default 4)")
    p.add_argument("--patch", type=int, default=DEFAULT_PATCH, help="patch size for the seams")
    p.add_argument("--max-frames", type=int, help="evaluate only the first N frames")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def evaluate(
    pred: str, ref: str, border: int = 4, patch: int = DEFAULT_PATCH, max_frames: int | None = None
) -> dict:
    """All metrics of `pred` against `ref`, streaming both."""
    pi, ri = probe(pred), probe(ref)
    if (pi.width, pi.height) != (ri.width, ri.height):
        raise PatchVSRError(
            f"sizes differ: {pred} is {pi.width}x{pi.height}, {ref} is {ri.width}x{ri.height}"
        )
    if pi.num_frames != ri.num_frames:
        raise PatchVSRError(
            f"frame counts differ: {pred} has {pi.num_frames}, {ref} has {ri.num_frames}"
        )
    if border < 0 or min(pi.width, pi.height) - 2 * border < 11:
        raise PatchVSRError(
            f"--border {border} leaves too little of a {pi.width}x{pi.height} frame"
        )
    try:
        # the plan a run at `patch` makes: the padded frame on the 1.3B's token lattice
        geometry = PlanGeometry(patch, geometry_for("wan2.1-1.3b").align)
        plan = plan_for(geometry, (pi.height, pi.width))
    except ValueError as err:
        raise PatchVSRError(str(err)) from None
    seams_y, seams_x = seam_lines(plan)
    seams_pred, seams_ref = SeamStats(), SeamStats()
    frames, tc, flicker = [], [], []
    prev: tuple[np.ndarray, np.ndarray] | None = None
    count = pi.num_frames if max_frames is None else min(max_frames, pi.num_frames)
    with VideoReader(pred, info=pi) as rp, VideoReader(ref, info=ri) as rr:
        for (i, _, p), (_, _, r) in zip(rp.frames(0, count), rr.frames(0, count), strict=True):
            frames.append({"index": i, "psnr": psnr_y(p, r, border), "ssim": ssim_y(p, r, border)})
            seams_pred.add(p, seams_y, seams_x)
            seams_ref.add(r, seams_y, seams_x)
            if prev is not None:
                pair_p, pair_r = np.stack([prev[0], p]), np.stack([prev[1], r])
                tc.append(temporal_consistency(pair_p, pair_r))
                flicker.append(temporal_consistency(pair_p))
            prev = (p, r)
    return {
        "pred": str(pred),
        "ref": str(ref),
        "size": [pi.width, pi.height],
        "num_frames": len(frames),
        "border": border,
        "mean": {
            "psnr": float(np.mean([f["psnr"] for f in frames])),
            "ssim": float(np.mean([f["ssim"] for f in frames])),
        },
        "seam_score": seams_pred.score(),
        "seam_score_ref": seams_ref.score(),
        "seams": {"patch": patch, "y": seams_y, "x": seams_x},
        "temporal_consistency": float(np.mean(tc)) if tc else None,
        "flicker_pred": float(np.mean(flicker)) if flicker else None,
        "frames": frames,
    }


def _json_safe(value):
    """NaN/inf are not JSON: write them as null / a large number's string."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _fmt(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def run(args: argparse.Namespace) -> int:
    if args.max_frames is not None and args.max_frames <= 0:
        raise PatchVSRError("--max-frames must be positive")
    result = evaluate(args.pred, args.ref, args.border, args.patch, args.max_frames)
    if args.json:
        print(json.dumps(_json_safe(result), indent=1))
        return 0
    print(f"{'frame':>6}  {'PSNR-Y':>8}  {'SSIM-Y':>7}")
    for f in result["frames"]:
        print(f"{f['index']:>6}  {_fmt(f['psnr'], 2):>8}  {_fmt(f['ssim'], 4):>7}")
    mean = result["mean"]
    print(f"{'mean':>6}  {_fmt(mean['psnr'], 2):>8}  {_fmt(mean['ssim'], 4):>7}")
    print(
        f"seam score {_fmt(result['seam_score'], 3)} (reference {_fmt(result['seam_score_ref'], 3)},"
        f" patch {args.patch}; ~1 = no seams)"
    )
    print(
        f"temporal consistency {_fmt(result['temporal_consistency'], 3)} "
        f"(flicker of prediction {_fmt(result['flicker_pred'], 3)}; lower is better)"
    )
    return 0
