"""Hostile and unusual inputs, one case each, through the command line and the web app alike.

Every file is built here, with PyAV or byte by byte. An input that is valid but unusual (one
frame, a 1x1 picture, 1000 fps, variable frame rate, rotation, 10 bits, greyscale, alpha, a
unicode path) is processed correctly, and the test checks the output against the input's
bicubic upscale. An input that cannot be processed is refused with a clear message: on the
command line one line on stderr and exit code 2, in the app a message in the page; no
traceback, no output left behind, the input untouched, and the process or server goes on.

The command line runs in this process (stderr is captured at the file-descriptor level, so a
library writing there directly would be caught too); the app is served for real on a loopback
port. Both run the bicubic baseline: these tests are about the files, not the model.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from app_server import call_raw, fetch, file_data, job_folders, serve, upscale_args
from conftest import REPO_ROOT, clip_frame, video_pts, write_clip
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from patchvsr.cli import main
from patchvsr.io.probe import probe
from patchvsr.io.reader import read_frames
from patchvsr.serve.config import DemoSettings
from patchvsr.video.upscalers import bicubic_resize

BOMB_SIDE = 16000  # one decoded 16000x16000 RGB frame takes 768 MB
BOMB = "declared 16000x16000"

# --- the inputs ------------------------------------------------------------------------------


def truncated_mp4(folder: Path) -> Path:
    """An interrupted download: the first half of a clip (its index is at the end)."""
    whole = write_clip(folder / "whole.mp4", frames=24)
    path = folder / "truncated.mp4"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    return path


def corrupt_h264(folder: Path) -> Path:
    """A clip whose H.264 data is overwritten with garbage in its middle third."""
    path = write_clip(folder / "corrupt.mp4", frames=24, audio=False)
    data = bytearray(path.read_bytes())
    start, end = data.index(b"mdat") + 4, data.index(b"moov")
    a, b = start + (end - start) // 3, start + 2 * (end - start) // 3
    data[a:b] = bytes((7 * i + 13) % 256 for i in range(b - a))
    path.write_bytes(bytes(data))
    return path


def html_as_mp4(folder: Path) -> Path:
    """An error page saved under a video's name."""
    path = folder / "download.mp4"
    path.write_text("<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n")
    return path


def audio_only(folder: Path) -> Path:
    path = folder / "sound.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), "fltp", "stereo")
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def zero_frames(folder: Path) -> Path:
    """A video stream that holds no frame at all."""
    path = folder / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        container.start_encoding()  # header and index, no frame
    return path


def one_frame(folder: Path) -> Path:
    return write_clip(folder / "one.mp4", frames=1, audio=True)


def one_pixel(folder: Path) -> Path:
    return write_clip(folder / "dot.mp4", frames=3, size=(1, 1), audio=False)


def two_by_three(folder: Path) -> Path:
    return write_clip(folder / "tiny.mp4", frames=3, size=(2, 3), audio=False)


