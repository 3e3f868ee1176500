"""The figures the tutorials added: the shifted grid's steps, seam difference maps, a loss curve
beside its reference."""

from __future__ import annotations

import numpy as np
import pytest

from patchvsr import viz
from patchvsr.method.grid import plan_patches, step_plan


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def test_shifted_steps_figure_names_each_steps_offset():
    plan = plan_patches(2160, 3840, 512, "shifted")
    fig = viz.shifted_steps_figure(None, plan, steps=2)
    legend = " ".join(_texts(fig.legends[0]))
    dy, dx = step_plan(plan, 1).offset
    assert "step 1" in legend and f"{dx:+d} px (x)" in legend and "step 2" in legend
    assert viz.figure_to_array(fig).shape[2] == 3
    with pytest.raises(ValueError, match="shifted plan"):
        viz.shifted_steps_figure(None, plan_patches(2160, 3840, 512, "paper"))


def test_seam_difference_figure_has_a_colour_bar_and_the_seams():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)
    seamy = reference.copy()
    seamy[:, 80:] = np.clip(seamy[:, 80:].astype(int) + 20, 0, 255).astype(np.uint8)
    fig = viz.seam_difference_figure([seamy, reference], reference, ["a", "b"], ([48], [80]))
    assert len(fig.axes) == 3  # two maps and the colour bar
    maps = fig.axes[0].images[0].get_array()
    assert maps[:, :80].mean() == 0 and maps[:, 80:].mean() > 0
    assert any("levels of 255" in t for t in _texts(fig))


def test_loss_figure_draws_the_reference_per_step_or_as_a_level():
    losses = np.linspace(2.0, 1.0, 100)
    per_step = viz.loss_figure(losses, np.full(100, 2.0), "bicubic")
    labels = [line.get_label() for line in per_step.axes[0].get_lines()]
    assert "bicubic" in labels
    level = viz.loss_figure(losses, 2.0, "bicubic")
    assert "bicubic" in [line.get_label() for line in level.axes[0].get_lines()]
    with pytest.raises(ValueError, match="reference losses"):
        viz.loss_figure(losses, np.ones(3))
