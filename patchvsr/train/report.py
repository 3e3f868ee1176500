"""Pictures of a training run: the loss curve and bicubic-vs-model sample comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from patchvsr.metrics import psnr_y  # noqa: E402
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline, upscale_bicubic  # noqa: E402
from patchvsr.train.degrade import downscale, from_uint8, to_uint8  # noqa: E402


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average ('valid' part), to read a noisy loss curve."""
    v = np.asarray(values, dtype=np.float64)
    window = max(1, min(window, len(v)))
    return np.convolve(v, np.ones(window) / window, mode="valid")


def plot_losses(losses: Sequence[float], path: str | Path, title: str = "training loss") -> Path:
    """The per-step loss (faint) and its moving average, log scale."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.8, label="per step")
    window = max(1, len(losses) // 50)
    if len(losses) >= 2 * window > 2:
        ax.plot(
            steps[window - 1 :],
            smooth(losses, window),
            color="tab:blue",
            lw=1.8,
            label=f"mean of {window}",
        )
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("velocity MSE")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def centre_crop(frames: np.ndarray, size: int, multiple: int) -> np.ndarray:
    """A centre crop of at most size x size whose sides are multiples of `multiple`."""
    _, h, w, _ = frames.shape
    ch = min(size, h) // multiple * multiple
    cw = min(size, w) // multiple * multiple
    y, x = (h - ch) // 2, (w - cw) // 2
    return frames[:, y : y + ch, x : x + cw]


@torch.no_grad()
def sample_comparison(
    pipe: PatchVSRPipeline,
    clips: Sequence[tuple[str, np.ndarray]],
    path: str | Path,
    scale: int = 4,
    steps: int = 2,
    strength: float = 0.5,
    size: int = 192,
    seed: int = 0,
) -> list[dict]:
    """Bicubic vs model vs ground truth on HR clips (F, H, W, 3) uint8, downscaled bicubically
    by `scale`; the middle frame of each, one row per clip. Returns PSNR (Y) per clip."""
    rows, scores = [], []
    for name, hr in clips:
        hr = centre_crop(hr[: pipe.config.window], size, scale)
        lr = downscale(from_uint8(hr), scale, "bicubic")[None]  # (1, 3, F, h, w)
        out = pipe(
            lr.to(pipe.device),
            scale=scale,
            num_inference_steps=steps,
            strength=strength,
            generator=torch.Generator().manual_seed(seed),
        ).frames
        bicubic = to_uint8(upscale_bicubic(lr, hr.shape[1], hr.shape[2])[0].clamp(-1, 1))
        mid = hr.shape[0] // 2
        score = {"name": name, "bicubic": psnr_y(bicubic, hr), "model": psnr_y(out, hr)}
        scores.append(score)
        rows.append((score, [bicubic[mid], out[mid], hr[mid]]))
    fig, axes = plt.subplots(len(rows), 3, figsize=(9, 3.1 * len(rows)), dpi=110, squeeze=False)
    for (score, images), ax_row in zip(rows, axes, strict=True):
        titles = [
            f"bicubic {score['bicubic']:.2f} dB",
            f"model {score['model']:.2f} dB",
            f"{score['name']} (ground truth)",
        ]
        for ax, image, title in zip(ax_row, images, titles, strict=True):
            ax.imshow(image, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.suptitle(f"x{scale}, {steps} steps, strength {strength}, PSNR on Y", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return scores
