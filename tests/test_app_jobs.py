"""The demo's core: settings from the environment, limits, click picking, job folders, and
jobs that run in the background and can be cancelled (no server here)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from patchvsr import viz
from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import probe
from patchvsr.io.reader import read_frames
from patchvsr.method.grid import plan_patches
from patchvsr.serve.background import DEVICE_LOCK, BackgroundJob, JobCancelled
from patchvsr.serve.config import DemoSettings, Limits, default_models
from patchvsr.serve.jobs import DemoRequest, check_request, remove_old_jobs, run_request
from patchvsr.viz.pick import axes_map, patch_at

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "assets" / "examples" / "dove_002.mp4"  # 318x180, 32 frames, 16 fps


# --- settings and limits ---------------------------------------------------------------------


def test_limits_come_from_the_environment_with_cpu_and_cuda_defaults():
    assert Limits.from_env({}, cuda=False) == Limits(20, (1080, 1920), (1080, 1920), 16)
    assert Limits.from_env({}, cuda=True) == Limits(60, (1080, 1920), (2160, 3840), 65)
    env = {
        "PATCHVSR_MAX_SECONDS": "2.5",
        "PATCHVSR_MAX_INPUT": "640x480",
        "PATCHVSR_MAX_OUTPUT": "1280X720",
        "PATCHVSR_MAX_FRAMES": "4",
    }
    assert Limits.from_env(env, cuda=False) == Limits(2.5, (480, 640), (720, 1280), 4)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("PATCHVSR_MAX_SECONDS", "-1"),
        ("PATCHVSR_MAX_SECONDS", "ten"),
        ("PATCHVSR_MAX_INPUT", "640"),
        ("PATCHVSR_MAX_OUTPUT", "0x720"),
        ("PATCHVSR_MAX_FRAMES", "1.5"),
    ],
)
def test_a_bad_limit_in_the_environment_names_the_variable(variable, value):
    with pytest.raises(PatchVSRError, match=variable):
        Limits.from_env({variable: value}, cuda=False)


def test_models_default_to_mini_when_installed_wan_with_cuda_and_the_baselines():
    assert default_models(cuda=False, mini=False) == ["bicubic", "lanczos"]
    assert default_models(cuda=True, mini=True) == ["mini", "wan2.1-1.3b", "bicubic", "lanczos"]
    settings = DemoSettings.from_env({"PATCHVSR_DEMO_MODEL": "tiny"})
    assert settings.default_model == "tiny" and settings.models[0] == "tiny"
    settings = DemoSettings.from_env(
        {"PATCHVSR_MODELS": "lanczos, tiny", "PATCHVSR_OUTPUT_DIR": "/x"}
    )
    assert settings.models == ["lanczos", "tiny"] and settings.default_model == "lanczos"
    assert settings.output_dir == Path("/x")


@pytest.mark.slow
def test_the_mini_model_is_looked_for_where_the_loader_loads_it_from():
    from patchvsr import runtime
    from patchvsr.serve import config

    assert config.MINI_DIR == runtime.MINI_DIR


def test_limits_refuse_long_and_large_inputs_and_large_outputs_readably():
    info = probe(CLIP)  # 2.0 s, 318x180
    Limits(max_seconds=2.5, max_input=(180, 320)).check_input(info, "clip.mp4")
    with pytest.raises(PatchVSRError, match=r"clip.mp4 is 2.0 s long.*up to 1 s"):
        Limits(max_seconds=1).check_input(info, "clip.mp4")
    with pytest.raises(PatchVSRError, match=r"clip.mp4 is 318x180.*up to 160x90 pixels"):
        Limits(max_input=(90, 160)).check_input(info, "clip.mp4")
    with pytest.raises(PatchVSRError, match=r"3840x2160 is too large.*1920x1080"):
        Limits().check_output((2160, 3840))
    Limits().check_output((1920, 1080))  # the same pixel count in portrait is fine
    with pytest.raises(PatchVSRError, match="frames to upscale must be 1 to 16"):
        Limits().check_frames(17)


def test_check_request_refuses_impossible_sizes_and_frames(tmp_path):
    limits = Limits()
    with pytest.raises(PatchVSRError, match="positive"):
        check_request(DemoRequest(CLIP, "bicubic", scale=0), limits)
    with pytest.raises(PatchVSRError, match="too large"):
        check_request(DemoRequest(CLIP, "bicubic", size=(2160, 3840)), limits)
    with pytest.raises(PatchVSRError, match="frame 40 is not in dove_002.mp4"):
        check_request(DemoRequest(CLIP, "bicubic", start=40), limits)
    checked = check_request(DemoRequest(CLIP, "bicubic", start=30, frames=8), limits)
    assert (checked.start, checked.count) == (30, 2) and "ends after frame 31" in checked.notes[0]
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    with pytest.raises(PatchVSRError, match="cannot read"):
        check_request(DemoRequest(text, "bicubic"), limits)


# --- clicks on the grid picture ----------------------------------------------------------------


def test_patch_at_prefers_the_patch_whose_centre_is_nearest():
    plan = plan_patches(720, 1272, 256)
    base = plan.patches.index(plan.base[0])
    p = plan.base[0]
    assert patch_at(plan, (p.x0 + p.x1) / 2, (p.y0 + p.y1) / 2) == base
    seam = next(a for a in plan.aux if a.seam == "v")
    assert patch_at(plan, (seam.x0 + seam.x1) / 2, (seam.y0 + seam.y1) / 2) == plan.patches.index(
        seam
    )
    crossing = next(a for a in plan.aux if a.seam == "x")
    centre = ((crossing.x0 + crossing.x1) / 2, (crossing.y0 + crossing.y1) / 2)
    assert plan.patches[patch_at(plan, *centre)].seam == "x"
    assert patch_at(plan, -5, 10) is None and patch_at(plan, 10, 721) is None


def test_a_click_on_the_rendered_grid_maps_back_to_output_pixels():
    frame = read_frames(CLIP, 0, 1)[0]
    plan = plan_patches(720, 1272, 256)
    fig = viz.grid_figure(frame, plan, highlight=3)
    where = axes_map(fig)
    png = viz.figure_to_array(fig)
    assert 0 < where.left < where.right <= png.shape[1]
    assert 0 < where.top < where.bottom <= png.shape[0]
    ax = fig.axes[0]
    per_pixel = (where.x_right - where.x_left) / (where.right - where.left)  # output px per PNG px
    for x, y in [(100, 50), (1000, 600), (636, 360)]:
        dx, dy = ax.transData.transform((x, y))  # display pixels, y up
        px, py = dx, fig.bbox.height - dy  # Agg flips about the exact (float) height
        back = where.to_data(px, py)
        assert back == pytest.approx((x, y), abs=0.5 * per_pixel)  # within half a PNG pixel
    assert where.to_data(1, 1) is None  # the title margin, outside the axes
    assert type(where).from_dict(where.to_dict()) == where


# --- job folders and background jobs --------------------------------------------------------


def test_old_job_folders_are_removed_and_others_kept(tmp_path):
    old, new, other = tmp_path / "job-old", tmp_path / "job-new", tmp_path / "cached-examples"
    for folder in (old, new, other):
        folder.mkdir()
        (folder / "file").write_text("x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert remove_old_jobs(tmp_path, max_age=3600) == [old]
    assert not old.exists() and new.exists() and other.exists()


def test_a_background_job_reports_progress_and_returns_its_result():
    seen = []

    def work(report):
        for i in range(3):
            report(i / 3, f"step {i}")
            seen.append(i)
        return "result"

    job = BackgroundJob(work).start()
    assert job.wait(10) and job.result() == "result" and seen == [0, 1, 2]
    assert job.progress == (2 / 3, "step 2")
    assert not DEVICE_LOCK.locked()


def test_cancelling_stops_a_background_job_at_its_next_report():
    started, steps = threading.Event(), []

    def work(report):
        started.set()
        for i in range(1000):
            report(i / 1000, "working")
            steps.append(i)
            time.sleep(0.01)

    job = BackgroundJob(work).start()
    assert started.wait(10)
    job.cancel()
    assert job.wait(10)
    with pytest.raises(JobCancelled):
        job.result()
    assert len(steps) < 1000 and not DEVICE_LOCK.locked()


def test_errors_of_a_background_job_reach_the_caller():
    def work(report):
        raise PatchVSRError("bad input")

    job = BackgroundJob(work).start()
    job.wait(10)
    with pytest.raises(PatchVSRError, match="bad input"):
        job.result()


# --- whole jobs (the bicubic baseline: no model needed) -----------------------------------------


def test_a_job_upscales_the_chosen_frames_into_a_folder_of_its_own(tmp_path):
    request = DemoRequest(CLIP, "bicubic", start=4, frames=3, scale=2, crop=(0.0, 0.0, 0.5, 0.5))
    checked = check_request(request, Limits())
    reports = []
    result = run_request(checked, tmp_path, lambda f, what: reports.append((f, what)))
    assert result.folder.parent == tmp_path and result.folder.name.startswith("job-")
    video, compare = probe(result.video), probe(result.compare)
    assert (video.width, video.height, video.num_frames) == (636, 360, 3)
    assert (compare.width, compare.height, compare.num_frames) == (1272, 360, 3)
    assert video.fps == pytest.approx(16)
    before, after = (np.asarray(Image.open(p)) for p in (result.before, result.after))
    assert before.shape == after.shape == (360, 636, 3)
    # frame 4 of the clip, upscaled: the bicubic frame and the result agree (the result is
    # the bicubic baseline itself, through the video codec)
    assert np.abs(before.astype(int) - after.astype(int)).mean() < 4
    assert Image.open(result.crops).size[0] > 500
    assert "frames 4-6 of dove_002.mp4, 318x180 -> 636x360" in result.summary
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_an_image_gives_png_results(tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(read_frames(CLIP, 0, 1)[0]).save(image)
    checked = check_request(DemoRequest(image, "lanczos", scale=1.5), Limits())
    result = run_request(checked, tmp_path / "out")
    assert not result.is_video
    assert Image.open(result.video).size == (477, 270)
    assert Image.open(result.compare).size == (954, 270)


def test_a_cancelled_job_leaves_no_folder(tmp_path):
    checked = check_request(DemoRequest(CLIP, "bicubic", frames=8, scale=2), Limits())

    def report(fraction, what):
        if fraction > 0.2:
            raise JobCancelled("cancelled")

    with pytest.raises(JobCancelled):
        run_request(checked, tmp_path, report)
    assert list(tmp_path.iterdir()) == []


def test_progress_only_moves_forward_and_says_the_time_left_once_the_work_has_a_pace():
    from patchvsr.serve.progress import ForwardProgress

    now = [0.0]
    shown = ForwardProgress(clock=lambda: now[0])
    reports = [
        (0.0, 0.0, "loading mini"),
        (2.0, 0.45, "mini: step 1/1, 6 patches"),  # the first window's step
        (2.5, 0.0, "mini: starting"),  # the runner's next window starts at its own zero
        (12.0, 0.9, "mini: step 1/1, 6 patches"),
    ]
    seen = []
    for at, fraction, what in reports:
        now[0] = at
        seen.append(shown.update(fraction, what))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[2] == 0.45
    assert "left" not in seen[0][1] and "left" not in seen[1][1]  # no pace yet
    # From 2 s at 0.45 to 12 s at 0.9: 0.45 in 10 s, so 0.1 more takes about 2 s.
    assert seen[3][1] == "mini: step 1/1, 6 patches (about 2 s left)"
    assert "left" not in shown.update(1.0, "done")[1]
