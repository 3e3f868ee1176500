"""The installed package runs its default model: mini's weights are package data, found beside
`patchvsr/models/configs.py`, not through the checkout's folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import patchvsr
from patchvsr.models.configs import MINI_DIR

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(patchvsr.__file__).resolve().parent


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_mini_weights_are_found_inside_the_package():
    assert MINI_DIR.is_relative_to(PACKAGE)
    assert (MINI_DIR / "model_index.json").is_file()
    weights = {p.name for p in files_under(MINI_DIR)}
    assert "diffusion_pytorch_model.safetensors" in weights


def test_every_file_of_mini_is_declared_package_data():
    """What `pip install .` copies: the package-data patterns of pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["patchvsr.models"]
    models = PACKAGE / "models"
    declared = {p for pattern in patterns for p in models.glob(pattern) if p.is_file()}
    shipped = files_under(MINI_DIR)
    assert len(shipped) >= 10 and shipped <= declared


@pytest.mark.slow
def test_pip_install_then_upscale_from_another_folder_runs_mini(tmp_path, make_clip):
    """`pip install .` into a fresh environment (its dependencies from this one), then
    `python -m patchvsr upscale` from a folder with no checkout in it."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The wheel is built here, without build isolation: no download in a test.
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-w", str(tmp_path / "dist"), str(ROOT)], check=True, cwd=tmp_path)
    [wheel] = (tmp_path / "dist").glob("patchvsr-*.whl")
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    clip = make_clip("clip.mp4", frames=4, size=(64, 48), audio=False)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    where = subprocess.run(
        [str(python), "-c", "import patchvsr; print(patchvsr.__file__)"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert not Path(where.stdout.strip()).is_relative_to(ROOT)  # the installed copy
    run = subprocess.run(
        [str(python), "-m", "patchvsr", "upscale", str(clip), "-o", "up.mp4", "-q"],
        cwd=work, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (work / "up.mp4").stat().st_size > 0
