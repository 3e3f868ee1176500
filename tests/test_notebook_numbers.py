"""What the tutorials say agrees with what the code runs today.

Notebook 5 (4K with the 1.3B base) quotes the training-free defaults, the grid, the evaluations
per step and the work per step. Its prose quotes none of them (they change with the code); its
stored outputs print them, and here each is computed afresh from `patchvsr.method.training_free`, the
plan functions and a real pipeline run. The seam scores of notebooks 1 and 4 print their
references beside them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from patchvsr.cost import estimate_work
from patchvsr.method import training_free
from patchvsr.method.grid import default_scheme
from patchvsr.models.configs import WAN_FLOW_SHIFT, geometry_for
from patchvsr.pipeline.builders import build_tiny
from patchvsr.request import plan_for
from patchvsr.runtime import MINI_DIR

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
FOUR_K = (2160, 3840)
FRAMES = 17  # notebook 5's clip at its tutorial size


def _notebook(prefix: str) -> nbformat.NotebookNode:
    (path,) = NOTEBOOK_DIR.glob(f"{prefix}_*.ipynb")
    return nbformat.read(path, as_version=4)


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(
        o.text
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.name == "stdout"
    )


def _steps_run(steps: int, strength: float) -> int:
    """How many denoising steps a pipeline really runs at these settings, counted."""
    pipe = build_tiny(with_adapter=False)
    calls = []
    step = pipe.scheduler.step
    pipe.scheduler.step = lambda *a, **k: calls.append(1) or step(*a, **k)
    clip = np.zeros((1, 16, 16, 3), np.uint8)
    pipe(clip, scale=2, num_inference_steps=steps, strength=strength)
    return len(calls)


@pytest.fixture(scope="module")
def training_free_4k() -> dict:
    settings = training_free.defaults(WAN_FLOW_SHIFT)
    steps, strength = settings["default_steps"], settings["default_strength"]
    run = _steps_run(steps, strength)
    plan = plan_for(geometry_for("wan2.1-1.3b"), FOUR_K, scheme=default_scheme(run))
    return {
        "steps": steps,
        "strength": strength,
        "run": run,
        "plan": plan,
        "work": estimate_work(plan, frames=FRAMES),
    }


def test_notebook_5_prints_the_training_free_defaults(training_free_4k):
    out = _stdout(_notebook("05"))
    t = training_free_4k
    assert (
        f"a schedule of {t['steps']} steps at strength {t['strength']:g}, so {t['run']} steps run"
        in out
    )
    assert (
        f"{t['run']} of {t['steps']} steps from noise level sigma {training_free.SIGMA:.2f}" in out
    )
    assert f"grid: {t['plan'].scheme}" in out


def test_notebook_5_prints_the_plan_and_work_that_run(training_free_4k):
    out = _stdout(_notebook("05"))
    plan, work = training_free_4k["plan"], training_free_4k["work"]
    assert f"{plan.evaluations_per_step} model evaluations per denoising step" in out
    assert f"scheme        {plan.scheme}, patch 512" in out
    assert f"x {work.flops_per_step / 1e15:.2f} PFLOP" in out
    assert f"{FRAMES} of its" in out


# Numbers that change with the code: step counts, strengths, noise levels, evaluations, work,
# times and memory. Geometry (318x180, 512-pixel patches, 3840x2160) may be quoted.
DRIFTING = [
    r"\b\d+ (?:denoising )?steps?\b",
    r"\bstrength \d",
    r"\bsigma \d",
    r"\b\d+ (?:model )?evaluations\b",
    r"\b\d+ (?:base |auxiliary )?patches\b",
    r"\d(?:\.\d+)? ?(?:PFLOP|TFLOP|GiB|GB)\b",
    r"\b\d+(?:\.\d+)? ?(?:s|seconds|minutes)\b",
]


def test_notebook_5_prose_quotes_no_number_that_drifts():
    for i, cell in enumerate(_notebook("05").cells):
        if cell.cell_type != "markdown" or "```" in cell.source:
            continue
        for pattern in DRIFTING:
            found = re.search(pattern, cell.source)
            assert found is None, f"cell {i} quotes {found.group()!r}: compute it in a cell"


def test_the_drift_check_catches_the_old_text():
    old = "Training-free runs start at strength 0.6 of an 8-step schedule, so 5 steps run"
    assert any(re.search(p, old) for p in DRIFTING)
    assert any(
        re.search(p, "28 base patches and 63 auxiliary ones, all 91 of them") for p in DRIFTING
    )
    assert any(re.search(p, "took about 70 s and peaked at 13 GiB") for p in DRIFTING)


def test_steps_run_is_counted_not_assumed():
    assert _steps_run(8, 0.5) == 4
    assert _steps_run(4, 1.0) == 4


@pytest.mark.parametrize(
    ("prefix", "references"),
    [("01", ["bicubic (no patches)", "bicubic (reference)"]), ("04", ["bicubic", "full frame"])],
)
def test_seam_scores_print_their_references(prefix, references):
    out = _stdout(_notebook(prefix))
    scores = [line for line in out.splitlines() if re.search(r"\d\.\d\d\d?$", line.strip())]
    for reference in references:
        assert any(line.strip().startswith(reference) for line in scores), reference


def test_notebook_4_quotes_the_model_it_ran():
    """The stored run is of the shipped mini: its patch sizes as its configuration says."""
    out = _stdout(_notebook("04"))
    config = json.loads((MINI_DIR / "model_index.json").read_text())
    assert f"runs {config['default_patch_size']}-px patches" in out
    assert f"trained on {config['base_size']}-px patches" in out
