"""Comparison frames and videos: baseline beside the result, labelled, in sync."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import audio_duration

from patchvsr.errors import PatchVSRError
from patchvsr.io.comparison import comparison_size, compose, make_comparison, split_position
from patchvsr.io.probe import probe
from patchvsr.io.reader import read_frames
from patchvsr.io.writer import VideoWriter
from patchvsr.video.upscalers import bicubic_resize


def _frames(h: int = 120, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (
        np.full((h, w, 3), 60, np.uint8),
        rng.integers(100, 200, (h, w, 3), dtype=np.uint8),
    )


def test_side_by_side_puts_the_baseline_left_and_labels_both():
    base, result = _frames()
    frame = compose(base, result, ("bicubic", "mini"), mode="side")
    assert frame.shape == (120, 320, 3)
    # Away from the labels (top-left of each half) the halves are the inputs, untouched.
    assert np.array_equal(frame[60:, :160], base[60:])
    assert np.array_equal(frame[60:, 160:], result[60:])
    assert not np.array_equal(frame[:20, :60], base[:20, :60])  # a label is drawn
    assert not np.array_equal(frame[:20, 160:220], result[:20, :60])


def test_split_wipe_keeps_the_output_size_and_sweeps():
    base, result = _frames()
    frame = compose(base, result, mode="split", divider=40)
    assert frame.shape == base.shape
    assert np.array_equal(frame[60:, :38], base[60:, :38])
    assert np.array_equal(frame[60:, 42:100], result[60:, 42:100])
    positions = [split_position(i, 30, 160) for i in range(30)]
    assert positions[0] == positions[-1] == 40 and max(positions) == 120


def test_auto_mode_switches_to_split_when_side_by_side_is_too_wide():
    assert comparison_size("auto", 1920, 1080) == (3840, 1080)
    assert comparison_size("auto", 3840, 2160) == (3840, 2160)
    with pytest.raises(PatchVSRError, match="unknown comparison mode"):
        comparison_size("diagonal", 10, 10)


def test_make_comparison_from_finished_files_keeps_timing_and_audio(make_clip, tmp_path):
    clip = make_clip(frames=8, size=(64, 48), fps=30, audio=True)
    result = tmp_path / "result.mp4"
    info = probe(clip)
    with VideoWriter(result, 128, 96, rate=info.rate, time_base=info.time_base) as writer:
        for frame in bicubic_resize(read_frames(clip), (96, 128)):
            writer.write(frame)
    cmp = make_comparison(clip, result, tmp_path / "cmp.mp4")
    out = probe(cmp)
    assert (out.width, out.height, out.num_frames, out.rate) == (256, 96, 8, info.rate)
    assert audio_duration(cmp) == pytest.approx(audio_duration(clip), abs=1e-3)
    with pytest.raises(PatchVSRError, match="over the input"):
        make_comparison(clip, result, result)
