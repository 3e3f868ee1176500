"""A training run's loss curve beside a reference level (e.g. bicubic's loss on the same data)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from patchvsr.viz.figure import new_figure


def loss_figure(
    losses: Sequence[float],
    reference: float | Sequence[float] | None = None,
    reference_label: str = "bicubic",
    ylabel: str = "loss",
    title: str | None = None,
) -> Figure:
    """Per-step losses (faint), their moving average, and `reference` on a linear scale: one
    level (a horizontal line), or the reference's loss on each step's own batch (its moving
    average, so both curves follow the same batches): how far a run got below it."""
    losses = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    fig = new_figure(8, 3.8)
    ax = fig.add_subplot()
    ax.plot(steps, losses, color="#0a8fd1", alpha=0.3, lw=0.8, label="per step")
    window = max(1, len(losses) // 20)
    smooth = len(losses) >= 2 * window > 2
    if smooth:
        ax.plot(
            steps[window - 1 :],
            _mean(losses, window),
            color="#0a8fd1",
            lw=2,
            label=f"mean of {window} steps",
        )
    if reference is not None and np.ndim(reference) == 0:
        ax.axhline(float(reference), color="#c00000", lw=1.5, ls="--", label=reference_label)
    elif reference is not None:
        reference = np.asarray(reference, dtype=np.float64)
        if len(reference) != len(losses):
            raise ValueError(f"{len(reference)} reference losses for {len(losses)} steps")
        x, y = (steps[window - 1 :], _mean(reference, window)) if smooth else (steps, reference)
        ax.plot(x, y, color="#c00000", lw=1.5, ls="--", label=reference_label)
    ax.set_xlabel("training step", fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(title or "Training loss", fontsize=11)
    return fig


def _mean(values: np.ndarray, window: int) -> np.ndarray:
    return np.convolve(values, np.ones(window) / window, mode="valid")
