"""Names other modules and saved files depend on: they must keep resolving.

- Every class a shipped `model_index.json` names (by module path, as diffusers saves it)
  imports and loads from its folder: moving a class breaks this test, not a user's pipeline.
- The package's layers: nothing below imports anything above, and no import cycle, counting
  imports inside functions.
- The job runner is handed the multi-process phase; that runner uses its public names only.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import patchvsr.video.jobs
from patchvsr.models.configs import MINI_DIR

ROOT = Path(__file__).resolve().parents[1]
# The shipped model folders: mini's in the package, tiny-wan's in the checkout's assets.
INDEXES = sorted([MINI_DIR / "model_index.json", *(ROOT / "assets").glob("*/model_index.json")])
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


# The package's layers, lowest first. A module imports only from its own unit or from a lower
# layer, counting imports inside functions: the method never reaches for the pipeline, the
# pipeline never for the job runner, the job runner never for a front end.
LAYERS = [
    {"errors", "luma"},  # plain constants and the error type
    {"devices"},  # which device and dtype: torch's flags only
    {"frames"},  # a clip's layouts and the moves between them
    {"method"},  # the paper's ideas, as plain data and small tensor functions
    {"models"},
    {"io", "parallel", "request", "cost", "metrics", "flat_pattern", "viz"},
    {"pipeline"},  # the diffusers pipeline, its loading and the hub
    {"runtime"},  # a pipeline by name, on a device
    {"video", "train"},  # whole videos (the job runner), training
    {"serve", "bench"},  # the app's backend, the CPU benchmarks
    {"commands"},
    {"cli"},
    {"__main__"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
PACKAGE = ROOT / "patchvsr"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """`patchvsr.video.jobs` -> `video`; the package root is `patchvsr`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "patchvsr"


def imports(path: Path) -> set[str]:
    """The patchvsr modules a file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            if node.module == "patchvsr":  # `from patchvsr import viz`: the submodule
                names.update(f"patchvsr.{a.name}" for a in node.names)
    return {n for n in names if n.startswith("patchvsr.")}


def import_graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_unit_of_the_package_has_a_layer():
    units = {unit(m) for m in import_graph()} - {"patchvsr"}
    assert units <= set(RANK), f"place these in LAYERS: {sorted(units - set(RANK))}"
    assert {"method", "pipeline", "video"} <= units


def test_nothing_below_imports_anything_above():
    graph = import_graph()
    assert len(graph) > 50 and any(graph.values())  # the walk found the package
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if unit(module) != "patchvsr"  # the root names the pipeline lazily, for users
        for target in targets
        if unit(target) != unit(module) and RANK[unit(target)] >= RANK[unit(module)]
    ]
    assert upward == []


def test_the_check_finds_an_upward_import(tmp_path):
    """The rule can fail: the method importing the job runner is reported."""
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from patchvsr.video.jobs import run_job\n")
    assert imports(source) == {"patchvsr.video.jobs"}
    assert RANK[unit("patchvsr.video.jobs")] > RANK[unit("patchvsr.method.grid")]


def test_no_import_cycle_among_the_package_modules():
    graph = import_graph()
    known = set(graph)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    edges = {
        m: {t for n in targets if (t := resolve(n)) and t != m} for m, targets in graph.items()
    }
    # A module importing its own package's __init__ is how Python imports it, not a cycle.
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in edges.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def cycle_from(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target] if target in path else [target]
            if target not in state and (found := cycle_from(target, path + [target])):
                return found
        state[module] = 2
        return None

    for module in sorted(edges):
        if module not in state:
            assert cycle_from(module, [module]) is None


def test_the_job_runner_is_handed_the_multi_process_phase():
    """`video.jobs` does not import `video.distributed`; the command that starts a process
    group hands `lead_windows` in, and the multi-process runner uses the job runner's public
    names only."""
    jobs = ROOT / "patchvsr/video/jobs.py"
    assert "patchvsr.video.distributed" not in imports(jobs)
    tree = ast.parse((ROOT / "patchvsr/video/distributed.py").read_text())
    names = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "patchvsr.video.jobs"
        for alias in node.names
    ]
    assert {"input_windows", "progress_bar"} <= set(names)
    assert set(names) <= set(patchvsr.video.jobs.__all__), "a private name of patchvsr.video.jobs"
