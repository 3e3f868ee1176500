"""Video I/O: probing, streaming reads, atomic writes that keep timing and audio."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import audio_duration, clip_frame, video_pts
from PIL import Image

from patchvsr.errors import PatchVSRError
from patchvsr.io.output import check_output_path
from patchvsr.io.probe import probe
from patchvsr.io.reader import VideoReader, read_frame, read_frames
from patchvsr.io.writer import VideoWriter


def _copy(src, dst, **kwargs) -> None:
    """Re-encode `src` into `dst` frame by frame with the writer, as the job runner does."""
    info = probe(src)
    with (
        VideoReader(src) as reader,
        VideoWriter(
            dst, info.width, info.height, rate=info.rate, time_base=info.time_base,
            audio_from=src if info.has_audio else None, **kwargs,
        ) as writer,
    ):  # fmt: skip
        for _, pts, rgb in reader:
            writer.write(rgb, pts)


# --- probe and read --------------------------------------------------------------------------


def test_probe_describes_a_generated_clip(make_clip):
    clip = make_clip(frames=10, size=(64, 48), fps=Fraction(24000, 1001), audio=True)
    info = probe(clip)
    assert (info.width, info.height, info.num_frames) == (64, 48, 10)
    assert info.rate == Fraction(24000, 1001)
    assert info.fps == pytest.approx(23.976, abs=1e-3)
    assert info.has_audio and not info.is_image_sequence and info.rotation == 0
    assert info.duration == pytest.approx(10 / info.fps, abs=1e-3)


def test_read_frames_returns_rgb_stacks_and_single_frames(make_clip):
    clip = make_clip(frames=8, size=(64, 48), audio=False)
    stack = read_frames(clip)
    assert stack.shape == (8, 48, 64, 3) and stack.dtype == np.uint8
    assert np.array_equal(read_frames(clip, start=3, count=2), stack[3:5])
    assert np.array_equal(read_frame(clip, 5), stack[5])
    # The decoded picture is the one written (up to compression).
    assert np.abs(stack[5].astype(int) - clip_frame(5, 64, 48)).mean() < 6


def test_frame_folder_and_single_image_inputs(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(clip_frame(i, 40, 30)).save(folder / f"{i:04d}.png")
    info = probe(folder)
    assert info.is_image_sequence and info.num_frames == 4 and (info.width, info.height) == (40, 30)
    assert np.array_equal(read_frames(folder)[2], clip_frame(2, 40, 30))  # PNG is lossless
    assert probe(folder, fps=12).fps == 12
    image = folder / "0001.png"
    assert probe(image).num_frames == 1 and not probe(image).is_image_sequence
    assert np.array_equal(read_frame(image), clip_frame(1, 40, 30))


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "name"),
    [("ffv1", "gray", "grey.mkv"), ("libx264", "yuv420p10le", "ten_bit.mp4")],
)
def test_greyscale_and_10_bit_inputs_read_as_8_bit_rgb(make_clip, codec, pix_fmt, name):
    clip = make_clip(name, frames=3, codec=codec, pix_fmt=pix_fmt, audio=False)
    assert probe(clip).pix_fmt == pix_fmt
    frames = read_frames(clip)
    assert frames.shape == (3, 48, 64, 3) and frames.dtype == np.uint8
    # Compare brightness (luma): chroma subsampling blurs the test picture's saturated edges.
    luma = clip_frame(1, 64, 48).astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(frames[1].astype(float) @ np.array([0.299, 0.587, 0.114]) - luma).mean() < 3
    if pix_fmt == "gray":
        assert np.array_equal(frames[..., 0], frames[..., 2])  # grey stays grey


def test_rotation_metadata_is_applied_on_read(make_clip):
    clip = make_clip("portrait.mp4", frames=2, size=(64, 32), rotation=90, audio=False)
    info = probe(clip)
    assert info.rotation == 90 and (info.width, info.height) == (32, 64)
    frame = read_frame(clip).astype(int)
    assert frame.shape == (64, 32, 3)
    upright = np.rot90(clip_frame(0, 64, 32), k=1).astype(int)
    assert np.abs(frame - upright).mean() < 8
    assert np.abs(frame - upright[::-1, ::-1]).mean() > 20  # not the other way round


# --- write -----------------------------------------------------------------------------------


def test_writer_keeps_frame_rate_frame_count_and_audio(make_clip, tmp_path):
    clip = make_clip(frames=20, fps=Fraction(24000, 1001), audio=True)
    out = tmp_path / "out.mp4"
    _copy(clip, out)
    src, dst = probe(clip), probe(out)
    assert dst.num_frames == src.num_frames == 20
    assert dst.rate == src.rate
    assert dst.has_audio
    assert audio_duration(out) == pytest.approx(audio_duration(clip), abs=1e-3)
    with av.open(str(out)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"  # remuxed, not re-encoded


def test_audio_packets_are_copied_byte_for_byte(make_clip, tmp_path):
    clip = make_clip(frames=12, audio=True)
    out = tmp_path / "out.mp4"
    _copy(clip, out)

    def packets(path):
        with av.open(str(path)) as c:
            return [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]

    assert packets(out) == packets(clip)


def test_audio_the_container_cannot_hold_is_re_encoded_to_aac(tmp_path):
    src = tmp_path / "in.avi"  # mu-law audio: fine in AVI, not allowed in MP4
    with av.open(str(src), "w") as c:
        video = c.add_stream("mpeg4", rate=24)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = c.add_stream("pcm_mulaw", rate=8000)
        audio.layout = "mono"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(clip_frame(i, 64, 48), format="rgb24")
            for packet in video.encode(frame.reformat(format="yuv420p")):
                c.mux(packet)
        tone = (8000 * np.sin(np.arange(4000) * 2 * np.pi * 440 / 8000)).astype(np.int16)
        for start in range(0, 4000, 1000):
            block = np.ascontiguousarray(tone[None, start : start + 1000])
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, start
            for packet in audio.encode(frame):
                c.mux(packet)
        for packet in [*video.encode(None), *audio.encode(None)]:
            c.mux(packet)
    out = tmp_path / "out.mp4"
    _copy(src, out)
    with av.open(str(out)) as c:
        ctx = c.streams.audio[0].codec_context
        assert (ctx.name, ctx.sample_rate, ctx.channels) == ("aac", 8000, 1)
    # AAC works in 1024-sample frames plus encoder delay: at most ~2 frames longer.
    assert 0.5 <= audio_duration(out) <= 0.5 + 2 * 1024 / 8000
    assert probe(out).num_frames == 12


def test_variable_frame_rate_timestamps_are_kept(make_clip, tmp_path):
    pts = [0, 33, 83, 116, 166, 250, 283, 333]  # ms: uneven gaps
    clip = make_clip("vfr.mp4", frames=len(pts), pts=pts, time_base=Fraction(1, 1000))
    out = tmp_path / "out.mp4"
    _copy(clip, out)

    def seconds(path):
        tb = probe(path).time_base
        return [float(p * tb) for p in video_pts(path)]

    assert seconds(out) == pytest.approx(seconds(clip), abs=1e-4)
    assert seconds(out) == pytest.approx([p / 1000 for p in pts], abs=1e-4)


def test_odd_sizes_are_written_at_the_exact_size(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 63, 37, rate=24) as writer:
        for i in range(3):
            writer.write(clip_frame(i, 63, 37))
    assert any("odd size 63x37" in note for note in writer.notes)
    info = probe(out)
    assert (info.width, info.height, info.num_frames) == (63, 37, 3)
    assert np.abs(read_frame(out, 1).astype(int) - clip_frame(1, 63, 37)).mean() < 6


def test_colours_survive_a_round_trip(tmp_path):
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [128, 128, 128]], np.uint8)
    frame = np.repeat(np.repeat(colours[None], 32, axis=0), 32, axis=1)  # (32, 128, 3) blocks
    out = tmp_path / "colours.mp4"
    with VideoWriter(out, 128, 32, rate=24, crf=None, options={"qp": "0"}) as writer:
        writer.write(frame)
    back = read_frame(out).astype(int)
    centres = back[16, 16::32]
    assert np.abs(centres - colours).max() <= 3


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 32, 32, rate=24) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("crash in the middle")
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_size_limit_aborts_the_write(tmp_path):
    out = tmp_path / "big.mp4"
    rng = np.random.default_rng(0)
    with pytest.raises(PatchVSRError, match="size limit"):
        with VideoWriter(out, 128, 128, rate=24, crf=0, max_bytes=20_000) as writer:
            for _ in range(30):
                writer.write(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


# --- bad input -------------------------------------------------------------------------------


def _png_declaring(path, width: int, height: int) -> None:
    """A 1x1 PNG whose header claims `width` x `height` (a decompression bomb's header)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def test_absurd_declared_sizes_are_refused_before_decoding(tmp_path, make_clip):
    bomb = tmp_path / "bomb.png"
    _png_declaring(bomb, 100_000, 100_000)
    with pytest.raises(PatchVSRError, match="exceeds the limit"):
        probe(bomb)
    with pytest.raises(PatchVSRError, match="exceeds the limit"):
        probe(make_clip(frames=2, audio=False), max_pixels=1000)


@pytest.mark.parametrize("kind", ["missing", "text", "audio_only", "zero_frames", "empty_dir"])
def test_bad_inputs_raise_one_line_errors(tmp_path, kind):
    path = tmp_path / "in.mp4"
    if kind == "text":
        path.write_text("this is not a video\n")
    elif kind == "audio_only":
        with av.open(str(path), "w") as c:
            s = c.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), "fltp", "stereo")
            frame.sample_rate = 48000
            for packet in [*s.encode(frame), *s.encode(None)]:
                c.mux(packet)
    elif kind == "zero_frames":
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=24)
            s.width, s.height = 32, 32
            c.start_encoding()  # a real file with a video stream and no frames
        assert path.stat().st_size > 0
    elif kind == "empty_dir":
        path = tmp_path / "frames"
        path.mkdir()
    with pytest.raises(PatchVSRError) as err:
        read_frames(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message


def test_truncated_files_raise_instead_of_ending_short(make_clip, tmp_path):
    # moov atom at the end (the default): cut off, the file cannot be opened.
    clip = make_clip(frames=24, size=(64, 48), audio=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    with pytest.raises(PatchVSRError, match="cannot read"):
        read_frames(cut)
    # moov first ("faststart"): it opens, but its index points past the end of the data.
    fast = make_clip("fast.mp4", frames=24, size=(64, 48), audio=False, faststart=True)
    cut2 = tmp_path / "cut2.mp4"
    cut2.write_bytes(fast.read_bytes()[: int(fast.stat().st_size * 0.6)])
    with pytest.raises(PatchVSRError, match="truncated"):
        probe(cut2)


def test_a_stream_that_ends_before_its_declared_length_raises(make_clip):
    clip = make_clip(frames=6, audio=False)
    claims_more = dataclasses.replace(probe(clip), num_frames=9)
    with pytest.raises(PatchVSRError, match="decoded 6 of 9 frames"):
        with VideoReader(clip, info=claims_more) as reader:
            list(reader)


def test_frames_trimmed_by_an_edit_list_are_not_counted(make_clip, tmp_path):
    """Clips cut without re-encoding start with samples an edit list hides: the header's
    frame count includes them, the decoder does not deliver them."""
    clip = make_clip(frames=12, audio=False)
    cut = tmp_path / "cut.mp4"
    with av.open(str(clip)) as src, av.open(str(cut), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        shift = round(2 / (24 * stream.time_base))  # two frames before time zero
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
            packet.stream = out
            dst.mux(packet)
    with av.open(str(cut)) as c:
        assert c.streams.video[0].frames == 12
    assert probe(cut).num_frames == 10 == len(read_frames(cut))


def test_output_over_the_input_is_refused(make_clip, tmp_path):
    clip = make_clip(frames=2, audio=False)
    with pytest.raises(PatchVSRError, match="over the input"):
        check_output_path(clip, [clip])
    with pytest.raises(PatchVSRError, match="over the input"):
        check_output_path(tmp_path / "." / ".." / tmp_path.name / clip.name, [clip])
    link = tmp_path / "link.mp4"
    link.hardlink_to(clip)
    with pytest.raises(PatchVSRError, match="over the input"):
        check_output_path(link, [clip])
    with pytest.raises(PatchVSRError, match="does not exist"):
        check_output_path(tmp_path / "nowhere" / "out.mp4", [clip])


def test_shared_onepiece_clip_is_probed_exactly(shared_data):
    info = probe(shared_data / "realesrgan_onepiece" / "onepiece_demo.mp4")
    assert (info.width, info.height, info.num_frames) == (640, 480, 181)
    assert info.fps == pytest.approx(23.98, abs=0.01) and info.has_audio
    frames = read_frames(shared_data / "dove_demo" / "002.mp4", start=30)
    assert frames.shape == (2, 180, 318, 3)


def test_the_header_guards_read_a_file_once_per_version(make_clip, monkeypatch):
    """A job opens its input several times (probe, frame count, reader, audio); the guards
    that read and demux its start run once, and again when the file changes."""
    import os

    from patchvsr.io import probe as probe_module

    calls = []
    monkeypatch.setattr(probe_module, "refuse_huge_headers", lambda path, _: calls.append(path))
    clip = make_clip("guarded.mp4", frames=3)
    for _ in range(3):
        probe_module.open_input(clip).close()
    assert len(calls) == 1
    stat = os.stat(clip)
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new version
    probe_module.open_input(clip).close()
    assert len(calls) == 2
