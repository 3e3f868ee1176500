"""Upscaling on several processes: torchrun with 2 gloo processes on the CPU gives the frames of
one process (within one level where the canvas is summed in another order), keeps timestamps
and audio, stops with one line everywhere when a process dies, and resumes on any number of
processes. The sharing arithmetic is tested without processes.

`torchrun --standalone` takes a free port itself (its rendezvous binds localhost:0), so runs in
parallel do not clash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, audio_duration, clip_frame, video_pts, write_clip
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from patchvsr.method.grid import plan_patches
from patchvsr.parallel import balance, choose_mode, shard_by_tokens
from patchvsr.parallel.balance import patch_tokens, window_idle_share, window_rounds
from patchvsr.pipeline.builders import build_tiny
from patchvsr.video.jobs import work_dir_for

ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
TINY = ["--model", "tiny", "--scale", "2", "--seed", "0", "--steps", "2"]


# --- sharing arithmetic ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 10_000), max_size=60), st.integers(1, 9))
def test_every_patch_goes_to_exactly_one_process_and_loads_are_near_even(tokens, n):
    shares = shard_by_tokens(tokens, n)
    assert sorted(i for s in shares for i in s) == list(range(len(tokens)))
    assert shard_by_tokens(tokens, n) == shares  # the same split on every process
    loads = [sum(tokens[i] for i in s) for s in shares]
    # Greedy largest-first: no process exceeds the mean by more than one item.
    assert max(loads) <= sum(tokens) / n + max(tokens, default=0)


def test_sharing_by_tokens_beats_sharing_by_count():
    tokens = [4, 4, 1, 1]  # two big patches first, as a grid lists its base patches
    by_count = [sum(tokens[:2]), sum(tokens[2:])]
    assert balance(tokens, 2).tokens == (5, 5) and max(by_count) == 8


def test_4k_grid_balance():
    plan = plan_patches(2160, 3840, 512, "paper", align=16).scaled(8)
    tokens = patch_tokens(plan, (2, 2))
    assert len(tokens) == 91
    for n in (2, 4, 8):
        split = balance(tokens, n)
        assert sum(split.tokens) == sum(tokens) and sum(split.patches) == 91
        assert split.idle_share < 0.05  # 91 patches of similar size split well
    assert balance(tokens, 8).speedup > 7.6


def test_window_rounds_and_the_choice_of_mode():
    assert window_rounds([0, 1, 2, 3, 4], 2) == [[0, 1], [2, 3], [4]]
    assert window_idle_share(5, 2) == pytest.approx(1 / 6)
    even, uneven = balance([1, 1], 2), balance([3, 1, 1], 2)
    assert choose_mode(1, 2, even) == "patches"  # fewer windows than processes
    assert choose_mode(4, 2, uneven) == "windows"  # every process busy all the time
    assert choose_mode(3, 2, even) == "patches"  # the last round would idle a process
    assert choose_mode(3, 2, None) == "windows"  # a filter has no patches


# --- torchrun ----------------------------------------------------------------------------------


def torchrun(args: list[str], cwd: Path, n: int = 2, logs: Path | None = None, **kwargs):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}"]
    if logs is not None:  # each process's stdout and stderr in its own file
        cmd += ["--log-dir", str(logs), "--redirects", "3"]
    return subprocess.Popen([*cmd, *args], cwd=cwd, env=ENV, text=True, **kwargs)


def upscale_cli(args: list[str], cwd: Path, processes: int = 1) -> subprocess.CompletedProcess:
    if processes == 1:
        cmd = [sys.executable, "-m", "patchvsr", "upscale", *args]
        return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    proc = torchrun(["-m", "patchvsr", "upscale", *args], cwd, processes, stdout=-1, stderr=-1)
    out, err = proc.communicate(timeout=600)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def frames_of(folder: Path) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])


def max_difference(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def process_logs(logs: Path, name: str) -> dict[int, str]:
    """rank -> its stderr.log (or stdout.log) under torchrun's --log-dir."""
    return {int(p.parent.name): p.read_text() for p in logs.rglob(f"attempt_0/*/{name}")}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=12, size=(64, 48))


@pytest.fixture(scope="module")
def single(clip, tmp_path_factory) -> np.ndarray:
    """The tiny model's frames from one process: the reference."""
    out = tmp_path_factory.mktemp("single") / "frames"
    done = upscale_cli([str(clip), "-o", str(out), "--frames", *TINY], clip.parent)
    assert done.returncode == 0, done.stderr
    return frames_of(out)


@pytest.mark.slow
def test_torchrun_2_gives_the_frames_of_one_process(clip, single, tmp_path):
    out = tmp_path / "frames"
    done = upscale_cli([str(clip), "-o", str(out), "--frames", *TINY], tmp_path, 2)
    assert done.returncode == 0, done.stderr
    # 12 frames are 2 windows of the tiny model, one for each process: each window is whole
    # on one process, with its own seed, so the frames are exactly those of one process.
    assert "parallel: window-parallel on 2 processes" in done.stderr
    assert done.stdout.count("wrote ") == 1  # only the main process writes and reports
    # Exact where the thread counts agree; one process takes the cores left free at its start
    # and each of two processes one thread, which moves a float sum by one level at most.
    assert max_difference(frames_of(out), single) <= 1


