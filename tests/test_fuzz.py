"""The reading path under fuzzed input: every file ends in valid frames or a one-line refusal.

Each seed (a valid MP4, MOV, MKV, WebM, MPEG-TS with H.264 or HEVC, MPEG-PS with H.264, MP4 or
MKV with an avcC / hvcC header, MP4, MKV or MPEG-PS with parameter sets repeated in-band, raw
H.264/HEVC, GIF, PNG, JPEG or PNG-in-MOV file built here) is mutated `CASES_PER_SEED` times,
reproducibly, and read
by a worker process exactly as the command line and the app read an input before upscaling:
probe, validate, decode the first window. A case fails on any other exception, a crash, a case
over the time limit, or a memory peak over the budget (see `extras/fuzz/runner.py`). The
files the long runs of `scripts/fuzz.py --long` found are replayed from tests/fuzz_regressions/.

Also here: the MPEG-TS, program-stream, raw-stream and MP4 / Matroska header bombs (a
sequence header declaring 16000x16000, at the start or later in the stream), which must be
refused before FFmpeg allocates anything for them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import SUMMARY

from extras.fuzz.mutate import Case
from extras.fuzz.runner import MEMORY_BUDGET, Worker, run_cases, run_file
from extras.fuzz.seeds import HEIGHT, WIDTH, build_seeds
from extras.fuzz.sps import with_frame_size
from patchvsr.bench.rss import peak_bytes, reset_peak, rss_bytes, trim_heap
from patchvsr.errors import PatchVSRError
from patchvsr.io.container_guard import guarded_frames, header_sizes
from patchvsr.io.probe import probe
from patchvsr.io.reader import VideoReader
from patchvsr.io.stream_guard import declared_streams

CASES_PER_SEED = 25
SEEDS = {seed.name: seed for seed in build_seeds()}
REGRESSIONS = Path(__file__).parent / "fuzz_regressions"
REGRESSION_FILES = sorted(p for p in REGRESSIONS.iterdir() if p.suffix != ".json")


@pytest.fixture(scope="module")
def worker():
    with Worker() as worker:
        yield worker


def describe(result) -> str:
    return f"{result.id} ({'; '.join(result.steps)}): {result.failure()}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SEEDS))
def test_every_seed_is_read_whole(name, worker, tmp_path):
    """The starting points are valid: all their frames come out (the guard refuses none)."""
    seed = SEEDS[name]
    path = tmp_path / f"seed{seed.suffix}"
    path.write_bytes(seed.data)
    result = run_file(worker, path, name)
    assert result.outcome == "frames", result.message
    frames = 1 if name in ("png", "jpeg") else 5
    assert result.message == f"{frames} frames of {WIDTH}x{HEIGHT}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SEEDS), ids=[f"{n}-x{CASES_PER_SEED}" for n in SEEDS])
def test_fuzzed_files_end_in_frames_or_a_one_line_refusal(name, worker, tmp_path):
    cases = [Case(name, number) for number in range(CASES_PER_SEED)]
    results = [result for result, _ in run_cases(cases, SEEDS, tmp_path, worker)]
    failures = [describe(r) for r in results if r.failure()]
    outcomes = Counter(r.outcome for r in results)
    peak = max(r.peak_growth for r in results) / 1e6
    SUMMARY.append(
        f"fuzz {name}: {len(results)} cases, "
        + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
        + f", {len(failures)} failures, largest memory peak {peak:.0f} MB"
    )
    assert len(results) == CASES_PER_SEED
    assert not failures, f"{len(failures)} of {len(results)} cases failed:\n" + "\n".join(failures)
    # The mutations reach both ends: most files are refused, and none reads as it did.
    assert "refused" in outcomes, f"no mutation of {name} was refused"


def test_cases_are_reproducible():
    from extras.fuzz.mutate import mutated

    again = {seed.name: seed for seed in build_seeds()}
    for name in SEEDS:
        case = Case(name, 7)
        assert mutated(case, SEEDS) == mutated(case, again)


@pytest.mark.slow
def test_the_runner_catches_a_hang_and_goes_on(tmp_path):
    """A reading that never returns (a named pipe nobody writes to: the reader waits on it
    without using CPU) is reported as a hang at the wall-clock bound, and a fresh worker
    reads the next file."""
    fifo = tmp_path / "waits.mp4"
    os.mkfifo(fifo)
    good = tmp_path / "good.png"
    good.write_bytes(SEEDS["png"].data)
    with Worker(timeout=0.3) as slow:
        assert run_file(slow, fifo, "fifo").failure().startswith("hang: ")
        assert run_file(slow, good, "good").outcome == "frames"


@pytest.mark.slow
def test_the_memory_budget_is_measured(worker, tmp_path):
    """The peak is real: decoding a 64x48 GIF takes more than 100 kB above the start."""
    path = tmp_path / "seed.gif"
    path.write_bytes(SEEDS["gif"].data)
    result = run_file(worker, path, "gif")
    assert result.failure() is None
    assert result.failure(budget=100_000).startswith("memory peaked")


@pytest.mark.slow
@pytest.mark.parametrize("path", REGRESSION_FILES, ids=[p.name for p in REGRESSION_FILES])
def test_files_the_fuzzer_found_are_read_or_refused_cleanly(path, worker):
    note = json.loads(path.with_name(path.name + ".json").read_text())
    result = run_file(worker, path, path.name)
    SUMMARY.append(f"fuzz regression {path.name}: {result.outcome}")
    assert result.failure(MEMORY_BUDGET) is None, f"{note['failure']} is back: {describe(result)}"


# --- MPEG-TS and raw-stream bombs ------------------------------------------------------------

BOMB = 16000


def bomb(name: str, folder: Path) -> Path:
    """The seed `name` whose sequence header declares BOMB x BOMB pixels (the frames are still
    64x48): a file of a few kB."""
    seed = SEEDS[name]
    packets = list(seed.packets)
    packets[0] = with_frame_size(packets[0], seed.codec, BOMB, BOMB)
    path = folder / f"bomb{seed.suffix}"
    path.write_bytes(seed.remux(packets))
    return path


def peak_growth(call) -> int:
    trim_heap()
    reset_peak()
    before = rss_bytes()
    try:
        call()
    except (PatchVSRError, av.FFmpegError):
        pass
    return peak_bytes() - before


@pytest.mark.parametrize("name", ["h264", "hevc", "ts-h264", "ts-hevc"])
def test_a_stream_bomb_is_refused_before_ffmpeg_allocates(name, tmp_path):
    path = bomb(name, tmp_path)
    assert [(s.width, s.height) for s in declared_streams(path)] == [(BOMB, BOMB)]
    with pytest.raises(PatchVSRError, match=r"declared frame size 16000x16000 exceeds the limit"):
        probe(path)
    assert peak_growth(lambda: probe(path)) < 10e6
    # What the guard spares: FFmpeg's own opening, pixel limit passed, allocates for the
    # declared frame (measured 80 MB for H.264, 200 MB for HEVC).
    options = {"max_pixels": str(64 << 20)}
    assert peak_growth(lambda: av.open(str(path), options=options).close()) > 50e6


# Seeds whose H.264 / HEVC parameter sets only FFmpeg's demuxer finds: a program stream, and
# MP4 / Matroska files that keep them in the codec header (avcC / hvcC). Opening the H.264 ones
# allocated for the declared frame before FFmpeg's pixel limit refused it: 84 MB for an avcC
# record in MP4 or Matroska, 2.3 GB for a program stream.
HEADER_SEEDS = ["ps-h264", "avcc-mp4", "avcc-mkv", "hvcc-mp4", "hvcc-mkv"]


@pytest.mark.parametrize("name", HEADER_SEEDS)
def test_a_header_bomb_in_any_container_is_refused_before_decoding(name, tmp_path):
    path = bomb(name, tmp_path)
    assert (BOMB, BOMB) in header_sizes(path)
    with pytest.raises(PatchVSRError, match=r"declared frame size 16000x16000 exceeds the limit"):
        probe(path)
    assert peak_growth(lambda: probe(path)) < 10e6
    if SEEDS[name].codec == "h264":  # what the guard spares (HEVC's decoder refuses in time)
        options = {"max_pixels": str(64 << 20)}
        assert peak_growth(lambda: av.open(str(path), options=options).close()) > 50e6


# Seeds that repeat their parameter sets in-band (a keyframe every other frame): a later SPS
# can declare another size. Two kinds of file put one of 16000x16000 where neither the header
# guard's first 16 packets nor FFmpeg's pixel limit stopped it in time:
# - after frames whose references are missing (cut from a longer stream): opening the file
#   decoded past those packets to the bomb (84 MB for the decoder's tables, before its limit
#   refused the frame), or describing it decoded its first frame with no limit (1.7 GB);
# - in the middle of a valid stream: reading it whole took 170 MB before the decoder refused.
INBAND_SEEDS = ["inband-mp4", "inband-mkv", "inband-ps"]


def later_bomb(name: str, where: str, folder: Path) -> Path:
    seed = SEEDS[name]
    first, orphan, second, *rest = seed.packets  # keyframes (with an SPS) at 0, 2 and 4
    bomb = with_frame_size(second, seed.codec, BOMB, BOMB)
    if where == "after-orphans":
        packets = [orphan] * 20 + [bomb, *rest]
    else:
        packets = [first] + [orphan] * 20 + [bomb, *rest]
    path = folder / f"{where}{seed.suffix}"
    path.write_bytes(seed.remux(packets))
    return path


def read_whole(path: Path) -> int:
    with VideoReader(path) as reader:
        return sum(1 for _ in reader.frames())


def ffmpeg_reads_whole(path: Path) -> None:
    """FFmpeg alone, its pixel limit set for opening and for decoding."""
    options = {"max_pixels": str(64 << 20)}
    with av.open(str(path), options=options) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = options
        for _ in container.decode(stream):
            pass


@pytest.mark.parametrize("where", ["after-orphans", "mid-stream"])
@pytest.mark.parametrize("name", INBAND_SEEDS)
def test_a_later_sequence_header_over_the_limit_is_refused_before_decoding(name, where, tmp_path):
    path = later_bomb(name, where, tmp_path)
    assert (BOMB, BOMB) in header_sizes(path)
    with pytest.raises(PatchVSRError, match=r"declared frame size 16000x16000 exceeds the limit"):
        read_whole(path)
    assert peak_growth(lambda: read_whole(path)) < 10e6
    assert peak_growth(lambda: ffmpeg_reads_whole(path)) > 50e6  # what the guards spare


@pytest.mark.parametrize("name", INBAND_SEEDS)
def test_packets_are_checked_as_they_are_decoded(name, tmp_path):
    """Past what the header guard reads (its 5 MB), each packet's SPS is checked before the
    decoder gets it: a file with the header guard's reading cut to nothing is still refused,
    from the packet, before the decoder allocates."""
    path = later_bomb(name, "mid-stream", tmp_path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = guarded_frames(container, stream, path, 64 << 20)
        assert next(frames).width == WIDTH  # the frames before the bomb come out
        with pytest.raises(PatchVSRError, match=r"declared frame size 16000x16000"):
            list(frames)


@pytest.mark.parametrize("name", HEADER_SEEDS)
def test_the_header_guard_reads_the_declared_size_of_valid_files(name, tmp_path):
    """The sizes the guard reads are the true ones, and a valid file is read whole."""
    seed = SEEDS[name]
    path = tmp_path / f"ok{seed.suffix}"
    path.write_bytes(seed.data)
    assert set(header_sizes(path)) == {(WIDTH, HEIGHT)}
    resized = with_frame_size(seed.packets[0], seed.codec, 4096, 2160)
    path.write_bytes(seed.remux([resized, *seed.packets[1:]]))
    assert (4096, 2160) in header_sizes(path)  # allowed: 4096x2160 is under the limit
    assert probe(path, max_pixels=4096 * 2160).num_frames == 5


@pytest.mark.parametrize("name", ["h264", "hevc", "ts-h264", "ts-hevc"])
def test_the_guard_reads_the_declared_size_of_valid_streams(name, tmp_path):
    path = tmp_path / f"ok{SEEDS[name].suffix}"
    path.write_bytes(SEEDS[name].data)
    assert [(s.width, s.height) for s in declared_streams(path)] == [(WIDTH, HEIGHT)]
    resized = SEEDS[name].packets[0]
    for width, height in [(1920, 1088), (4096, 2160), (64, 48)]:
        resized = with_frame_size(resized, SEEDS[name].codec, width, height)
        path.write_bytes(SEEDS[name].remux([resized, *SEEDS[name].packets[1:]]))
        assert [(s.width, s.height) for s in declared_streams(path)] == [(width, height)]
    assert (probe(path).width, probe(path).height) == (
        WIDTH,
        HEIGHT,
    )  # back to the true size: a valid file again


@pytest.mark.parametrize("name", ["mp4", "mkv", "webm", "gif", "png", "jpeg", "png-mov"])
def test_the_guard_leaves_other_containers_alone(name, tmp_path):
    path = tmp_path / f"f{SEEDS[name].suffix}"
    path.write_bytes(SEEDS[name].data)
    assert declared_streams(path) == []


@pytest.mark.parametrize("fmt", ["mpeg", "mpeg2video"])
def test_mpeg2_slices_are_not_taken_for_sequence_headers(fmt, tmp_path):
    """MPEG-2 slice start codes 0x07, 0x27, 0x42... read as H.264/HEVC SPS units: a program
    or elementary stream of noise (many slices) must not be parsed as one."""
    path = tmp_path / "noise.mpg"
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("mpeg2video", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for i in range(3):
            noise = np.random.default_rng(i).integers(0, 256, (480, 640, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(noise, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    assert any(data.find(bytes([0, 0, 1, code])) > 0 for code in (0x07, 0x27, 0x42))
    assert declared_streams(path) == []
    assert probe(path).num_frames == 3
