"""`python -m patchvsr bench` in its smallest form, the FLOP counter, the GPU script's dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from patchvsr.bench.flops import StepCounter
from patchvsr.bench.timing import timed_calls
from patchvsr.cli import main
from patchvsr.pipeline.builders import build_wan_1_3b

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_benchmark_has_every_section_and_patch_memory_grows_less(capsys):
    assert main(["bench", "--preset", "smoke", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)

    assert {"config", "machine", "model", "scaling", "flops", "breakdown", "sharing",
            "batching", "clip", "cuda"} <= result.keys()  # fmt: skip
    rows = result["scaling"]["rows"]
    assert [r["size"] for r in rows] == list(result["config"]["sizes"])
    for row in rows:
        for mode in ("patch-wise", "full-frame"):
            run = row[mode]
            assert "error" not in run, run
            assert run["seconds"] > 0 and run["peak_bytes"] > run["baseline_bytes"] > 0
        assert row["full-frame"]["evaluations_per_step"] == 1
        assert row["ratios"]["seconds"] > 0
    assert rows[-1]["patch-wise"]["evaluations_per_step"] > 1

    # The point of the method: patch-wise working memory stays flat, full-frame's does not.
    growth = result["scaling"]["growth"]
    key = "step_peak_bytes" if "step_peak_bytes" in growth["patch-wise"] else "peak_bytes"
    assert growth["patch-wise"][key] < growth["full-frame"][key]

    for row in result["flops"]["rows"]:
        for scheme in ("paper", "tiles", "full-frame"):
            assert row[scheme]["flops"] > 0
            assert abs(row[scheme]["analytic_error"]) < 1e-9
        assert row["paper"]["evaluations"] > row["tiles"]["evaluations"] > 1

    b = result["breakdown"]
    assert set(b["parts"]) >= {"transformer", "global branch", "codec encode", "fusion"}
    assert sum(b["shares"].values()) == pytest.approx(1.0)
    assert 0.0 <= b["overhead_share"] < 1.0
    assert b["global_calls"] == result["config"]["steps"]

    s = result["sharing"]
    assert s["once_per_step"]["global_calls"] == s["steps"]
    assert s["once_per_patch"]["global_calls"] == s["steps"] * s["evaluations_per_step"]
    assert s["max_abs_difference"] == 0.0  # the same prediction, computed once

    batches = [r["batch"] for r in result["batching"]["rows"]]
    assert batches == list(result["config"]["batch_sizes"])
    assert all(r["patches_per_second"] > 0 for r in result["batching"]["rows"])
    assert "skipped" in result["cuda"]

    # End to end through the command line: the example clip, the model and bicubic.
    c = result["clip"]
    assert [c["clip"]["width"], c["clip"]["height"]] == list(result["config"]["clip_size"])
    assert c["output"] == {"width": 4 * c["clip"]["width"], "height": 4 * c["clip"]["height"]}
    assert c["clip"]["frames"] == round(result["config"]["clip_seconds"] * c["clip"]["fps"])
    for run in (c["model"], c["bicubic"]):
        assert "error" not in run, run
        assert run["seconds"] > 0
    assert c["model"]["seconds_per_frame"] == pytest.approx(
        c["model"]["seconds"] / c["clip"]["frames"]
    )
    assert c["model_over_bicubic"] > 0


def test_counted_flops_match_the_analytic_formula():
    counter = StepCounter(build_wan_1_3b("meta", torch.float32, with_vae=False, small=True))
    for scheme in ("paper", "tiles", "full-frame"):
        step = counter.step((96, 160), 9, scheme)
        assert step["flops"] > step["global_branch_flops"] > 0
        assert step["analytic_error"] == 0.0
    assert counter.step((96, 160), 9, "paper")["evaluations"] > 1


@pytest.mark.slow
def test_real_configuration_at_4k_matches_the_known_full_frame_cost():
    """DESIGN: one 3840x2160x33 full-frame pass of the 1.3B base is about 1.6e16 FLOPs; with
    the adapter's branches it is somewhat more, and the paper's grid costs far less."""
    counter = StepCounter()
    full = counter.step((2160, 3840), 33, "full-frame")
    assert 1.6e16 < full["flops"] < 2.0e16
    assert full["tokens"] == 9 * 135 * 240


def test_timed_calls_counts_and_restores():
    class Thing:
        def work(self, x):
            return x + 1

    thing = Thing()
    with timed_calls({"one": (thing, "work")}) as t:
        assert thing.work(1) == 2
    with timed_calls({"all": (Thing, "work")}) as u:
        assert thing.work(1) == 2 and Thing().work(2) == 3
    assert t.calls["one"] == 1 and u.calls["all"] == 2
    assert t.seconds["one"] >= 0.0
    assert "work" not in vars(thing)
    assert not hasattr(Thing.work, "__wrapped__")  # the class has its own method back


@pytest.mark.slow
def test_gpu_script_dry_run_on_the_cpu(tmp_path):
    # the interpreter running the tests, which need not be the `python` on PATH (a virtual
    # environment that is not activated)
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable)
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "bench_gpu.sh"), "--tiny"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    report = json.loads((tmp_path / "bench_gpu.json").read_text())
    steps = report["steps_4k"]
    assert steps["patch-wise"]["evaluations_per_step"] > 1
    assert steps["full-frame"]["evaluations_per_step"] == 1
    assert steps["patch-wise"]["seconds_per_step"] > 0
    assert report["pipeline_1080p"]["parts"]["codec decode"] > 0
    assert report["extrapolated_4k_upscale"]["seconds"] > 0
    assert (tmp_path / "bench_gpu.log").read_text().strip()


@pytest.mark.slow
def test_cpu_speed_times_before_now_and_bicubic_and_compares_the_outputs():
    from patchvsr.bench.cpu_speed import format_cpu_speed, measure_cpu_speed

    # This checkout as its own "before": the same code, so the outputs must be identical.
    result = measure_cpu_speed("tiny", (64, 36), 0.25, repeats=1, before=REPO, log=lambda _: 0)
    assert "error" not in result, result
    assert set(result["seconds"]) == {"before", "after", "bicubic"}
    assert result["max_difference"] == 0 and result["psnr_after_vs_before"] == float("inf")
    assert result["compared_frames"] == 4 and result["video_psnr_after_vs_before"] == float("inf")
    ratio = result["seconds"]["after"] / result["seconds"]["bicubic"]
    assert result["after_over_bicubic"] == pytest.approx(ratio)
    text = format_cpu_speed(result)
    assert "tiny, before" in text and "bicubic" in text and "largest difference 0" in text


def test_cpu_speed_refuses_a_before_folder_that_is_not_a_checkout(tmp_path, capsys):
    args = ["bench", "--only", "cpu-speed", "--model", "tiny", "--before", str(tmp_path)]
    assert main(args) == 2
    assert (
        capsys.readouterr().err.strip().endswith("is not a checkout of this project (no patchvsr/)")
    )


@pytest.mark.parametrize("only", [[], ["--only", "seams"], ["--only", "cpu-speed"]])
def test_an_installed_copy_without_the_example_clip_refuses_in_one_line(
    only, tmp_path, monkeypatch, capsys
):
    """An installed package has no assets/: every form of the benchmark says so at once."""
    import patchvsr.bench.clip

    monkeypatch.setattr(patchvsr.bench.clip, "EXAMPLE", tmp_path / "site" / "dove_002.mp4")
    assert main(["bench", "--quick", "--model", "tiny", *only]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "comes with a checkout of the repository" in err and "Traceback" not in err
