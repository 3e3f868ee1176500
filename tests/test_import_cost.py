"""A refused request costs no torch: checking the input and the output loads neither torch nor
the model code (importing torch takes about 2 s and 200 MB)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.slow
def test_the_command_line_refuses_a_missing_input_without_loading_torch(tmp_path):
    out = run_python(
        """
        import sys
        from patchvsr.cli import main
        code = main(["upscale", "missing.mp4", "-o", "x.mp4"])
        print(code)
        print("torch" in sys.modules)
        """,
        tmp_path,
    )
    assert out == ["2", "False"]
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.slow
def test_job_validation_loads_no_torch_and_the_parallel_names_still_resolve(tmp_path):
    out = run_python(
        """
        import sys
        from patchvsr import parallel
        from patchvsr.errors import PatchVSRError
        from patchvsr.video.jobs import UpscaleJob, validate_job
        try:
            validate_job(UpscaleJob(input="missing.mp4", output="x.mp4", out_size=(64, 64)))
        except PatchVSRError as err:
            print(err)
        print("torch" in sys.modules)
        print(parallel.current())  # no process group without torch: nothing to import
        print("torch" in sys.modules)
        print(issubclass(parallel.PeerLost, PatchVSRError), callable(parallel.fuse))
        print("torch" in sys.modules)  # `fuse` works on tensors: its module loads torch
        """,
        tmp_path,
    )
    assert out == [
        "cannot read missing.mp4: no such file or folder",
        "False",
        "None",
        "False",
        "True True",
        "True",
    ]
