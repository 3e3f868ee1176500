"""The seam comparison of `bench --only seams`, on the tiny model."""

from __future__ import annotations

import math

import pytest

from patchvsr.bench.seams import (
    FIGURE,
    SCHEMES,
    all_seams,
    compare_seams,
    figure_path,
    format_seams,
)
from patchvsr.method.grid import plan_patches, step_plans
from patchvsr.metrics import seam_lines


def test_all_seams_gathers_every_step_of_a_shifted_plan():
    plan = plan_patches(288, 512, 128, "shifted")
    ys, xs = all_seams(plan, 4)
    for step in step_plans(plan, 4):
        rows, cols = seam_lines(step)
        assert set(rows) <= set(ys) and set(cols) <= set(xs)
    assert len(xs) == 4 * len(seam_lines(plan)[1])  # four distinct layouts


@pytest.mark.slow
def test_compare_seams_scores_every_scheme_against_the_full_frame(tmp_path):
    figure = tmp_path / "seams.png"
    r = compare_seams("tiny", size=(40, 24), frames=1, steps=2, figure=figure, log=lambda m: None)
    assert r["evaluations_per_step"]["paper"] > r["evaluations_per_step"]["shifted"]
    assert r["evaluations_per_step"]["shifted"] == r["evaluations_per_step"]["tiles"]
    for where, rel in r["relative"].items():
        raw = r["scores"][where]
        for name in SCHEMES:
            assert math.isclose(rel[name], raw[name] / raw["full-frame"])
    assert figure.stat().st_size > 0
    assert "shifted (" in format_seams(r)


def test_compare_seams_runs_the_patch_size_asked_for(tmp_path):
    own = compare_seams("tiny", size=(40, 24), frames=1, steps=1, figure=None, log=lambda m: None)
    r = compare_seams(
        "tiny", size=(40, 24), frames=1, steps=1, patch=48, figure=None, log=lambda m: None
    )
    assert own["patch"] == 32 and r["patch"] == 48  # tiny's base size, and the one asked for
    assert r["evaluations_per_step"]["tiles"] < own["evaluations_per_step"]["tiles"]


def test_the_figure_name_says_the_settings_unless_they_are_the_defaults():
    assert figure_path(4, None) == FIGURE
    assert figure_path(1, None).name == "seams-1-steps.png"
    assert figure_path(1, 128).name == "seams-1-steps-128px.png"


def test_bench_refuses_zero_steps_in_one_line(capsys):
    from patchvsr.cli import main

    assert main(["bench", "--only", "seams", "--steps", "0"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --steps must be 1 or more, got 0"]
