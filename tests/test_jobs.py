"""The job runner: windows, cross-fades, seeds, resume, streaming memory, atomic output."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import audio_duration

from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import probe
from patchvsr.io.reader import read_frames
from patchvsr.method.temporal import plan_windows, window_weights
from patchvsr.video.jobs import UpscaleJob, run_job, work_dir_for
from patchvsr.video.upscalers import (
    BicubicUpscaler,
    LanczosUpscaler,
    Upscaler,
    bicubic_resize,
    get_upscaler,
)


class Recorder:
    """A test upscaler: bicubic, but records every call, and can stop the job after
    `interrupt_after` windows as Ctrl-C would."""

    def __init__(self, window: int = 4, overlap: int = 0, interrupt_after: int | None = None):
        self.name = "recorder"
        self.window, self.overlap = window, overlap
        self.interrupt_after = interrupt_after
        self.calls: list[tuple[int, int]] = []  # (frames, seed)

    def upscale(self, frames, out_size, *, seed=0, progress=None):
        if self.interrupt_after is not None and len(self.calls) == self.interrupt_after:
            raise KeyboardInterrupt
        self.calls.append((len(frames), seed))
        return bicubic_resize(frames, out_size)


class Constant:
    """Returns, for window k (seed k), frames filled with the value 10 * (k + 1): makes the
    cross-fade visible in the output."""

    name = "constant"

    def __init__(self, window: int, overlap: int):
        self.window, self.overlap = window, overlap

    def upscale(self, frames, out_size, *, seed=0, progress=None):
        return np.full((len(frames), *out_size, 3), 10 * (seed + 1), np.uint8)


def _job(clip: Path, out: Path, **kwargs) -> UpscaleJob:
    info = probe(clip)
    kwargs.setdefault("out_size", (info.height * 2, info.width * 2))
    kwargs.setdefault("quiet", True)
    return UpscaleJob(input=clip, output=out, **kwargs)


def test_baselines_follow_the_upscaler_protocol():
    for up in (get_upscaler("bicubic", steps=3, device="cpu"), get_upscaler("Lanczos")):
        assert isinstance(up, Upscaler) and up.window > up.overlap >= 0
    frames = np.random.default_rng(0).integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    for up in (BicubicUpscaler(), LanczosUpscaler()):
        seen: list[tuple[int, int, str]] = []
        out = up.upscale(frames, (25, 31), progress=lambda *report, log=seen: log.append(report))
        assert out.shape == (3, 25, 31, 3) and out.dtype == np.uint8
        assert seen[-1] == (3, 3, "frames")


def test_unknown_models_are_one_line_errors():
    with pytest.raises(PatchVSRError, match="nope"):
        get_upscaler("nope")


def test_job_keeps_frames_fps_audio_and_size(make_clip, tmp_path):
    clip = make_clip(frames=14, size=(64, 48), fps=24, audio=True)
    out = tmp_path / "out.mp4"
    result = run_job(_job(clip, out, out_size=(97, 130)), BicubicUpscaler())
    info, src = probe(out), probe(clip)
    assert (info.width, info.height) == (130, 97)
    assert info.num_frames == src.num_frames == result.num_frames == 14
    assert info.rate == src.rate
    assert audio_duration(out) == pytest.approx(audio_duration(clip), abs=1e-3)
    assert not work_dir_for(out).exists()
    assert "14 frames" in result.summary() and "130x97" in result.summary()
    # The encoded video is the bicubic upscale of the input, up to H.264 at crf 18.
    expected = bicubic_resize(read_frames(clip), (97, 130)).astype(float)
    assert np.abs(read_frames(out).astype(float) - expected).mean() < 3


def test_windows_get_consecutive_seeds_and_never_more_than_window_frames(make_clip, tmp_path):
    clip = make_clip(frames=10, audio=False)
    up = Recorder(window=4, overlap=1)
    result = run_job(_job(clip, tmp_path / "out.mp4", seed=7), up)
    spans = plan_windows(10, 4, 1)
    assert result.windows_total == len(spans) == len(up.calls)
    assert [seed for _, seed in up.calls] == [7 + k for k in range(len(spans))]
    assert all(n <= 4 for n, _ in up.calls)


def test_overlapping_windows_are_cross_faded(make_clip, tmp_path):
    clip = make_clip(frames=11, audio=False)
    out = tmp_path / "frames"
    run_job(_job(clip, out, as_frames=True, out_size=(8, 16)), Constant(window=5, overlap=2))
    got = np.array([f[0, 0, 0] for f in read_frames(out)], dtype=float)
    spans = plan_windows(11, 5, 2)
    weights = window_weights(spans, 11)
    want = np.zeros(11)
    for k, ((s, e), w) in enumerate(zip(spans, weights, strict=True)):
        want[s:e] += w * 10 * (k + 1)
    assert np.abs(got - np.rint(want)).max() <= 0.5
    assert len(set(got.tolist())) > len(spans)  # blended values between the windows' constants


def test_resume_does_only_the_remaining_windows_and_gives_the_same_file(make_clip, tmp_path):
    clip = make_clip(frames=18, audio=True)
    reference = tmp_path / "ref" / "out.mp4"
    reference.parent.mkdir()
    run_job(_job(clip, reference), Recorder(window=4))

    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        run_job(_job(clip, out), Recorder(window=4, interrupt_after=2))
    assert not out.exists()
    work = work_dir_for(out)
    assert sorted(p.name for p in work.glob("window_*.json")) == [
        "window_00000.json",
        "window_00001.json",
    ]

    again = Recorder(window=4)
    result = run_job(_job(clip, out, resume=True), again)
    windows = len(plan_windows(18, 4, 0))
    assert len(again.calls) == windows - 2 and result.windows_run == windows - 2
    assert [seed for _, seed in again.calls] == list(range(2, windows))
    assert out.read_bytes() == reference.read_bytes()
    assert not work.exists()


def test_interrupted_encode_leaves_no_output_and_resumes(make_clip, tmp_path, monkeypatch):
    clip = make_clip(frames=10, audio=True)
    reference = tmp_path / "ref.mp4"
    run_job(_job(clip, reference), Recorder(window=4))

    from patchvsr.io import writer as video

    original = video.VideoWriter.write

    def write_then_stop(self, rgb, pts=None):
        if self.frames_written == 5:
            raise KeyboardInterrupt
        original(self, rgb, pts)

    out = tmp_path / "out.mp4"
    out.write_bytes(b"an older result")
    monkeypatch.setattr(video.VideoWriter, "write", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_job(_job(clip, out), Recorder(window=4))
    assert out.read_bytes() == b"an older result"  # untouched, not truncated
    assert not list(work_dir_for(out).glob(".*partial*"))  # the temporary encode is gone
    monkeypatch.setattr(video.VideoWriter, "write", original)
    again = Recorder(window=4)
    run_job(_job(clip, out, resume=True), again)
    assert again.calls == []  # every window was already done
    assert out.read_bytes() == reference.read_bytes()


def test_resume_refuses_a_work_folder_of_another_job(make_clip, tmp_path):
    clip = make_clip(frames=9, audio=False)
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        run_job(_job(clip, out, seed=1), Recorder(window=4, interrupt_after=1))
    manifest = json.loads((work_dir_for(out) / "manifest.json").read_text())
    assert manifest["seed"] == 1 and manifest["input"]["num_frames"] == 9
    with pytest.raises(PatchVSRError, match="different job"):
        run_job(_job(clip, out, seed=2, resume=True), Recorder(window=4))
    # Without --resume the stale folder is replaced and the job runs from the start.
    fresh = Recorder(window=4)
    result = run_job(_job(clip, out, seed=2), fresh)
    assert len(fresh.calls) == 3 and any("discarded" in n for n in result.notes)


def _peak_bytes(clip: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        run_job(_job(clip, out, out_size=(192, 256)), Recorder(window=4))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_video_length(make_clip, tmp_path):
    short = make_clip("short.mp4", frames=8, size=(64, 48), audio=False)
    long = make_clip("long.mp4", frames=64, size=(64, 48), audio=False)
    peak_short = _peak_bytes(short, tmp_path / "short_out.mp4")
    peak_long = _peak_bytes(long, tmp_path / "long_out.mp4")
    all_frames = 64 * 256 * 192 * 3  # what holding the whole output would take: 9.4 MB
    assert peak_long < peak_short + all_frames / 4


def test_output_over_the_size_limit_is_refused_before_work(make_clip, tmp_path):
    clip = make_clip(frames=3, audio=False)
    out = tmp_path / "out.mp4"
    up = Recorder()
    with pytest.raises(PatchVSRError, match="exceeds the limit"):
        run_job(_job(clip, out, max_output_pixels=100), up)
    assert up.calls == [] and list(tmp_path.iterdir()) == [clip]


def test_output_file_size_limit_leaves_nothing_behind(make_clip, tmp_path):
    clip = make_clip(frames=12, audio=False)
    out = tmp_path / "out.mp4"
    with pytest.raises(PatchVSRError, match="size limit"):
        run_job(_job(clip, out, max_output_bytes=2000, crf=0), Recorder(window=4))
    assert sorted(tmp_path.iterdir()) == [clip]


def test_patchvsr_model_plugs_into_the_runner_and_resumes_identically(make_clip, tmp_path):
    """The tiny diffusion model (random weights, every code path of the real one) through
    the same runner: overlapping windows, per-window seeds, byte-identical resume."""
    clip = make_clip(frames=8, size=(16, 16), audio=True)
    model = get_upscaler("tiny", device="cpu", steps=1)
    assert model.overlap > 0  # windows overlap and are cross-faded
    window = model.overlap + 2  # two windows over 8 frames, kept small for a fast test
    reference = tmp_path / "ref.mp4"
    run_job(_job(clip, reference, window=window), model)

    class StopAfterFirstWindow:
        name, window, overlap = model.name, model.window, model.overlap
        calls = 0

        def upscale(self, *args, **kwargs):
            if self.calls:
                raise KeyboardInterrupt
            self.calls += 1
            return model.upscale(*args, **kwargs)

    out = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt):
        run_job(_job(clip, out, window=window), StopAfterFirstWindow())
    result = run_job(_job(clip, out, window=window, resume=True), model)
    assert result.windows_total == 2 and result.windows_run == 1
    assert out.read_bytes() == reference.read_bytes()
    assert probe(out).num_frames == 8
    assert audio_duration(out) == pytest.approx(audio_duration(clip), abs=1e-3)


def test_progress_counts_the_clips_frames_once(make_clip, tmp_path, monkeypatch):
    """11 frames in windows of 5 overlapping by 2 are 15 window frames; the bar and the
    progress callback count the clip's 11, each once."""
    from tqdm import tqdm

    import patchvsr.video.jobs as jobs

    bars = []

    class Recording(tqdm):
        def close(self):
            bars.append((self.total, self.n))
            super().close()

    monkeypatch.setattr(jobs, "tqdm", Recording)
    clip = make_clip(frames=11, audio=False)
    seen = []
    up = Constant(window=5, overlap=2)
    assert sum(e - s for s, e in plan_windows(11, 5, 2)) == 15
    job = _job(clip, tmp_path / "frames", as_frames=True, out_size=(8, 16), quiet=False)
    run_job(job, up, on_progress=lambda done, total, what: seen.append((done, total)))
    assert bars[0] == (11, 11)  # the upscale phase; then the encoder's bar
    assert {total for _, total in seen} == {11}
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == 11
