"""Names other modules and saved files depend on: they must keep resolving.

- Every class a shipped `model_index.json` names (by module path, as diffusers saves it)
  imports and loads from its folder: moving a class breaks this test, not a user's pipeline.
- The multi-process runner uses the job runner's public names only.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import patchvsr.jobs

ROOT = Path(__file__).resolve().parents[1]
INDEXES = sorted((ROOT / "assets").glob("*/model_index.json"))
COMPONENTS = [
    pytest.param(index, name, library, class_name, id=f"{index.parent.name}/{name}")
    for index in INDEXES
    for name, value in json.loads(index.read_text()).items()
    if not name.startswith("_") and isinstance(value, list) and len(value) == 2
    for library, class_name in [value]
]


def test_every_shipped_model_folder_is_covered():
    assert {p.parent.name for p in INDEXES} >= {"patchvsr-mini", "tiny-wan"}
    named = {tuple(param.values[2:]) for param in COMPONENTS}
    assert ("patchvsr.models.adapter", "PatchVSRAdapter") in named
    assert ("patchvsr.models.pixel_codec", "PixelUnshuffleCodec") in named
    assert ("patchvsr.models.prompt", "PromptEmbedding") in named


@pytest.mark.parametrize("index, name, library, class_name", COMPONENTS)
def test_every_class_a_model_index_names_imports_and_loads(index, name, library, class_name):
    cls = getattr(importlib.import_module(library), class_name)
    component = cls.from_pretrained(index.parent / name)
    assert isinstance(component, cls)


@pytest.mark.parametrize("index", INDEXES, ids=[i.parent.name for i in INDEXES])
def test_every_pipeline_class_a_model_index_names_imports(index):
    class_name = json.loads(index.read_text())["_class_name"]
    import diffusers

    import patchvsr

    assert getattr(patchvsr, class_name, None) or getattr(diffusers, class_name)


def test_the_parallel_runner_uses_public_names_of_the_job_runner():
    tree = ast.parse((ROOT / "patchvsr/parallel/runner.py").read_text())
    names = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "patchvsr.jobs"
        for alias in node.names
    ]
    assert {"input_windows", "progress_bar"} <= set(names)
    assert set(names) <= set(patchvsr.jobs.__all__), "a private name of patchvsr.jobs"
