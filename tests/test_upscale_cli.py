"""`python -m patchvsr upscale` and `eval` end to end: real files in and out, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import REPO_ROOT, audio_duration, clip_frame
from PIL import Image

from patchvsr.cli import main
from patchvsr.io.probe import probe
from patchvsr.io.reader import read_frames
from patchvsr.video.jobs import work_dir_for


def _upscale(*args: str) -> int:
    return main(["upscale", *map(str, args), "--model", "bicubic", "-q"])


def _only_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


# --- happy paths on generated clips ----------------------------------------------------------


def test_upscale_keeps_audio_fps_and_frames_and_prints_a_summary(make_clip, tmp_path, capsys):
    clip = make_clip(frames=16, size=(64, 48), fps=25, audio=True)
    out, cmp = tmp_path / "out.mp4", tmp_path / "cmp.mp4"
    assert _upscale(clip, "-o", out, "--scale", "2", "--compare", cmp, "--window", "6") == 0
    summary = capsys.readouterr().out.splitlines()[0]
    assert summary.startswith(f"wrote {out}: 16 frames, 128x96") and "s/frame" in summary
    src, res, com = probe(clip), probe(out), probe(cmp)
    assert (res.width, res.height, res.num_frames, res.rate) == (128, 96, 16, src.rate)
    # The comparison: baseline and result side by side, same length, timing and audio.
    assert (com.width, com.height, com.num_frames, com.rate) == (256, 96, 16, src.rate)
    for path in (out, cmp):
        assert audio_duration(path) == pytest.approx(audio_duration(clip), abs=1e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "cmp.mp4", "out.mp4"]


def test_split_comparison_has_the_output_size(make_clip, tmp_path):
    clip = make_clip(frames=6, audio=False)
    cmp = tmp_path / "cmp.mp4"
    args = ["-o", tmp_path / "o.mp4", "--compare", cmp, "--compare-mode", "split"]
    assert _upscale(clip, *args) == 0
    info = probe(cmp)
    assert (info.width, info.height, info.num_frames) == (256, 192, 6)


def test_png_frames_output_and_exact_odd_size(make_clip, tmp_path):
    clip = make_clip(frames=5, size=(63, 37), audio=False)  # odd input size
    out = tmp_path / "frames"
    assert _upscale(clip, "-o", out, "--size", "101x77", "--frames") == 0
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(5)]
    assert all(Image.open(f).size == (101, 77) for f in files)


def test_odd_output_size_video_is_exact(make_clip, tmp_path, capsys):
    clip = make_clip(frames=4, size=(64, 48), audio=True)
    out = tmp_path / "odd.mp4"
    assert _upscale(clip, "-o", out, "--size", "129x97") == 0
    assert "odd size 129x97" in capsys.readouterr().err
    info = probe(out)
    assert (info.width, info.height, info.num_frames) == (129, 97, 4) and info.has_audio


def test_image_and_frame_folder_inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(clip_frame(i, 32, 24)).save(folder / f"{i:03d}.png")
    assert _upscale(folder, "-o", tmp_path / "v.mp4", "--fps", "12", "--scale", "3") == 0
    info = probe(tmp_path / "v.mp4")
    assert (info.width, info.height, info.num_frames, info.fps) == (96, 72, 3, 12.0)
    assert _upscale(folder / "001.png", "-o", tmp_path / "big.png", "--scale", "2") == 0
    assert Image.open(tmp_path / "big.png").size == (64, 48)


@pytest.mark.slow
def test_scheme_reaches_the_model_and_a_bad_one_is_one_line(make_clip, tmp_path, capsys):
    clip = make_clip(frames=3, size=(40, 24), audio=False)
    frames = {}
    for scheme in ("paper", "tiles"):
        out = tmp_path / scheme
        args = ["upscale", clip, "-o", out, "--frames", "--model", "tiny", "--scale", "2"]
        assert main([*map(str, args), "--scheme", scheme, "--steps", "1", "-q"]) == 0
        frames[scheme] = np.stack([np.asarray(Image.open(f)) for f in sorted(out.iterdir())])
        assert frames[scheme].shape == (3, 48, 80, 3)
    # 80x48 in 32 px patches: the paper's seam patches change the result that tiles give.
    assert not np.array_equal(frames["paper"], frames["tiles"])
    capsys.readouterr()
    bad = tmp_path / "bad.mp4"
    assert main(["upscale", str(clip), "-o", str(bad), "--model", "tiny", "--scheme", "x"]) == 2
    line = _only_line(capsys.readouterr().err)
    assert line == "error: --scheme must be one of paper, sliding, tiles, shifted, got 'x'"
    assert not bad.exists() and not work_dir_for(bad).exists()


def test_help_shows_scheduler_guidance_and_vae_precision(capsys):
    with pytest.raises(SystemExit):
        main(["upscale", "--help"])
    text = capsys.readouterr().out
    for option in ("--scheduler {unipc,euler,dpm++}", "--guidance-scale", "--negative-prompt"):
        assert option in text
    assert "--vae-dtype {fp32,bf16}" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "ddim"], "argument --scheduler: invalid choice: 'ddim'"),
        (["--vae-dtype", "fp16"], "argument --vae-dtype: invalid choice: 'fp16'"),
        (["--guidance-scale", "0.5"], "error: --guidance-scale must be 1 (off) or more"),
        (["--negative-prompt", "blur"], "error: --negative-prompt needs --guidance-scale above 1"),
    ],
)
def test_bad_sampling_options_are_one_line(make_clip, tmp_path, capsys, extra, message):
    clip = make_clip(frames=3, size=(40, 24), audio=False)
    bad = tmp_path / "bad.mp4"
    try:
        code = main(["upscale", str(clip), "-o", str(bad), "--model", "tiny", *extra])
    except SystemExit as stop:  # argparse's own refusal of a choice, in one line too
        code = stop.code
    assert code == 2
    assert message in _only_line(capsys.readouterr().err)
    assert not bad.exists()


def test_scheduler_and_guidance_reach_the_model(make_clip, tmp_path):
    clip = make_clip(frames=3, size=(40, 24), audio=False)
    frames = {}
    for name, extra in {
        "own": [],
        "unipc": ["--scheduler", "unipc"],
        "guided": ["--guidance-scale", "3"],
    }.items():
        out = tmp_path / name
        args = ["upscale", clip, "-o", out, "--frames", "--model", "tiny", "--scale", "2"]
        assert main([*map(str, args), "--steps", "3", "-q", *extra]) == 0
        frames[name] = np.stack([np.asarray(Image.open(f)) for f in sorted(out.iterdir())])
    assert not np.array_equal(frames["own"], frames["unipc"])
    assert not np.array_equal(frames["own"], frames["guided"])


def test_eval_reports_per_frame_and_mean_metrics(make_clip, tmp_path, capsys):
    clip = make_clip(frames=4, size=(64, 48), audio=False)
    out = tmp_path / "out.mp4"
    assert _upscale(clip, "-o", out, "--scale", "2") == 0
    ref = tmp_path / "ref"
    ref.mkdir()
    for i, frame in enumerate(read_frames(out)):
        Image.fromarray(frame).save(ref / f"{i:03d}.png")
    capsys.readouterr()
    assert main(["eval", "--pred", str(out), "--ref", str(ref), "--json", "--patch", "32"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["num_frames"] == 4 and len(report["frames"]) == 4
    assert report["mean"]["psnr"] == "inf" and report["mean"]["ssim"] == pytest.approx(1.0)
    assert report["temporal_consistency"] == 0.0 and report["flicker_pred"] > 0
    assert report["seams"]["x"] == [32, 64, 96] and report["seams"]["y"] == [32, 64]
    assert report["seam_score"] == pytest.approx(report["seam_score_ref"])
    # Against the clip's own bicubic upscale re-encoded: finite and high.
    assert main(["eval", "--pred", str(out), "--ref", str(out), "--max-frames", "2"]) == 0
    text = capsys.readouterr().out
    assert "mean" in text and "seam score" in text and "temporal consistency" in text


def test_eval_refuses_different_sizes(make_clip, capsys):
    a = make_clip("a.mp4", frames=2, size=(64, 48), audio=False)
    b = make_clip("b.mp4", frames=2, size=(32, 48), audio=False)
    assert main(["eval", "--pred", str(a), "--ref", str(b)]) == 2
    assert "sizes differ" in _only_line(capsys.readouterr().err)


# --- bad input: one line, exit code 2, nothing left behind -----------------------------------


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), "fltp", "stereo")
        frame.sample_rate = 48000
        for packet in [*s.encode(frame), *s.encode(None)]:
            c.mux(packet)


def _zero_frames(path: Path) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height = 32, 32
        c.start_encoding()  # a real file with a video stream and no frames
    assert path.stat().st_size > 0


def _bad_input(kind: str, tmp_path: Path, make_clip) -> Path:
    path = tmp_path / "in.mp4"
    if kind == "truncated":
        clip = make_clip("whole.mp4", frames=24, audio=True)
        path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
        clip.unlink()
    elif kind == "truncated_faststart":
        clip = make_clip("whole.mp4", frames=40, audio=False, faststart=True)
        path.write_bytes(clip.read_bytes()[: int(clip.stat().st_size * 0.7)])
        clip.unlink()
    elif kind == "audio_only":
        _audio_only(path)
    elif kind == "text":
        path.write_text("not a video at all\n")
    elif kind == "zero_frames":
        _zero_frames(path)
    elif kind == "missing":
        pass
    elif kind == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("permission bits do not stop root")
        make_clip("in.mp4", frames=2)
        path.chmod(0)
    return path


BAD_INPUTS = [
    "truncated",
    "truncated_faststart",
    "audio_only",
    "text",
    "zero_frames",
    "missing",
    "unreadable",
]


@pytest.mark.parametrize("kind", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_no_output(kind, tmp_path, make_clip, capsys):
    src = _bad_input(kind, tmp_path, make_clip)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "out.mp4"
    code = _upscale(src, "-o", out, "--window", "4", "--compare", tmp_path / "cmp.mp4")
    assert code == 2
    line = _only_line(capsys.readouterr().err)
    assert line.startswith("error: ") and "Traceback" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, work or partial


def _read_only_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        return Path("/proc")  # root ignores permission bits; /proc refuses new files
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("missing_folder", "does not exist"),
        ("read_only_folder", "cannot write"),
        ("pixel_limit", "exceeds the limit"),
        ("byte_limit", "size limit"),
        ("same_as_input", "over the input"),
        ("same_as_input_other_spelling", "over the input"),
        ("compare_over_output", "over the input"),
    ],
)
def test_bad_outputs_are_refused_and_the_input_is_untouched(
    case, match, tmp_path, make_clip, capsys
):
    clip = make_clip(frames=12, audio=True)
    original = clip.read_bytes()
    out, extra = tmp_path / "out.mp4", []
    if case == "missing_folder":
        out = tmp_path / "no" / "such" / "out.mp4"
    elif case == "read_only_folder":
        out = _read_only_folder(tmp_path) / "out.mp4"
    elif case == "pixel_limit":
        extra = ["--max-output-pixels", "5000"]
    elif case == "byte_limit":
        extra = ["--max-output-mb", "0.002", "--crf", "0"]
    elif case == "same_as_input":
        out = clip
    elif case == "same_as_input_other_spelling":
        out = tmp_path / ".." / tmp_path.name / "." / clip.name
    elif case == "compare_over_output":
        extra = ["--compare", str(out)]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _upscale(clip, "-o", out, *extra) == 2
    line = _only_line(capsys.readouterr().err)
    assert line.startswith("error: ") and match in line
    assert clip.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not out.exists() or out.samefile(clip)


# --- real clips from ../shared/data ----------------------------------------------------------


@pytest.fixture(scope="module")
def onepiece_x2(shared_data, tmp_path_factory) -> tuple[Path, Path]:
    """The onepiece demo (640x480, 23.98 fps, 181 frames, AAC) upscaled x2 with bicubic."""
    src = shared_data / "realesrgan_onepiece" / "onepiece_demo.mp4"
    out = tmp_path_factory.mktemp("onepiece") / "x2.mp4"
    assert _upscale(src, "-o", out, "--scale", "2", "--window", "16") == 0
    return src, out


@pytest.mark.slow
def test_real_clip_keeps_audio_fps_and_frame_count(onepiece_x2):
    src, out = onepiece_x2
    a, b = probe(src), probe(out)
    assert (b.width, b.height) == (1280, 960)
    assert b.num_frames == a.num_frames == 181
    assert b.rate == a.rate and b.fps == pytest.approx(23.98, abs=0.005)
    assert b.duration == pytest.approx(a.duration, abs=1e-3)
    assert b.has_audio
    assert audio_duration(out) == pytest.approx(audio_duration(src), abs=1e-3)


@pytest.mark.slow
def test_real_odd_sized_clip_comes_out_at_exactly_the_requested_size(shared_data, tmp_path):
    src = shared_data / "dove_demo" / "002.mp4"
    assert (probe(src).width, probe(src).height) == (318, 180)
    for args, size in [(["--scale", "2"], (636, 360)), (["--size", "637x361"], (637, 361))]:
        out = tmp_path / f"{size[0]}.mp4"
        assert _upscale(src, "-o", out, *args) == 0
        info = probe(out)
        assert (info.width, info.height, info.num_frames) == (*size, 32)
        assert info.fps == 16.0


@pytest.mark.slow
def test_real_clip_killed_halfway_resumes_to_the_same_file(onepiece_x2, tmp_path):
    src, reference = onepiece_x2
    out = tmp_path / "x2.mp4"
    cmd = [sys.executable, "-m", "patchvsr", "upscale", str(src), "-o", str(out)]
    cmd += ["--scale", "2", "--window", "16", "--model", "bicubic", "-q"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    first_window = work_dir_for(out) / "window_00000.json"
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not first_window.exists():
            assert proc.poll() is None, "the job ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    done = list(work_dir_for(out).glob("window_*.json"))
    assert not out.exists() and 1 <= len(done) < 12
    resumed = subprocess.run([*cmd, "--resume"], cwd=tmp_path, env=env, capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert "resumed" in resumed.stdout.decode()
    assert out.read_bytes() == reference.read_bytes()
    assert not work_dir_for(out).exists()


@pytest.mark.parametrize("case", ["truncated", "audio_only", "same_as_input"])
def test_real_clip_bad_input_is_refused(case, shared_data, tmp_path, capsys):
    src = shared_data / "realesrgan_onepiece" / "onepiece_demo.mp4"
    out = tmp_path / "out.mp4"
    if case == "truncated":
        bad = tmp_path / "cut.mp4"
        bad.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    elif case == "audio_only":
        bad = tmp_path / "sound.mp4"  # the clip's own AAC track, remuxed alone
        with av.open(str(src)) as inp, av.open(str(bad), "w") as dst:
            stream = dst.add_stream_from_template(inp.streams.audio[0])
            for packet in inp.demux(inp.streams.audio[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    dst.mux(packet)
    else:
        bad = out = src
    before = sorted(p.name for p in tmp_path.iterdir())
    assert _upscale(bad, "-o", out, "--scale", "2") == 2
    assert _only_line(capsys.readouterr().err).startswith("error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
