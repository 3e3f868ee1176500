"""`scripts/device_check.sh --tiny`: the GPU script's own code on the CPU, from a fresh copy of
the tracked tree (nothing an earlier run left in .devcache), so that a broken import or a
missing file never reaches a GPU."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def fresh_copy(dest: Path) -> Path:
    """The files git tracks (as a clone has them, with this tree's edits), nothing else."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


@pytest.mark.slow
def test_device_check_tiny_runs_every_part_from_a_fresh_copy(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout to copy")
    tree = fresh_copy(tmp_path / "tree")
    assert not (tree / ".devcache").exists()
    out = tmp_path / "out"
    # generous limits: a shared CPU can be many times slower than an idle one
    env = dict(
        os.environ,
        OUT=str(out),
        PYTHON=sys.executable,
        TOTAL="2400",
        UPSCALE_LIMIT="1000",
        TRAIN_WAN_LIMIT="1000",
    )
    proc = subprocess.run(
        ["bash", str(tree / "scripts" / "device_check.sh"), "--tiny"],
        capture_output=True,
        text=True,
        env=env,
        timeout=3000,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads((out / "device_check.json").read_text())
    assert list(report) == ["upscale_4k", "train_wan", "train_mini"]
    assert all(section["exit_status"] == 0 for section in report.values())

    upscale = report["upscale_4k"]
    for vae in ("fp32", "bf16"):
        run = upscale["runs"][vae]
        assert run["end_to_end_seconds"] >= run["in_process_seconds"] > 0
        assert run["denoising_steps"] == 4  # training-free: 4 of 32 steps, sigma 0.3
        assert set(run["parts_seconds"]) >= {"load", "vae encode", "denoising", "vae decode"}
        assert f"--vae-dtype {vae}" in run["command"] and "--scheme shifted" in run["command"]
        assert (out / f"upscaled-{vae}.mp4").stat().st_size > 0

    wan = report["train_wan"]
    assert wan["s_per_step"] > 0 and wan["model_flops_per_step"] > 0
    assert len(wan["overfit_losses"]) == 3

    mini = report["train_mini"]
    assert mini["config"] == "configs/mini.toml" and mini["steps"] >= 1
    assert mini["last_loss"] > 0