def declared_16000(folder: Path) -> Path:
    """A decompression bomb: a MOV file of 200 bytes whose one frame is a PNG declaring
    16000x16000 pixels. A decoder that believed it would allocate and clear 768 MB."""
    png = io.BytesIO()
    Image.new("RGB", (1, 1)).save(png, format="PNG")
    data = bytearray(png.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", BOMB_SIDE, BOMB_SIDE)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    path = folder / "bomb.mov"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = BOMB_SIDE, BOMB_SIDE, "rgb24"
        packet = av.Packet(bytes(data))
        packet.stream, packet.pts, packet.dts = stream, 0, 0
        packet.time_base = Fraction(1, 25)
        container.mux(packet)
    return path


def fps_0(folder: Path) -> Path:
    """Every frame at the same instant (zero sample durations): a frame rate of 0."""
    path = folder / "fps0.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"bf": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(clip_frame(i, 64, 48), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = bytearray(path.read_bytes())
    stts = data.index(b"stts")  # size, "stts", version/flags, count, (samples, delta) ...
    (entries,) = struct.unpack(">I", data[stts + 8 : stts + 12])
    for k in range(entries):
        data[stts + 16 + 8 * k : stts + 20 + 8 * k] = struct.pack(">I", 0)
    path.write_bytes(bytes(data))
    return path


def fps_1000(folder: Path) -> Path:
    return write_clip(folder / "fast.mp4", frames=3, fps=1000, audio=False)


def fps_1_over_1001(folder: Path) -> Path:
    """One frame every 1001 seconds: three frames last 50 minutes."""
    return write_clip(folder / "slow.mp4", frames=3, fps=Fraction(1, 1001), audio=False)


VFR_PTS = [0, 33, 83, 116, 166, 250]  # ms: uneven gaps


def variable_frame_rate(folder: Path) -> Path:
    return write_clip(
        folder / "vfr.mp4", frames=len(VFR_PTS), pts=VFR_PTS, time_base=Fraction(1, 1000)
    )


def rotated_phone_video(folder: Path) -> Path:
    """A phone held upright: landscape pixels with a display matrix turning them by -90."""
    return write_clip(folder / "phone.mp4", frames=3, size=(64, 32), rotation=-90)


def ten_bit_hevc(folder: Path) -> Path:
    path = folder / "hdr.mp4"
    return write_clip(path, frames=3, codec="libx265", pix_fmt="yuv420p10le", audio=False)


def greyscale(folder: Path) -> Path:
    return write_clip(folder / "grey.mkv", frames=3, codec="ffv1", pix_fmt="gray", audio=False)


def _rgba(index: int) -> np.ndarray:
    """A test picture whose left quarter is transparent."""
    alpha = np.full((30, 40, 1), 255, np.uint8)
    alpha[:, :10] = 0
    return np.concatenate([clip_frame(index, 40, 30), alpha], axis=-1)


def alpha_png_sequence(folder: Path) -> Path:
    frames = folder / "rgba frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(_rgba(i), "RGBA").save(frames / f"{i:04d}.png")
    return frames


def alpha_png(folder: Path) -> Path:
    path = folder / "sticker.png"
    Image.fromarray(_rgba(0), "RGBA").save(path)
    return path


def unicode_path(folder: Path) -> Path:
    sub = folder / "my clips – été"
    sub.mkdir()
    return write_clip(sub / "vidéo 日本 🎬 (1).mp4", frames=3)


def symlink_loop(folder: Path) -> Path:
    (folder / "a.mp4").symlink_to("b.mp4")
    (folder / "b.mp4").symlink_to("a.mp4")
    return folder / "a.mp4"


def directory_as_file(folder: Path) -> Path:
    path = folder / "clip.mp4"
    path.mkdir()
    (path / "notes.txt").write_text("a folder named like a video\n")
    return path


# --- what must come out ------------------------------------------------------------------------


LUMA = np.array([0.2126, 0.7152, 0.0722])  # BT.709, as the encoder converts


def same_picture(src: Path, out: Path, scale: int = 2) -> None:
    """`out` is `src` upscaled `scale` times (the bicubic baseline), frame for frame, up to
    the video codec. Brightness is compared: 4:2:0 video halves the colour resolution, which
    on a 4x6 frame is most of the colour."""
    low, high = read_frames(src), read_frames(out)
    assert high.shape == (len(low), low.shape[1] * scale, low.shape[2] * scale, 3)
    expected = bicubic_resize(low, high.shape[1:3])
    assert np.abs(high @ LUMA - expected @ LUMA).mean() < 3


def seconds(path: Path) -> list[float]:
    time_base = probe(path).time_base
    return [float(p * time_base) for p in video_pts(path)]


def check_one_frame(src: Path, out: Path) -> None:
    info = probe(out)
    assert info.num_frames == 1 and info.has_audio


def check_fps_0(src: Path, out: Path) -> None:
    # The frames all say "now": they come out one nominal frame apart, in order, none lost.
    assert len(set(video_pts(src))) == 1
    steps = np.diff(seconds(out))
    assert len(steps) == 5 and np.allclose(steps, steps[0]) and 0.001 < steps[0] < 1


def check_fps_1000(src: Path, out: Path) -> None:
    assert probe(out).rate == 1000 and seconds(out) == pytest.approx([0, 0.001, 0.002])


def check_fps_1_over_1001(src: Path, out: Path) -> None:
    info = probe(out)
    assert info.rate == Fraction(1, 1001) and info.duration == pytest.approx(3003, rel=1e-3)


def check_vfr(src: Path, out: Path) -> None:
    assert seconds(out) == pytest.approx([p / 1000 for p in VFR_PTS], abs=1e-4)


def check_rotation(src: Path, out: Path) -> None:
    # Upright: the landscape pixels turned clockwise, and written without rotation metadata.
    upright = np.rot90(clip_frame(0, 64, 32), k=-1).astype(int)
    assert np.abs(read_frames(src, 0, 1)[0].astype(int) - upright).mean() < 8
    info = probe(out)
    assert (info.width, info.height, info.rotation) == (64, 128, 0)


def check_ten_bit(src: Path, out: Path) -> None:
    assert (probe(src).codec, probe(src).pix_fmt) == ("hevc", "yuv420p10le")
    assert probe(out).pix_fmt == "yuv420p"


def check_grey(src: Path, out: Path) -> None:
    frames = read_frames(out).astype(int)
    assert np.abs(frames[..., 0] - frames[..., 1]).mean() < 2
    assert np.abs(frames[..., 2] - frames[..., 1]).mean() < 2


def check_alpha(src: Path, out: Path) -> None:
    # The colours are kept, transparent pixels included; the alpha channel is dropped.
    low = np.stack([_rgba(i)[..., :3] for i in range(len(read_frames(out)))])
    expected = bicubic_resize(low, (60, 80)).astype(int)
    assert np.abs(read_frames(out).astype(int) - expected).mean() < 4


# --- the cases --------------------------------------------------------------------------------

SAME_AS_CLI = object()


@dataclass(frozen=True)
class Case:
    """`build(folder) -> path`; `refused`: a pattern the message must match, or None when the
    input must be processed; `check(src, out)`: more checks of a processed output. Where the
    app differs: what it is sent (`app_build`), what it must answer (`app_refused`), and
    `via_api` for inputs that no upload can carry (a browser sends a file's bytes, never a
    link or a folder), which the app is sent as a server path instead and must refuse too."""

    build: Callable[[Path], Path]
    refused: str | None = None
    check: Callable[[Path, Path], None] | None = None
    app_build: Callable[[Path], Path] | None = None
    app_refused: str | object | None = SAME_AS_CLI
    via_api: bool = False


CASES = {
    "truncated mp4": Case(truncated_mp4, refused=r"cannot read .*truncated\.mp4"),
    "corrupt H.264 mid-file": Case(corrupt_h264, refused=r"decoding failed at frame \d+"),
    "HTML renamed .mp4": Case(html_as_mp4, refused=r"download\.mp4: not a video file"),
    "audio only": Case(audio_only, refused=r"sound\.mp4: the file has only audio"),
    "zero frames": Case(
        zero_frames,
        refused=r"empty\.mp4: the (file has no video stream|video stream has zero frames)",
    ),
    "one frame": Case(one_frame, check=check_one_frame),
    "1x1 pixels": Case(one_pixel),
    "2x3 pixels": Case(two_by_three),
    BOMB: Case(declared_16000, refused=r"bomb\.mov: .*(over|exceeds) the limit of 67108864 pixels"),
    "0 fps": Case(fps_0, check=check_fps_0),
    "1000 fps": Case(fps_1000, check=check_fps_1000),
    "1/1001 fps": Case(
        fps_1_over_1001,
        check=check_fps_1_over_1001,
        app_refused=r"slow\.mp4 is 3003\.0 s long.*PATCHVSR_MAX_SECONDS",
    ),
    "variable frame rate": Case(variable_frame_rate, check=check_vfr),
    "rotated phone video": Case(rotated_phone_video, check=check_rotation),
    "10-bit HEVC": Case(ten_bit_hevc, check=check_ten_bit),
    "greyscale": Case(greyscale, check=check_grey),
    "alpha PNG sequence": Case(alpha_png_sequence, check=check_alpha, app_build=alpha_png),
    "spaces and unicode in the path": Case(unicode_path),
    "symlink loop": Case(
        symlink_loop, refused=r"a\.mp4: a symbolic link that leads nowhere", via_api=True
    ),
    "directory given as a file": Case(
        directory_as_file,
        refused=r"clip\.mp4: the folder holds no PNG or JPEG frames",
        via_api=True,
    ),
}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under `root` (links not followed) with its kind and content."""
    entries = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                entries[key] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[key] = ("dir",)
            else:
                entries[key] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return entries


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


@contextmanager
def peak_memory_growth():
    """`growth["bytes"]`: how far this process's peak resident memory rose above its level
    at the start of the block (Linux; absent where the peak cannot be reset)."""
    growth: dict[str, int] = {}
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to now
        start = _status_kb("VmRSS")
    except (OSError, KeyError):
        start = None
    yield growth
    if start is not None:
        growth["bytes"] = (_status_kb("VmHWM") - start) * 1024


def one_line(text: str) -> str:
    """The only line a terminal shows of `text` (a progress bar redraws itself after "\r" and
    clears itself at the end)."""
    lines = [line.split("\r")[-1] for line in text.split("\n")]
    lines = [line for line in lines if line.strip()]
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


# --- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_command_line(name, tmp_path, capfd):
    case = CASES[name]
    (tmp_path / "in").mkdir()
    src = case.build(tmp_path / "in")
    out = tmp_path / "out" / ("résultat 日本.mp4" if "unicode" in name else "out.mp4")
    out.parent.mkdir()
    before = snapshot(tmp_path)
    capfd.readouterr()  # what building the input printed (x265 talks)
    with peak_memory_growth() as growth:
        code = main(["upscale", str(src), "-o", str(out), "--scale", "2", "--model", "bicubic"])
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err
    if case.refused:
        assert code == 2
        line = one_line(captured.err)
        assert line.startswith("error: ") and re.search(case.refused, line), line
        assert snapshot(tmp_path) == before  # no output, no work folder, the input as it was
    else:
        assert code == 0, captured.err
        assert captured.out.startswith(f"wrote {out}")
        same_picture(src, out)
        if case.check:
            case.check(src, out)
        inputs = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out")}
        assert inputs == {k: v for k, v in before.items() if not k.startswith("out")}
        assert sorted(p.name for p in out.parent.iterdir()) == [out.name]
    if name == BOMB and "bytes" in growth:  # nothing was allocated for the declared size
        assert growth["bytes"] < 200e6


def test_the_command_line_goes_on_working_after_the_battery(tmp_path, capfd):
    clip = write_clip(tmp_path / "clip.mp4", frames=4)
    args = ["-o", str(tmp_path / "o.mp4"), "--scale", "2", "--model", "bicubic"]
    assert main(["upscale", str(clip), *args]) == 0
    same_picture(clip, tmp_path / "o.mp4")


@pytest.mark.slow
def test_a_refusal_is_one_line_and_exit_code_2_for_the_process_too(tmp_path):
    """The same refusal from `python -m patchvsr` in a process of its own: its whole stderr
    is one line, its exit status 2."""
    bomb = declared_16000(tmp_path)
    cmd = [sys.executable, "-m", "patchvsr", "upscale", str(bomb), "-o", str(tmp_path / "o.mp4")]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([*cmd, "--model", "bicubic"], capture_output=True, env=env, timeout=120)
    assert done.returncode == 2 and done.stdout == b""
    assert re.search(CASES[BOMB].refused, one_line(done.stderr.decode()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.mov"]


# --- the web app --------------------------------------------------------------------------------

ENV = {
    "PATCHVSR_MODELS": "bicubic",
    "PATCHVSR_MAX_SECONDS": "5",
    "PATCHVSR_MAX_INPUT": "640x480",
    "PATCHVSR_MAX_OUTPUT": "1280x720",
    "PATCHVSR_MAX_FRAMES": "8",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    outputs = tmp_path_factory.mktemp("outputs")
    demo, url = serve(DemoSettings.from_env({**ENV, "PATCHVSR_OUTPUT_DIR": str(outputs)}))
    try:
        yield url, outputs
    finally:
        demo.close()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_web_app(name, app, tmp_path):
    url, outputs = app
    case = CASES[name]
    src = (case.app_build or case.build)(tmp_path)
    before, jobs = snapshot(tmp_path), job_folders(outputs)
    refused = case.refused if case.app_refused is SAME_AS_CLI else case.app_refused
    with peak_memory_growth() as growth:
        if case.via_api:
            events = call_raw(url, "upscale", list(upscale_args(file_data(src))))
            assert "event: error" in events and "complete" not in events
        elif refused:
            with pytest.raises(AppError) as err:
                Client(url, verbose=False).predict(
                    *upscale_args(handle_file(str(src))), api_name="/upscale"
                )
            message = str(err.value)
            assert re.search(refused, message), message
            assert "Traceback" not in message and "/tmp" not in message  # no server paths
        else:
            status, pair, video, compare, download, crops, _zoom = Client(
                url, verbose=False
            ).predict(*upscale_args(handle_file(str(src))), api_name="/upscale")
            assert status.startswith("**Done.** bicubic: ")
            assert src.name in status  # the name as uploaded, unicode and all
            if src.suffix == ".png":
                assert Path(download).suffix == ".png" and video is None
            same_picture(src, Path(download))
            if case.check:
                case.check(src, Path(download))
    assert snapshot(tmp_path) == before  # the input is untouched
    if refused or case.via_api:
        assert job_folders(outputs) == jobs  # and nothing was left behind
    if name == BOMB and "bytes" in growth:
        assert growth["bytes"] < 200e6
    assert fetch(url)[0] == 200  # the server goes on


@pytest.mark.slow
def test_the_server_goes_on_working_after_the_battery(app, tmp_path):
    url, outputs = app
    clip = write_clip(tmp_path / "clip.mp4", frames=4)
    status, *_, download, _crops, _zoom = Client(url, verbose=False).predict(
        *upscale_args(handle_file(str(clip)), frames=4), api_name="/upscale"
    )
    assert status.startswith("**Done.**")
    same_picture(clip, Path(download))
    assert not list(outputs.rglob("*.partial-*")) and not list(outputs.rglob("*.patchvsr-work"))
