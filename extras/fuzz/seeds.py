"""Valid, small input files of every kind the reading path takes: the fuzzer's starting points.

Each seed is built in memory with PyAV or Pillow (64x48 pixels, a few frames), so nothing is
stored in the repository. Video seeds keep the encoded packets too: a mutation that rewrites a
sequence header (a huge declared size) changes the packets and muxes them again, which keeps
the container itself intact around the bomb.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from patchvsr.io.writer import _repeatable_heap

# 64x48: x265 corrupts its heap on frames 48 wide or narrower (see MIN_FRAME_SIZE in
# patchvsr/io/output.py).
WIDTH, HEIGHT, FRAMES, RATE = 64, 48, 5, 25
# No random ids (Matroska's segment and track UIDs) or version strings: the same bytes each time.
BITEXACT = {"fflags": "+bitexact"}


@dataclass(frozen=True)
class Seed:
    """One valid file: `name` says the kind, `suffix` the extension it must carry. `packets`
    and `remux` are set for video seeds (the encoded frames, and how to make a file of them)."""

    name: str
    suffix: str
    data: bytes
    codec: str = ""
    packets: tuple[bytes, ...] = ()
    remux: Callable[[list[bytes]], bytes] | None = field(default=None, compare=False)


def picture(index: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A moving gradient with a bright square: `(H, W, 3) uint8` RGB."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([(x * 5 + 9 * index) % 256, y * 7 % 256, (x + y) * 3 % 256], axis=-1)
    rgb = rgb.astype(np.uint8)
    rgb[8:16, index * 4 : index * 4 + 8] = (250, 240, 30)
    return rgb


def encode(codec: str, pix_fmt: str = "yuv420p", options: dict | None = None) -> list[bytes]:
    """The packets of FRAMES pictures encoded with `codec` (parameter sets in-band)."""
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = WIDTH, HEIGHT, pix_fmt
    ctx.time_base = Fraction(1, RATE)
    ctx.framerate = Fraction(RATE)
    ctx.options = {"threads": "1", **(options or {})}  # one thread: the same bytes every time
    packets = []
    for i in range(FRAMES):
        frame = av.VideoFrame.from_ndarray(picture(i), format="rgb24").reformat(format=pix_fmt)
        frame.pts = i
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    return [bytes(p) for p in packets]


def mux(fmt: str, codec: str, packets: list[bytes], suffix: str) -> bytes:
    """A `fmt` container holding `packets` (one frame each, in order) as a `codec` stream."""

    def add_stream(container):
        quiet = {"x265-params": "log-level=none"} if codec == "hevc" else {}
        stream = container.add_stream(codec, rate=RATE, options=quiet)  # never encodes
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = "rgb24" if codec == "png" else "yuv420p"
        return stream

    return _file_of(fmt, suffix, add_stream, packets)


def _file_of(fmt: str, suffix: str, add_stream: Callable, packets: list[bytes]) -> bytes:
    """The bytes of a `fmt` file whose one stream `add_stream(container)` makes, holding
    `packets` one frame each."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"seed{suffix}")
        with av.open(path, "w", format=fmt, options=BITEXACT) as container:
            stream = add_stream(container)
            stream.time_base = Fraction(1, RATE)
            _mux_packets(container, stream, packets)
        with open(path, "rb") as file:
            return file.read()


def _mux_packets(container, stream, packets: list[bytes]) -> None:
    for i, data in enumerate(packets):
        packet = av.Packet(data)
        packet.stream, packet.pts, packet.dts = stream, i, i
        packet.time_base = Fraction(1, RATE)
        packet.is_keyframe = i == 0
        container.mux(packet)


def _with_record(name: str, suffix: str, fmt: str, source: bytes) -> Seed:
    """A seed whose parameter sets live in the container's codec header (avcC / hvcC), as
    MP4 and Matroska files keep them: `packets` are that record, then the frames of the
    video stream of `source` (a file PyAV's muxer wrote with its encoder)."""

    def remux(new: list[bytes]) -> bytes:
        with av.open(io.BytesIO(source)) as original:

            def add_stream(container):
                # From the template, not `add_stream`: that would open an encoder, whose own
                # header would replace the record.
                stream = container.add_stream_from_template(original.streams.video[0])
                stream.codec_context.extradata = new[0]
                return stream

            return _file_of(fmt, suffix, add_stream, new[1:])

    with av.open(io.BytesIO(source)) as container:
        stream = container.streams.video[0]
        packets = [bytes(stream.codec_context.extradata)]
        packets += [bytes(p) for p in container.demux(stream) if p.size]
    return Seed(name, suffix, remux(packets), stream.codec_context.name, tuple(packets), remux)