@pytest.mark.slow
def test_mini_model_patch_parallel_matches_one_process(clip, tmp_path):
    # 128-pixel patches: at mini's own 256 the 256x192 output would be one patch, nothing to split
    args = ["--frames", "--model", "mini", "--scale", "4", "--seed", "0", "--steps", "2"]
    args += ["--patch", "128"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert upscale_cli([str(clip), "-o", str(one), *args], tmp_path).returncode == 0
    done = upscale_cli([str(clip), "-o", str(two), *args, "--parallel", "patches"], tmp_path, 2)
    assert done.returncode == 0, done.stderr
    assert "patch-parallel on 2 processes (each step's patches split by tokens" in done.stderr
    assert max_difference(frames_of(two), frames_of(one)) <= 1


@pytest.mark.slow
def test_video_output_keeps_timestamps_and_audio(clip, tmp_path):
    out = tmp_path / "out.mp4"
    args = [str(clip), "-o", str(out), *TINY, "-q", "--parallel", "patches"]
    done = upscale_cli(args, tmp_path, 2)
    assert done.returncode == 0, done.stderr
    assert "patch-parallel on 2 processes" in done.stderr
    assert video_pts(out) == video_pts(clip)
    assert audio_duration(out) == pytest.approx(audio_duration(clip), abs=1e-3)
    assert not work_dir_for(out).exists()


@pytest.mark.slow
def test_bad_input_is_one_line_on_every_process(tmp_path):
    logs = tmp_path / "logs"
    missing = tmp_path / "missing.mp4"
    proc = torchrun(
        ["-m", "patchvsr", "upscale", str(missing), "-o", "out.mp4", *TINY],
        tmp_path,
        logs=logs,
        stdout=-1,
        stderr=-1,
    )
    proc.communicate(timeout=600)
    assert proc.returncode != 0
    errors = process_logs(logs, "stderr.log")
    assert sorted(errors) == [0, 1]
    for rank, text in errors.items():
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), (rank, text)
        assert "missing.mp4" in lines[0]
    assert not (tmp_path / "out.mp4").exists()


# Rank 1 stops at the start of window 1 (seed 1) while rank 0 waits in its first step, writes
# its process id to MARKER and waits there to be killed, so the kill lands inside a shared window.
KILLABLE = """
import os, sys, time
from pathlib import Path
from patchvsr.video import upscalers
from patchvsr.cli import main

marker = Path(sys.argv[1])
upscale = upscalers.PatchVSRUpscaler.upscale

def stopping(self, frames, out_size, *, seed=0, progress=None):
    if seed == 1 and os.environ["RANK"] == "1":
        marker.write_text(str(os.getpid()))
        time.sleep(600)
    return upscale(self, frames, out_size, seed=seed, progress=progress)

upscalers.PatchVSRUpscaler.upscale = stopping
raise SystemExit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_a_killed_process_stops_the_job_and_resume_on_one_process_finishes_it(
    clip, single, tmp_path
):
    out = tmp_path / "frames"
    script, marker, logs = tmp_path / "killable.py", tmp_path / "rank1.pid", tmp_path / "logs"
    script.write_text(KILLABLE)
    args = ["upscale", str(clip), "-o", str(out), "--frames", *TINY, "-q"]
    proc = torchrun(
        [str(script), str(marker), *args, "--parallel", "patches"],
        tmp_path,
        logs=logs,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() or not marker.read_text():
            assert proc.poll() is None, "the job ended before it could be killed"
            assert time.monotonic() < deadline, "window 1 did not start within 300 s"
            time.sleep(0.05)
        os.kill(int(marker.read_text()), signal.SIGKILL)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    main_log = process_logs(logs, "stderr.log")[0]
    lines = [line for line in main_log.splitlines() if line.strip()]
    assert "Traceback" not in main_log
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, main_log
    # Gloo's closed connection or torchrun's SIGTERM, whichever comes first.
    assert "another process of the job" in errors[0] and "--resume" in errors[0]
    assert not out.exists()
    work = work_dir_for(out)
    assert sorted(p.name for p in work.glob("window_*")) == [
        "window_00000.json",
        "window_00000.npy",
    ]

    resumed = upscale_cli([*args[1:], "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed: 1 windows kept" in resumed.stdout
    assert max_difference(frames_of(out), single) <= 1
    assert not work.exists()


# --- the Python API inside a process group -----------------------------------------------------

PIPE_IN_GROUP = """
import json, os, sys
import numpy as np, torch, torch.distributed as dist
sys.path.insert(0, sys.argv[2])
from conftest import clip_frame
from patchvsr.pipeline.builders import build_tiny

dist.init_process_group("gloo")
pipe = build_tiny()
evaluated = []
predict = pipe.predict_patches
def counting(latents, *args, **kwargs):
    evaluated.append(latents.shape[0])
    return predict(latents, *args, **kwargs)
pipe.predict_patches = counting
frames = np.stack([clip_frame(i, 40, 32) for i in range(5)])
out = pipe(frames, scale=2, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
folder = sys.argv[1]
np.save(os.path.join(folder, f"rank{dist.get_rank()}.npy"), out.frames)
with open(os.path.join(folder, f"rank{dist.get_rank()}.json"), "w") as f:
    json.dump(sum(evaluated), f)
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_pipeline_inside_a_process_group_shares_its_patches(tmp_path):
    script = tmp_path / "pipe.py"
    script.write_text(PIPE_IN_GROUP)
    proc = torchrun(
        [str(script), str(tmp_path), str(REPO_ROOT / "tests")], tmp_path, stdout=-1, stderr=-1
    )
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err

    pipe = build_tiny()
    frames = np.stack([clip_frame(i, 40, 32) for i in range(5)])
    alone = pipe(frames, scale=2, num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    per_step = alone.plan.evaluations_per_step
    counts = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert sum(counts) == 2 * per_step and min(counts) > 0  # each patch once, both busy
    for r in (0, 1):  # both processes hold the same result, that of one process
        shared = np.load(tmp_path / f"rank{r}.npy")
        assert max_difference(shared, alone.frames) <= 1
