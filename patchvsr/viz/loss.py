"""A training run's loss curve beside a reference level (e.g. bicubic's loss on the same data)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from patchvsr.viz.figure import new_figure


def loss_figure(
    losses: Sequence[float],
    reference: float | None = None,
    reference_label: str = "bicubic",
    ylabel: str = "loss",
    title: str | None = None,
) -> Figure:
    """Per-step losses (faint), their moving average, and `reference` as a horizontal line on
    a linear scale: how far a run got below what the reference scores on the same batches."""
    losses = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    fig = new_figure(8, 3.8)
    ax = fig.add_subplot()
    ax.plot(steps, losses, color="#0a8fd1", alpha=0.3, lw=0.8, label="per step")
    window = max(1, len(losses) // 20)
    if len(losses) >= 2 * window > 2:
        mean = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], mean, color="#0a8fd1", lw=2, label=f"mean of {window} steps")
    if reference is not None:
        ax.axhline(reference, color="#c00000", lw=1.5, ls="--", label=reference_label)
    ax.set_xlabel("training step", fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    ax.set_title(title or "Training loss", fontsize=11)
    return fig
