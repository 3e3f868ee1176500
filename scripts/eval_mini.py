"""Evaluate PatchVSR model folders at x4 against bicubic (and Real-ESRGAN as a reference).

    python scripts/eval_mini.py [MODEL_DIR ...] [--sets video,stills,set5,set14]
        [--conditions clean,crf28] [--frames 16] [--settings 1:1.0] [--reference-frames 2]
        [--holdout .devcache/holdout.npz] [--data ../shared/data] [--figure eval.png]
        [--json results.json] [--device cpu] [--seed 0] [--denoise auto,0,1]

Sets: `video` is the held-out video set (the clips of the held-out pack, never trained on, see
scripts/pack_training_data.py), `stills` the held-out images, `set5` and `set14` the benchmarks
in ../shared/data. Conditions (held-out sets; the benchmarks are always `clean`, as reported
before): `clean` is the literature's LR, the HR cropped (top left) to a multiple of 8 and
downscaled by 4 with an antialiased bicubic, rounded to 8 bits; `crf28` is that LR clip
through H.264 (libx264, CRF 28, yuv420p) before upscaling, as web video arrives; `noisy` is
the clean LR with Gaussian noise of sigma 6 (8-bit levels, a fixed seed per item), then H.264
at CRF 28, the issue's noisy-source case. `--denoise` runs each model at these denoise
levels (`auto`: estimated from the input; models without the control ignore it).

Metrics: PSNR and SSIM on Y with a 4-pixel border (`patchvsr.metrics`, per-frame means over
every frame of every item), the gain over bicubic (mean, and the median item's for the video
set, with every clip), and for clips the temporal consistency
against the ground truth (lower is better; bicubic's is the bar). Real-ESRGAN
(realesr-animevideov3, `scripts/realesrgan_reference.py`) runs on the first
`--reference-frames` frames of each item only (it is slow on a CPU); its row compares it with
bicubic on those same frames. It is skipped, with a note, where it is not installed. Seams:
each model's added detail (output minus bicubic) jumps across its base patches' edges by this
much more than across the token lines halfway between them (`EdgeJumps`; 1.0: no seams).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import realesrgan_reference  # noqa: E402

from patchvsr.frames import upscale_bicubic  # noqa: E402
from patchvsr.method.grid import PatchPlan  # noqa: E402
from patchvsr.metrics import SeamStats, psnr_y, seam_lines, ssim_y, temporal_consistency  # noqa: E402
from patchvsr.models.configs import MINI_DIR  # noqa: E402
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline  # noqa: E402
from patchvsr.runtime import enable_native_bf16  # noqa: E402
from patchvsr.train.degrade import downscale, from_uint8, h264, to_uint8  # noqa: E402
from patchvsr.train.media import read_image, read_pack  # noqa: E402

SCALE = 4
CRF = 28
NOISE_SIGMA = 6.0
REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = ("set5", "set14")


def parse_settings(text: str) -> list[tuple[int, float]]:
    out = []
    for item in text.split(","):
        steps, strength = item.split(":")
        out.append((int(steps), float(strength)))
    return out


def load_set(name: str, data: Path, holdout: Path, frames: int) -> list[tuple[str, np.ndarray]]:
    """(name, HR frames (F, H, W, 3) uint8) of one evaluation set, cropped to the LR grid."""
    if name in ("video", "stills"):
        items = [(s.name, s.frames[:frames]) for s in read_pack(holdout)]
        items = [(n, f) for n, f in items if (len(f) > 1) == (name == "video")]
    elif name in BENCHMARKS:
        folder = data / name / "HR"
        items = [(p.stem, read_image(p)[None]) for p in sorted(folder.glob("*.png"))]
    else:
        raise SystemExit(f"unknown set {name!r}: choose from video, stills, set5, set14")
    # Benchmarks: multiples of 4, as the literature (and the earlier tables); held-out media:
    # multiples of 8, so the LR clip has the even size H.264's 4:2:0 needs.
    m = SCALE if name in BENCHMARKS else 2 * SCALE
    return [(n, f[:, : f.shape[1] // m * m, : f.shape[2] // m * m]) for n, f in items]


def make_lr(hr: np.ndarray, condition: str) -> np.ndarray:
    """The uint8 LR clip (F, h, w, 3) of an HR clip under one condition."""
    lr = to_uint8(downscale(from_uint8(hr), SCALE, "bicubic"))
    if condition == "clean":
        return lr
    if condition == "noisy":
        gen = np.random.default_rng(int(lr.size) % 2**32)  # fixed per item
        noise = gen.normal(0.0, NOISE_SIGMA, lr.shape)
        lr = np.clip(np.round(lr.astype(np.float64) + noise), 0, 255).astype(np.uint8)
    if condition in ("crf28", "noisy"):
        coded = h264(from_uint8(lr), CRF)
        if coded is None:
            raise SystemExit(f"the {condition} condition needs PyAV with libx264")
        return to_uint8(coded)
    raise SystemExit(f"unknown condition {condition!r}: choose from clean, crf28, noisy")


def bicubic(lr: np.ndarray, hr_shape) -> np.ndarray:
    video = from_uint8(lr)[None]
    return to_uint8(upscale_bicubic(video, hr_shape[1], hr_shape[2])[0])


def _scores(out: np.ndarray, hr: np.ndarray) -> list[float]:
    tc = temporal_consistency(out, hr) if len(hr) > 1 else float("nan")
    return [psnr_y(out, hr), ssim_y(out, hr), tc]


class EdgeJumps:
    """How much a model's added detail (output minus bicubic) jumps across its patch edges,
    over how much it jumps across the token lines halfway between them. Mini's detail is made
    per 16-pixel token, so it jumps at every token line; 1.0 means the patch edges add nothing
    to that (no seams)."""

    def __init__(self) -> None:
        self.edges, self.middles = SeamStats(), SeamStats()

    def add(self, out: np.ndarray, up: np.ndarray, plan: PatchPlan) -> None:
        detail = out.astype(np.float64) - up.astype(np.float64)
        ys, xs = seam_lines(plan)
        half = plan.patch_size // 2 // plan.align * plan.align
        self.edges.add(detail, ys, xs)
        self.middles.add(detail, [y - half for y in ys], [x - half for x in xs])

    def ratio(self) -> float:
        return self.edges.score() / self.middles.score()


def parse_denoise_levels(text: str) -> list[float | None]:
    return [None if v.strip() == "auto" else float(v) for v in text.split(",")]


def evaluate(
    models, items, condition, settings, seed, reference, ref_frames, levels=(None,)
) -> dict:
    """Mean (PSNR, SSIM, TC) per method, each model's patch-edge jumps (`EdgeJumps`), and the
    outputs of the first item for a figure."""
    rows: dict[str, list] = {"bicubic": []}
    jumps: dict[str, EdgeJumps] = {}
    ref_rows: dict[str, list] = {"bicubic": [], "Real-ESRGAN": []}
    figure: dict[str, np.ndarray] = {}
    for index, (_, hr) in enumerate(items):
        lr = make_lr(hr, condition)
        outputs = {"bicubic": bicubic(lr, hr.shape)}
        for label, pipe in models.items():
            for (steps, strength), level in itertools.product(settings, levels):
                key = label if len(settings) == 1 else f"{label} {steps}:{strength}"
                if len(levels) > 1:
                    key += f" d={'auto' if level is None else f'{level:g}'}"
                result = pipe(
                    lr,
                    scale=SCALE,
                    num_inference_steps=steps,
                    strength=strength,
                    generator=torch.Generator().manual_seed(seed),
                    denoise=level,
                )
                outputs[key] = result.frames
                jumps.setdefault(key, EdgeJumps()).add(
                    result.frames, outputs["bicubic"], result.plan
                )
        for key, out in outputs.items():
            rows.setdefault(key, []).append(_scores(out, hr))
        if reference is not None and ref_frames > 0:
            n = min(ref_frames, len(hr))
            ref = reference(lr[:n])
            ref_rows["Real-ESRGAN"].append(_scores(ref, hr[:n]))
            ref_rows["bicubic"].append(_scores(outputs["bicubic"][:n], hr[:n]))
            outputs["Real-ESRGAN"] = np.concatenate([ref, outputs["bicubic"][n:]])
        if index == 0:
            figure = {**outputs, "ground truth": hr}

    def mean(r):
        return [float(np.mean(v)) for v in zip(*r, strict=True)]

    names = [name for name, _ in items]
    per_item = {k: dict(zip(names, (v[0] for v in r), strict=True)) for k, r in rows.items()}
    result = {"means": {k: mean(r) for k, r in rows.items()}, "psnr": per_item, "figure": figure}
    result["patch_edges"] = {k: j.ratio() for k, j in jumps.items()}
    if reference is not None and ref_rows["bicubic"]:
        result["reference"] = {k: mean(r) for k, r in ref_rows.items()}
    return result


def textured_window(frame: np.ndarray, size: int) -> tuple[int, int]:
    """The top-left corner of the most textured size x size window (mean horizontal gradient)."""
    grey = frame.astype(np.float64).mean(-1)
    best, where = -1.0, (0, 0)
    for y in range(0, max(1, frame.shape[0] - size), size // 2):
        for x in range(0, max(1, frame.shape[1] - size), size // 2):
            v = float(np.abs(np.diff(grey[y : y + size, x : x + size], axis=1)).mean())
            if v > best:
                best, where = v, (y, x)
    return where


def strip(tiles: dict[str, np.ndarray], zoom: int = 2) -> Image.Image:
    """Tiles side by side (nearest-neighbour zoom), each under its label."""
    size = next(iter(tiles.values())).shape[1]
    row = np.concatenate(
        [np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles.values()], 1
    )
    picture = Image.fromarray(row).resize((row.shape[1] * zoom, row.shape[0] * zoom), Image.NEAREST)
    labelled = Image.new("RGB", (picture.width, picture.height + 18), "white")
    labelled.paste(picture, (0, 18))
    draw = ImageDraw.Draw(labelled)
    for i, label in enumerate(tiles):
        draw.text((i * (size + 4) * zoom + 4, 3), label, fill="black")
    return labelled


def side_by_side(outputs: dict[str, np.ndarray], path: Path, size: int = 96) -> None:
    """A crop of the first frame, the most textured size x size window, for every method."""
    y, x = textured_window(outputs["ground truth"][0], size)
    tiles = {k: v[0][y : y + size, x : x + size] for k, v in outputs.items()}
    strip(tiles).save(path)
    print(f"{path}: crop at ({y}, {x}), left to right: {', '.join(tiles)}")


def print_table(title: str, res: dict, ref_frames: int) -> None:
    print(f"\n{title}")
    print(f"  {'method':>28}  {'PSNR':>6}  {'gain':>6}  {'SSIM':>6}  {'TC':>5}")
    base = res["means"]["bicubic"][0]
    bicubic_items = np.array(list(res["psnr"]["bicubic"].values()))
    print(f"  {'':>28}  {'':>6}  {'':>6}  {'':>6}  {'':>5}  median clip gain")
    for key, (p, s, tc) in res["means"].items():
        median = np.median(np.array(list(res["psnr"][key].values())) - bicubic_items)
        print(f"  {key:>28}  {p:6.2f}  {p - base:+6.2f}  {s:6.4f}  {tc:5.2f}  {median:+.2f}")
    edges = ", ".join(f"{k} {v:.3f}" for k, v in res["patch_edges"].items())
    print(f"  {'patch edges / mid lines':>28}  {edges} (added detail's jumps; 1.0: no seams)")
    if len(res["psnr"]["bicubic"]) <= 12:  # the video set: each clip's gain over bicubic
        for name, base_item in res["psnr"]["bicubic"].items():
            gains = ", ".join(
                f"{k} {v[name] - base_item:+.2f}" for k, v in res["psnr"].items() if k != "bicubic"
            )
            print(f"  {name:>28}  bicubic {base_item:.2f} dB; {gains}")
    if "reference" in res:
        rb, rr = res["reference"]["bicubic"], res["reference"]["Real-ESRGAN"]
        label = f"Real-ESRGAN ({ref_frames} frames)"
        print(f"  {label:>28}  {rr[0]:6.2f}  {rr[0] - rb[0]:+6.2f}  {rr[1]:6.4f}  {rr[2]:5.2f}")
        print(
            f"  {'bicubic (same frames)':>28}  {rb[0]:6.2f}  {0:+6.2f}  {rb[1]:6.4f}  {rb[2]:5.2f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[str(MINI_DIR)])
    parser.add_argument("--sets", default="video,stills,set5,set14")
    parser.add_argument("--conditions", default="clean,crf28")
    parser.add_argument("--frames", type=int, default=16, help="frames per held-out clip")
    parser.add_argument("--settings", default="1:1.0", help="steps:strength, comma-separated")
    parser.add_argument("--reference-frames", type=int, default=2)
    parser.add_argument("--no-reference", action="store_true", help="skip Real-ESRGAN")
    parser.add_argument("--holdout", default=".devcache/holdout.npz")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--figure", default="eval_mini.png")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the means here")
    parser.add_argument(
        "--denoise", default="auto", help="denoise levels, comma-separated (auto, or 0..1)"
    )
    parser.add_argument(
        "--fp32",
        action="store_true",
        help="run the model in fp32 throughout (default: as `upscale` runs mini, with bf16 "
        "matrix products and convolutions on a CPU that multiplies bf16 natively)",
    )
    args = parser.parse_args()

    models = {}
    for folder in args.models:
        label = Path(folder).name if Path(folder).name != "pipeline" else Path(folder).parent.name
        pipe = PatchVSRPipeline.from_pretrained(folder).to(args.device)
        if not args.fp32:
            enable_native_bf16(pipe)
        models[label] = pipe
    reference = None
    if not args.no_reference:
        reference, why = realesrgan_reference.load()
        if reference is None:
            print(f"note: no Real-ESRGAN reference: {why}")
    settings = parse_settings(args.settings)
    results, figure = {}, None
    for name in args.sets.split(","):
        items = load_set(name, Path(args.data), Path(args.holdout), args.frames)
        conditions = ["clean"] if name in BENCHMARKS else args.conditions.split(",")
        for condition in conditions:
            t0 = time.time()
            res = evaluate(
                models,
                items,
                condition,
                settings,
                args.seed,
                reference,
                args.reference_frames,
                parse_denoise_levels(args.denoise),
            )
            key = f"{name}/{condition}"
            results[key] = {k: v for k, v in res.items() if k != "figure"}
            frames = sum(len(f) for _, f in items)
            print_table(
                f"{key}: {len(items)} items, {frames} frames, x{SCALE}, Y, border 4, "
                f"TC = temporal consistency vs ground truth ({time.time() - t0:.0f} s)",
                res,
                args.reference_frames,
            )
            if figure is None or (name == "video" and condition == "crf28"):
                figure = res["figure"]
    if figure and args.figure:
        side_by_side(figure, Path(args.figure))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
