"""`python -m patchvsr plan` and `viz` on a real clip, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from patchvsr.cli import main
from patchvsr.cost import ModelCost, estimate_work
from patchvsr.errors import PatchVSRError
from patchvsr.io.reader import read_frame
from patchvsr.method.grid import plan_patches
from patchvsr.request import output_size, parse_size

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "assets" / "examples" / "dove_002.mp4"  # 318x180, 32 frames


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- plan ------------------------------------------------------------------------------------


def test_plan_summary_for_4k_from_960x540(capsys):
    code, out, err = run_cli(capsys, "plan", "--in-size", "960x540", "--scale", "4")
    assert code == 0 and err == ""
    assert "output        3840x2160" in out
    assert "base patches  28" in out
    assert "aux patches   63  (vertical seams 24, horizontal seams 21, crossings 18)" in out
    assert "91 model evaluations per denoising step" in out
    assert "291,600 tokens" in out  # one full 4K pass of the 1.3B model


def test_plan_json_of_a_real_clip_parses_and_covers_the_frame(capsys):
    code, out, _ = run_cli(capsys, "plan", CLIP, "--scale", "4", "--patch", "256", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["out_size"] == [720, 1272] and data["in_size"] == [180, 318]
    assert data["canvas_size"] == [720, 1280]  # padded to whole tokens, as the model runs it
    assert data["patch_size"] == 256
    assert data["evaluations_per_step"] == len(data["patches"]) == 27
    covered = np.zeros(data["canvas_size"], int)
    for patch in data["patches"]:
        assert patch["kind"] in ("base", "aux")
        y0, x0, y1, x1 = patch["box"]
        assert 0 <= y0 < y1 <= 720 and 0 <= x0 < x1 <= 1280
        covered[y0:y1, x0:x1] += patch["kind"] == "base"
    assert (covered == 1).all()  # base patches tile the frame exactly once
    assert data["work"]["tokens_per_step"] == sum(data["work"]["tokens_per_patch"])


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--size", "1920x1080"], [1080, 1920]),
        (["--scale", "2.5"], [1350, 2400]),
        (["--size", "3840x2160", "--scheme", "sliding", "--overlap", "0.5"], [2160, 3840]),
    ],
)
def test_plan_takes_a_size_a_fractional_scale_or_a_scheme(capsys, args, expected):
    code, out, _ = run_cli(capsys, "plan", "--in-size", "960x540", *args, "--json")
    assert code == 0 and json.loads(out)["out_size"] == expected


def test_sliding_plan_uses_the_chosen_overlap(capsys):
    argv = ["plan", "--in-size", "512x128", "--scale", "4", "--scheme", "sliding", "--json"]
    _, out, _ = run_cli(capsys, *argv, "--overlap", "0.5")
    starts = sorted({p["box"][1] for p in json.loads(out)["patches"]})
    assert np.diff(starts).tolist() == [256] * (len(starts) - 1)


def test_work_estimate_matches_the_known_cost_of_the_1_3b_model():
    cost = ModelCost()
    assert cost.tokens(512, 512, 33) == 9216
    assert cost.flops(9216) == pytest.approx(4.0e13, rel=0.03)
    work = estimate_work(plan_patches(2160, 3840, 512))
    assert work.full_frame_tokens == 291_600
    assert work.full_frame_flops == pytest.approx(1.6e16, rel=0.05)
    assert work.flops_per_step < work.full_frame_flops / 3


def test_size_helpers():
    assert parse_size("3840x2160") == (2160, 3840) == parse_size(" 3840X2160 ")
    assert output_size((540, 960), scale=4) == (2160, 3840)
    assert output_size((540, 960), size=(100, 200)) == (100, 200)
    with pytest.raises(PatchVSRError):
        parse_size("3840*2160")


# --- viz -------------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["grid", "weights", "location", "context", "compare"])
def test_viz_writes_each_picture_of_a_real_clip(capsys, tmp_path, what):
    out = tmp_path / f"{what}.png"
    argv = ["viz", CLIP, "--what", what, "-o", out, "--patch", "256", "--frame", "5"]
    code, stdout, err = run_cli(capsys, *argv, "--patch-index", "19")
    assert code == 0, err
    assert str(out) in stdout
    image = Image.open(out)
    assert image.format == "PNG" and image.width >= 900 and image.height >= 300
    pixels = np.asarray(image.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left over


def test_viz_compare_takes_a_second_file(capsys, tmp_path):
    other = tmp_path / "other.png"
    Image.fromarray(read_frame(CLIP, 0)[::-1]).resize((636, 360)).save(other)
    out = tmp_path / "cmp.png"
    code, _, err = run_cli(capsys, "viz", CLIP, "--what", "compare", "--other", other, "-o", out)
    assert code == 0, err
    assert Image.open(out).format == "PNG"


def test_viz_weights_for_a_sliding_plan_and_another_weight_mode(capsys, tmp_path):
    out = tmp_path / "w.png"
    argv = ["viz", CLIP, "--what", "weights", "-o", out, "--size", "1280x720", "--patch", "256"]
    code, _, err = run_cli(capsys, *argv, "--scheme", "sliding", "--weights", "gaussian")
    assert code == 0, err
    assert Image.open(out).format == "PNG"


# --- bad input: one line on stderr, exit code 2, no output ------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["plan", "missing.mp4"], "no such file"),
        (["plan", ROOT / "pyproject.toml"], "cannot read"),
        (["plan", "--in-size", "0x540"], "must be positive"),
        (["plan", "--in-size=-960x540"], "must be positive"),
        (["plan", "--in-size", "960x540", "--size", "3840x0"], "must be positive"),
        (["plan", "--in-size", "960x540", "--scale", "0"], "--scale"),
        (["plan", "--in-size", "960x540", "--scale", "-2"], "--scale"),
        (["plan", "--in-size", "960x540", "--patch", "500"], "multiple of 16"),
        (["plan", "--in-size", "960x540", "--patch", "-16"], "multiple of 16"),
        (["plan", "--in-size", "100x50", "--patch", "512"], "bigger than the whole"),
        (["plan", "--in-size", "960x540", "--scheme", "sliding", "--overlap", "1"], "--overlap"),
        (["plan", "--in-size", "960x540", "--overlap", "0.5"], "sliding only"),
        (["plan"], "either an input file"),
        (["plan", CLIP, "--in-size", "960x540"], "either an input file"),
        (["viz", CLIP, "--what", "grid", "--patch-index", "3"], "out of range"),
        (["viz", CLIP, "--what", "grid", "--patch-index", "-1"], "out of range"),
        (["viz", CLIP, "--what", "grid", "--frame", "1000"], "no frames"),
        (["viz", "missing.mp4", "--what", "grid"], "no such file"),
        (["viz", CLIP, "--what", "grid", "--scale", "0"], "--scale"),
        (["viz", CLIP, "--what", "grid", "--patch", "24"], "multiple of 16"),
        (["viz", CLIP, "--what", "grid", "--other", CLIP], "compare only"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, tmp_path, argv, message):
    out = tmp_path / "fig.png"
    if argv[0] == "viz":
        argv = [*argv, "-o", out]
    code, stdout, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_viz_refuses_a_figure_path_it_cannot_write(capsys, tmp_path):
    for target in (tmp_path / "fig.txt", tmp_path / "missing" / "fig.png"):
        code, _, err = run_cli(capsys, "viz", CLIP, "--what", "grid", "-o", target)
        assert code == 2 and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_usage_errors_from_the_real_command_line_are_one_line(tmp_path):
    cases = [
        ["plan", "--in-size", "960x540", "--scale", "4", "--size", "10x10"],
        ["viz", str(CLIP), "--what", "nothing", "-o", str(tmp_path / "x.png")],
        ["viz", str(tmp_path / "missing.mp4"), "--what", "grid", "-o", str(tmp_path / "x.png")],
    ]
    for argv in cases:
        result = subprocess.run(
            [sys.executable, "-m", "patchvsr", *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_reader_that_stops_early_ends_plan_quietly():
    # A plan of 16000x16000 in 256-pixel patches prints far more than a pipe holds, so the
    # writer is still printing when `head` stops reading.
    argv = ["plan", "--in-size", "4000x4000", "--scale", "4", "--patch", "256", "--json"]
    with subprocess.Popen(
        [sys.executable, "-m", "patchvsr", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    ) as proc:
        assert proc.stdout.readline() == b"{\n"
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert code == 141 and err == ""
