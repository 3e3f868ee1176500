"""A model's own patch size and grid scheme: saved with it, read back without weights by
`plan`, run by the pipeline when the user gives none, and overridden by any the user gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from clips import synthetic_clip

from patchvsr.cli import main
from patchvsr.models.configs import MINI_DIR, geometry_for
from patchvsr.pipeline.builders import build_tiny
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

TINY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.toml"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny pipeline saved with a default patch of 48 (base 32) and the shifted scheme."""
    pipe = build_tiny()
    pipe.register_to_config(default_patch_size=48, default_scheme="shifted")
    folder = tmp_path_factory.mktemp("defaults") / "model"
    pipe.save_pretrained(folder)
    return folder


def test_the_defaults_are_saved_and_read_back_without_weights(saved):
    index = json.loads((saved / "model_index.json").read_text())
    assert (index["default_patch_size"], index["default_scheme"]) == (48, "shifted")
    geometry = geometry_for(str(saved))
    assert (geometry.base_size, geometry.default_patch) == (32, 48)
    assert geometry == PatchVSRPipeline.from_pretrained(saved).geometry


def test_the_pipeline_runs_its_own_patch_and_scheme_unless_told(saved):
    pipe = PatchVSRPipeline.from_pretrained(saved)
    clip = synthetic_clip(2, 24, 40, 0)
    kwargs = dict(scale=4, num_inference_steps=1, output_type="latent")
    own = pipe(clip, generator=torch.Generator().manual_seed(0), **kwargs)
    assert own.plan.scheme == "shifted" and own.plan.patch_size == 48
    assert not own.plan.aux
    told = pipe(clip, scheme="paper", patch_size=32, generator=torch.Generator(), **kwargs)
    assert told.plan.scheme == "paper" and told.plan.patch_size == 32 and told.plan.aux
    # Without saved defaults the grid follows the steps (grid.default_scheme) at the base size.
    plain = build_tiny()
    base = plain(clip, generator=torch.Generator().manual_seed(0), **kwargs)
    assert base.plan.scheme == "paper" and base.plan.patch_size == 32


def test_plan_on_the_command_line_shows_the_models_own_patch(saved, capsys):
    args = ["plan", "--in-size", "40x24", "--scale", "4", "--model", str(saved), "--json"]
    assert main([*args, "--scheme", "shifted"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["patch_size"] == 48
    assert main([*args, "--scheme", "shifted", "--patch", "64"]) == 0
    assert json.loads(capsys.readouterr().out)["patch_size"] == 64


def test_mini_ships_shifted_256_pixel_patches():
    """Mini, trained on 128-pixel patches, runs on 256-pixel ones with the shifted grid (plain
    tiles at its one step): the model card's measurements chose it."""
    geometry = geometry_for("mini")
    assert (geometry.base_size, geometry.default_patch) == (128, 256)
    index = json.loads((MINI_DIR / "model_index.json").read_text())
    assert index["default_scheme"] == "shifted" and index["default_steps"] == 1


def test_a_config_that_names_a_default_writes_it_on_export(tmp_path):
    from patchvsr.train.config import load_config
    from patchvsr.train.model import build_pipeline, export_pipeline

    cfg = load_config(TINY_CONFIG)
    cfg.model.inference_patch, cfg.model.scheme, cfg.model.flat_guard = 48, "tiles", 6.0
    pipe = build_pipeline(cfg.model, seed=0)
    out = export_pipeline(pipe, tmp_path / "exported", cfg.model)
    index = json.loads((out / "model_index.json").read_text())
    assert (index["default_patch_size"], index["default_scheme"]) == (48, "tiles")
    assert index["flat_guard"] == 6.0


@pytest.mark.parametrize(
    "key, value", [("inference_patch", 36), ("scheme", "grid"), ("flat_guard", -1.0)]
)
def test_a_config_with_a_bad_default_is_refused(tmp_path, key, value):
    from patchvsr.errors import PatchVSRError
    from patchvsr.train.config import load_config, validate

    cfg = load_config(TINY_CONFIG)
    setattr(cfg.model, key, value)
    with pytest.raises(PatchVSRError, match=f"model.{key}"):
        validate(cfg)


def test_patch_plans_differ_only_in_what_was_asked():
    """The default patch changes only the plan, never a pixel of how a given plan runs."""
    pipe = build_tiny()
    clip = synthetic_clip(2, 24, 40, 0)
    kwargs = dict(scale=4, num_inference_steps=1, scheme="tiles")
    before = pipe(clip, patch_size=48, generator=torch.Generator().manual_seed(0), **kwargs)
    pipe.register_to_config(default_patch_size=48)
    after = pipe(clip, generator=torch.Generator().manual_seed(0), **kwargs)
    assert np.array_equal(before.frames, after.frames)