def _video(name: str, suffix: str, fmt: str, codec: str, packets: list[bytes]) -> Seed:
    def remux(new: list[bytes]) -> bytes:
        return mux(fmt, codec, new, suffix)

    return Seed(name, suffix, remux(packets), codec, tuple(packets), remux)


def _encoded_file(
    suffix: str, fmt: str, codec: str, audio: bool, options: dict | None = None
) -> bytes:
    """A file written by PyAV's muxer with its own encoder (global headers, index, audio)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"seed{suffix}")
        with av.open(path, "w", format=fmt, options=BITEXACT) as container:
            options = {"threads": "1", **(options or {})}
            stream = container.add_stream(codec, rate=RATE, options=options)
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            sound = container.add_stream("aac", rate=16000) if audio else None
            for i in range(FRAMES):
                frame = av.VideoFrame.from_ndarray(picture(i), format="rgb24")
                frame = frame.reformat(format="yuv420p")
                frame.pts = i
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
            if sound is not None:
                tone = np.sin(np.arange(3200) / 8.0).astype(np.float32)[None]
                chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 16000, 0
                container.mux(sound.encode(chunk))
                container.mux(sound.encode(None))
        with open(path, "rb") as file:
            return file.read()


def _image(fmt: str, frames: int = 1) -> bytes:
    pictures = [Image.fromarray(picture(i)) for i in range(frames)]
    out = io.BytesIO()
    if frames > 1:
        pictures[0].save(out, format=fmt, save_all=True, append_images=pictures[1:], duration=40)
    else:
        pictures[0].save(out, format=fmt)
    return out.getvalue()


def build_seeds() -> list[Seed]:
    """Every seed, in a fixed order (a case names its seed by `name`). The bytes are the same
    in every process: x264 reads heap memory it never initialised, so the heap is filled with
    a fixed byte while the encoders run, as the video writer does."""
    _repeatable_heap(True)
    try:
        return _build_seeds()
    finally:
        _repeatable_heap(False)


def _build_seeds() -> list[Seed]:
    h264 = encode("libx264", options={"bf": "0"})
    quiet_x265 = {"x265-params": "log-level=none:bframes=0"}
    hevc = encode("libx265", options=quiet_x265)
    png = encode("png", "rgb24")
    mp4 = _encoded_file(".mp4", "mp4", "libx264", audio=True)
    mkv = _encoded_file(".mkv", "matroska", "libx265", False, quiet_x265)
    # A keyframe every other frame, each with its parameter sets in-band (as broadcast and
    # streamed video repeat them): sequence headers that come after the first packet.
    inband = encode("libx264", options={"bf": "0", "x264-params": "keyint=2:repeat-headers=1"})
    return [
        Seed("mp4", ".mp4", mp4),
        Seed("mov", ".mov", _encoded_file(".mov", "mov", "mpeg4", audio=False)),
        Seed("mkv", ".mkv", mkv),
        Seed("webm", ".webm", _encoded_file(".webm", "webm", "libvpx", audio=False)),
        _video("ts-h264", ".ts", "mpegts", "h264", h264),
        _video("ts-hevc", ".ts", "mpegts", "hevc", hevc),
        _video("h264", ".h264", "h264", "h264", h264),
        _video("hevc", ".hevc", "hevc", "hevc", hevc),
        _video("png-mov", ".mov", "mov", "png", png),
        _video("ps-h264", ".mpg", "mpeg", "h264", h264),
        _with_record("avcc-mp4", ".mp4", "mp4", mp4),
        _with_record("avcc-mkv", ".mkv", "matroska", mp4),
        _with_record("hvcc-mp4", ".mp4", "mp4", mkv),
        _with_record("hvcc-mkv", ".mkv", "matroska", mkv),
        _video("inband-mp4", ".mp4", "mp4", "h264", inband),
        _video("inband-mkv", ".mkv", "matroska", "h264", inband),
        _video("inband-ps", ".mpg", "mpeg", "h264", inband),
        Seed("gif", ".gif", _image("GIF", frames=FRAMES)),
        Seed("png", ".png", _image("PNG")),
        Seed("jpeg", ".jpg", _image("JPEG")),
    ]


__all__ = ["FRAMES", "HEIGHT", "WIDTH", "Seed", "build_seeds", "encode", "mux", "picture"]
