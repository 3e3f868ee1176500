"""The layout's rules, checked on the source: front ends call the core only, and the plan
that `plan`, the demo's Explore and the pipeline use is one and the same."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from patchvsr.cli import main
from patchvsr.method.location import location_scale, normalized_box
from patchvsr.models.configs import geometry_for
from patchvsr.request import Request, plan_request

ROOT = Path(__file__).resolve().parent.parent
FRONT_ENDS = sorted([*(ROOT / "demo").glob("*.py"), *(ROOT / "patchvsr" / "serve").glob("*.py")])


def imported_names(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions, by statement or by
    `importlib.import_module("...")` with a literal name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
    return names


def test_no_front_end_module_imports_the_command_line():
    assert len(FRONT_ENDS) >= 7  # demo/ and patchvsr/serve/ are found
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in FRONT_ENDS
        for name in imported_names(path)
        if name == "patchvsr.commands" or name.startswith("patchvsr.commands.")
    ]
    assert offenders == []


def test_nothing_the_app_runs_reaches_the_command_line():
    """Transitively from app.py: the demo and everything it imports from the core."""
    from test_security import app_sources

    seen = app_sources()
    assert ROOT / "patchvsr" / "serve" / "jobs.py" in seen  # the walk reaches the core
    assert not [p for p in seen if "commands" in p.parts]


def test_explore_plan_and_the_pipeline_make_the_same_plan_at_1080p(capsys):
    """480x270 x4 = 1920x1080: the padded canvas is 1920x1088 on the 1.3B's 16 px lattice, and
    the three front doors to a plan agree on every patch."""
    from patchvsr.pipeline.builders import build_wan_1_3b
    from patchvsr.serve.explore import page_plan

    info = SimpleNamespace(height=270, width=480)
    _, explore = page_plan(info, 4, "", 512, "paper", 0.25)
    assert main(["plan", "--in-size", "480x270", "--scale", "4", "--patch", "512", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    pipe = build_wan_1_3b("meta", torch.float32, with_vae=False)
    pipeline = pipe.plan_for((1080, 1920), 512, "paper")
    assert (explore.height, explore.width) == (pipeline.height, pipeline.width) == (1088, 1920)
    assert printed["canvas_size"] == [1088, 1920] and printed["out_size"] == [1080, 1920]
    boxes = [list(p.box) for p in pipeline.patches]
    assert [list(p.box) for p in explore.patches] == boxes
    assert [p["box"] for p in printed["patches"]] == boxes
    # the model's own patch size: what `upscale` runs when --patch is not given
    request = Request.make((270, 480), scale=4)
    assert plan_request(geometry_for("wan2.1-1.3b"), request) == pipe.plan_for(
        (1080, 1920), scheme="paper"
    )


def test_the_pipeline_runs_the_plan_that_plan_for_gives():
    from patchvsr.pipeline.builders import build_tiny

    pipe = build_tiny()
    clip = np.random.default_rng(0).integers(0, 255, (2, 23, 37, 3), dtype=np.uint8)
    # At the model's own settings (4 steps: the shifted grid) and at others.
    out = pipe(clip, size=(70, 110))
    assert out.plan.scheme == "shifted"
    request = Request.make((23, 37), size=(70, 110), scheme="shifted")
    assert out.plan == pipe.plan_for((70, 110)) == plan_request(geometry_for("tiny"), request)
    out = pipe(clip, size=(70, 110), num_inference_steps=1)
    request = Request.make((23, 37), size=(70, 110))
    assert out.plan == pipe.plan_for((70, 110), scheme="paper")
    assert out.plan == plan_request(geometry_for("tiny"), request)
    assert (out.plan.height, out.plan.width) == (80, 112)  # padded to 16 px


class _Seen(Exception):
    pass


def test_the_location_encoding_gets_one_scale_for_a_non_square_resize(monkeypatch):
    """1000x564 from 250x141 scales the width by 4 and the height by 4.0 (564/141); the
    pipeline's patches get `location_scale`, and boxes on the padded canvas."""
    from patchvsr.pipeline.builders import build_tiny

    pipe = build_tiny()
    seen = {}

    def spy(latents, cond, timestep, boxes, context, scale, prompt_embeds=None):
        seen.update(boxes=boxes, scale=scale)
        raise _Seen  # one batch is enough

    monkeypatch.setattr(pipe, "predict_patches", spy)
    clip = np.zeros((1, 141, 250, 3), np.uint8)
    with pytest.raises(_Seen):
        pipe(clip, size=(564, 1000), num_inference_steps=1, batch_size=1)
    assert seen["scale"] == location_scale((141, 250), (564, 1000))
    plan = pipe.plan_for((564, 1000), scheme="paper")  # what one step runs
    first = plan.scaled(pipe.codec.spatial)
    expected = normalized_box(first.patches[0], first.height, first.width)
    assert tuple(seen["boxes"][0].tolist()) == pytest.approx(expected)
