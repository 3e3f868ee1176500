"""The tutorials in notebooks/ run top to bottom on the CPU, and are stored without outputs.

Each notebook runs in a fresh `python3` kernel (ipykernel's own kernel spec: nothing to install)
with `PATCHVSR_NOTEBOOK_FAST=1`, which shrinks clips, steps and training runs. A cell that
raises fails its test with the cell's traceback. Notebook 4 runs the mini model; until
`patchvsr/models/patchvsr-mini/` exists it runs the tiny one, unless `PATCHVSR_NOTEBOOK_MODEL` says
otherwise.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from patchvsr.runtime import MINI_DIR

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
# Seconds per notebook, several times what each takes on two idle cores in fast mode.
TIMEOUT = {"04_upscale_a_clip.ipynb": 420}
DEFAULT_TIMEOUT = 300


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
def test_notebook_runs_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv("PATCHVSR_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    """Outputs would go stale; `python scripts/run_notebooks.py` regenerates executed copies."""
    for i, cell in enumerate(_read(path).cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} of {path.name} holds outputs"
            assert cell.execution_count is None, f"cell {i} of {path.name} has a count"


def test_notebook_index_links_every_notebook_in_order():
    index = (NOTEBOOK_DIR / "README.md").read_text()
    linked = re.findall(r"\]\((\d\d_[\w]+\.ipynb)\)", index)
    assert linked == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS[:-1], ids=lambda p: p.stem)
def test_each_notebook_links_the_next(path):
    following = NOTEBOOKS[NOTEBOOKS.index(path) + 1].name
    assert f"]({following})" in _read(path).cells[-1].source
