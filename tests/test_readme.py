"""The README's Python examples run as written: each ```python block is executed in a fresh
process from a folder that holds the repository's `assets/`, so its relative paths resolve and
what it writes stays out of the checkout. The API example talks to a real demo server, whose
address replaces the README's default one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from app_server import LIMITS, serving

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DEFAULT_URL = "http://127.0.0.1:7860/"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def run_block(code: str, folder: Path) -> subprocess.CompletedProcess:
    (folder / "assets").symlink_to(ROOT / "assets")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True
    )


def test_the_readme_has_the_examples_this_file_runs():
    blocks = python_blocks()
    assert len(blocks) >= 2
    assert sum(DEFAULT_URL in block for block in blocks) == 1


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(index, tmp_path):
    code = python_blocks()[index]
    if DEFAULT_URL in code:
        with serving(LIMITS, tmp_path / "outputs") as url:
            done = run_block(code.replace(DEFAULT_URL, url), tmp_path)
    else:
        done = run_block(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
