"""The tutorials in notebooks/ run top to bottom on the CPU, quietly, and are stored with current
outputs.

Each notebook runs in a fresh `python3` kernel (ipykernel's own kernel spec: nothing to install)
with `PATCHVSR_NOTEBOOK_FAST=1`, which shrinks clips, steps and training runs. A cell that
raises fails its test with the cell's traceback, and so does a cell that writes to stderr
(a warning). Notebook 4 runs the mini model; until `patchvsr/models/patchvsr-mini/` exists it runs the
tiny one, unless `PATCHVSR_NOTEBOOK_MODEL` says otherwise.

The stored notebooks hold the outputs of a full-size run of `scripts/run_notebooks.py`, which
keeps a hash of the code cells in each notebook's metadata: a code cell edited without a
refresh fails `test_stored_outputs_are_current`.
"""

from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from patchvsr.runtime import MINI_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import run_notebooks  # noqa: E402  (scripts/ is not a package)

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
# Seconds per notebook, several times what each takes on two idle cores in fast mode.
TIMEOUT = {"01_patch_grid.ipynb": 600, "04_upscale_a_clip.ipynb": 600, "06_training.ipynb": 600}
DEFAULT_TIMEOUT = 300
MAX_BYTES = 2_200_000  # a stored notebook, outputs included: "about 2 MB" (04 holds a video)


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_the_tutorials_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.stem, marks=pytest.mark.timeout(TIMEOUT.get(p.name, DEFAULT_TIMEOUT)))
        for p in NOTEBOOKS
    ],
)
def test_notebook_runs_top_to_bottom_quietly(path, monkeypatch):
    monkeypatch.setenv("PATCHVSR_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if "PATCHVSR_NOTEBOOK_MODEL" not in os.environ and not (MINI_DIR / "model_index.json").exists():
        monkeypatch.setenv("PATCHVSR_NOTEBOOK_MODEL", "tiny")
    nb = _read(path)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=TIMEOUT.get(path.name, DEFAULT_TIMEOUT),
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised\n{err}", pytrace=False)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "every code cell ran"
    # stderr is where warnings go (tqdm's widget warning, torch's and diffusers' notes)
    assert run_notebooks.problems(nb) == [], f"{path.name} is not clean"


def stored_output_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Why a stored notebook's outputs are not those of a clean run of its current code."""
    found = []
    if run_notebooks.stored_hash(nb) != run_notebooks.code_hash(nb):
        found.append("code cells changed since the outputs were stored")
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not all(c.execution_count for c in code):
        found.append("a code cell has no stored run")
    pictures = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    if not pictures:
        found.append("no picture")
    return found + run_notebooks.problems(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_current(path):
    """Refresh with `python scripts/run_notebooks.py NAME` after editing a notebook."""
    assert stored_output_problems(_read(path)) == []
    assert path.stat().st_size < MAX_BYTES


def test_an_edited_code_cell_makes_the_outputs_stale(tmp_path):
    path = NOTEBOOK_DIR / "03_model.ipynb"  # the smallest stored notebook
    nb = _read(path)
    assert stored_output_problems(nb) == []
    edited = copy.deepcopy(nb)
    cell = next(c for c in edited.cells if c.cell_type == "code")
    cell.source += "\nprint('an edit')"
    nbformat.write(edited, tmp_path / path.name)
    assert stored_output_problems(_read(tmp_path / path.name)) == [
        "code cells changed since the outputs were stored"
    ]
    # a markdown edit needs no refresh: its text is not output
    prose = copy.deepcopy(nb)
    next(c for c in prose.cells if c.cell_type == "markdown").source += "\n\nMore words."
    assert stored_output_problems(prose) == []


def test_unclean_outputs_are_refused():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: something\n"),
        nbformat.v4.new_output("stream", name="stdout", text=f"wrote {REPO_ROOT}/out.mp4\n"),
    ]
    nb.cells = [cell]
    found = run_notebooks.problems(nb)
    assert any("stderr" in f for f in found) and any("path" in f for f in found)


def test_notebook_index_links_every_notebook_in_order():
    index = (NOTEBOOK_DIR / "README.md").read_text()
    linked = re.findall(r"\]\((\d\d_[\w]+\.ipynb)\)", index)
    assert linked == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS[:-1], ids=lambda p: p.stem)
def test_each_notebook_links_the_next(path):
    following = NOTEBOOKS[NOTEBOOKS.index(path) + 1].name
    assert f"]({following})" in _read(path).cells[-1].source
