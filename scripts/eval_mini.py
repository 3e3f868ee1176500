"""Evaluate a PatchVSR model folder at x4 against bicubic: held-out media, Set5 and Set14.

    python scripts/eval_mini.py [MODEL_DIR] [--settings 1:1.0,4:1.0,8:0.5] [--sets ...]
        [--holdout .devcache/holdout.npz] [--data ../shared/data] [--figure eval.png]
        [--device cpu] [--seed 0] [--json results.json]

LR inputs are made the way the SR literature makes them: the HR image cropped (top left) to a
multiple of the scale, then an antialiased bicubic downscale by 4. Single images are 1-frame
clips. PSNR and SSIM are on the Y channel with a 4-pixel border (`patchvsr.metrics`). Every
(steps, strength) setting is reported next to bicubic; a side-by-side crop of bicubic, each
setting and the ground truth is written to `--figure`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchvsr.frames import upscale_bicubic  # noqa: E402
from patchvsr.metrics import psnr_y, ssim_y  # noqa: E402
from patchvsr.models.configs import MINI_DIR  # noqa: E402
from patchvsr.pipeline import PatchVSRPipeline  # noqa: E402
from patchvsr.train.degrade import downscale, from_uint8, to_uint8  # noqa: E402
from patchvsr.train.media import read_image, read_pack  # noqa: E402

SCALE = 4
REPO = Path(__file__).resolve().parents[1]


def parse_settings(text: str) -> list[tuple[int, float]]:
    out = []
    for item in text.split(","):
        steps, strength = item.split(":")
        out.append((int(steps), float(strength)))
    return out


def load_set(name: str, data: Path, holdout: Path) -> list[tuple[str, np.ndarray]]:
    """(name, HR frames (F, H, W, 3) uint8) of one evaluation set, cropped to x4 multiples."""
    if name == "holdout":
        items = [(s.name, s.frames) for s in read_pack(holdout)]
    else:
        folder = data / name / "HR"
        items = [(p.stem, read_image(p)[None]) for p in sorted(folder.glob("*.png"))]
    return [
        (n, f[:, : f.shape[1] // SCALE * SCALE, : f.shape[2] // SCALE * SCALE]) for n, f in items
    ]


def bicubic_lr(hr: np.ndarray) -> torch.Tensor:
    return downscale(from_uint8(hr), SCALE, "bicubic")[None]  # (1, 3, F, h, w)


def evaluate(pipe, items, settings, seed: int) -> dict:
    rows: dict = {"bicubic": [], **{f"{s}:{g}": [] for s, g in settings}}
    outputs: dict = {}
    for name, hr in items:
        lr = bicubic_lr(hr)
        bic = to_uint8(upscale_bicubic(lr, hr.shape[1], hr.shape[2])[0])
        rows["bicubic"].append((psnr_y(bic, hr), ssim_y(bic, hr)))
        outputs[name] = {"bicubic": bic, "hr": hr}
        for steps, strength in settings:
            out = pipe(
                lr,
                scale=SCALE,
                num_inference_steps=steps,
                strength=strength,
                generator=torch.Generator().manual_seed(seed),
            ).frames
            rows[f"{steps}:{strength}"].append((psnr_y(out, hr), ssim_y(out, hr)))
            outputs[name][f"{steps}:{strength}"] = out
    means = {k: tuple(float(np.mean(v)) for v in zip(*r, strict=True)) for k, r in rows.items()}
    return {"means": means, "outputs": outputs}


def side_by_side(outputs: dict, name: str, path: Path, size: int = 96, zoom: int = 2) -> None:
    """A crop (the most textured size x size window) of bicubic, each setting and the HR."""
    images = outputs[name]
    hr = images["hr"][0]
    grey = hr.astype(np.float64).mean(-1)
    best, where = -1.0, (0, 0)
    for y in range(0, max(1, hr.shape[0] - size), size // 2):
        for x in range(0, max(1, hr.shape[1] - size), size // 2):
            v = float(np.abs(np.diff(grey[y : y + size, x : x + size], axis=1)).mean())
            if v > best:
                best, where = v, (y, x)
    y, x = where
    keys = ["bicubic"] + [k for k in images if k not in ("bicubic", "hr")] + ["hr"]
    tiles = [images[k][0][y : y + size, x : x + size] for k in keys]
    strip = np.concatenate(
        [np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles], 1
    )
    picture = Image.fromarray(strip).resize(
        (strip.shape[1] * zoom, strip.shape[0] * zoom), Image.NEAREST
    )
    # A white band above the crops with each one's name, so the figure reads on its own.
    labelled = Image.new("RGB", (picture.width, picture.height + 18), "white")
    labelled.paste(picture, (0, 18))
    draw = ImageDraw.Draw(labelled)
    for i, key in enumerate(keys):
        label = {"bicubic": "bicubic", "hr": "ground truth"}.get(key)
        if label is None:
            steps, strength = key.split(":")
            label = f"mini, {steps} step{'s' if steps != '1' else ''}"
            label += "" if float(strength) == 1.0 else f", strength {strength}"
        draw.text((i * (size + 4) * zoom + 4, 3), label, fill="black")
    labelled.save(path)
    print(f"{path}: {name}, crop at ({y}, {x}), left to right: {', '.join(keys)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(MINI_DIR))
    parser.add_argument("--settings", default="1:1.0,4:1.0,8:0.5")
    parser.add_argument("--sets", default="holdout,set5,set14")
    parser.add_argument("--holdout", default=".devcache/holdout.npz")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--figure", default="eval_mini.png")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the means here")
    args = parser.parse_args()

    pipe = PatchVSRPipeline.from_pretrained(args.model).to(args.device)
    settings = parse_settings(args.settings)
    results, figure_from = {}, None
    for name in args.sets.split(","):
        t0 = time.time()
        items = load_set(name, Path(args.data), Path(args.holdout))
        res = evaluate(pipe, items, settings, args.seed)
        results[name] = res["means"]
        print(
            f"\n{name} ({len(items)} items, x{SCALE}, Y channel, border 4; {time.time() - t0:.0f} s)"
        )
        print(f"  {'setting':>12}  {'PSNR':>7}  {'SSIM':>6}")
        for key, (p, s) in res["means"].items():
            label = key if key == "bicubic" else f"{key.replace(':', ' steps, s=')}"
            print(f"  {label:>12}  {p:7.2f}  {s:6.4f}")
        if figure_from is None or name == "set14":
            figure_from = (res["outputs"], items[0][0] if name != "set14" else "comic")
    if figure_from is not None:
        outputs, item = figure_from
        side_by_side(outputs, item if item in outputs else next(iter(outputs)), Path(args.figure))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
