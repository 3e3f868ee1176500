"""Shared fixtures: small clips written with PyAV, and the real media in ../shared/data."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def clip_frame(index: int, width: int, height: int) -> np.ndarray:
    """A deterministic test picture: smooth colour gradients plus a bright square that moves
    one pixel per frame, so consecutive frames differ and there is detail to scale."""
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [
            (x * 255 // max(1, width - 1) + 3 * index) % 256,
            y * 255 // max(1, height - 1),
            (128 + 40 * np.sin((x + y + 2 * index) / 5.0)).astype(int),
        ],
        axis=-1,
    ).astype(np.uint8)
    s = max(2, min(width, height) // 4)
    x0 = index % max(1, width - s)
    frame[height // 3 : height // 3 + s, x0 : x0 + s] = (250, 250, 40)
    return frame


def write_clip(
    path: Path,
    *,
    frames: int = 12,
    size: tuple[int, int] = (64, 48),
    fps: Fraction | int | float = 24,
    audio: bool = True,
    pix_fmt: str | None = None,
    codec: str = "libx264",
    rotation: int = 0,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    faststart: bool = False,
) -> Path:
    """Write a small video (with a 440 Hz AAC tone as long as the video when `audio`).

    `pts`/`time_base` give explicit frame timestamps (variable frame rate); odd sizes use
    yuv444p unless `pix_fmt` says otherwise (4:2:0 needs even sizes)."""
    width, height = size
    rate = Fraction(fps).limit_denominator(100000)
    tb = time_base or 1 / rate
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = width, height
        if pix_fmt is None:
            pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        stream.pix_fmt = pix_fmt
        stream.time_base = tb
        stream.codec_context.time_base = tb
        if rotation:
            stream.set_display_rotation(rotation)
        a_stream = None
        if audio:
            a_stream = container.add_stream("aac", rate=48000)
            a_stream.layout = "stereo"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(clip_frame(i, width, height), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = tb
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if a_stream is not None:
            if pts is not None:
                duration = float((pts[-1] + (pts[-1] - pts[-2])) * tb)
            else:
                duration = frames / float(rate)
            samples = int(round(duration * 48000))
            t = np.arange(samples) / 48000.0
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start : start + 1024]
                block = np.ascontiguousarray(np.stack([chunk, chunk]))
                aframe = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
                aframe.sample_rate = 48000
                aframe.pts = start
                for packet in a_stream.encode(aframe):
                    container.mux(packet)
            for packet in a_stream.encode(None):
                container.mux(packet)
    return path


@pytest.fixture
def make_clip(tmp_path):
    """Factory: `make_clip(name="clip.mp4", frames=12, size=(W, H), fps=24, audio=True, ...)`
    writes a clip into the test's temporary folder and returns its path."""

    def make(name: str = "clip.mp4", **kwargs) -> Path:
        return write_clip(tmp_path / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the repository; tests using it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real media not available ({SHARED_DATA} is absent)")
    return SHARED_DATA


def audio_duration(path: Path) -> float | None:
    """Duration (s) of the first audio stream, from its packets' timestamps."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        end = 0
        for packet in container.demux(stream):
            if packet.pts is not None:
                end = max(end, packet.pts + (packet.duration or 0))
        return float(end * stream.time_base)


def video_pts(path: Path) -> list[int]:
    """Presentation timestamps of every video frame, in decode-output order."""
    with av.open(str(path)) as container:
        return [f.pts for f in container.decode(video=0)]


# Lines a test adds to the end of the run's report (the fuzz test's case counts).
SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if SUMMARY:
        terminalreporter.section("figures")
        for line in SUMMARY:
            terminalreporter.write_line(line)
