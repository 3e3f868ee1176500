"""`python -m patchvsr upscale` on several clips: a folder of videos, or several files, into
one output folder (patchvsr.video.batch)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from clips import synthetic_clip
from conftest import REPO_ROOT, write_clip
from PIL import Image

from patchvsr.cli import main
from patchvsr.io.probe import probe
from patchvsr.video import upscalers
from patchvsr.video.batch import output_name


def _upscale(*args, model: str = "bicubic") -> int:
    return main(["upscale", *map(str, args), "--model", model, "--scale", "2", "-q"])


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def indir(tmp_path):
    """Two tiny clips (mp4, mov), a broken file with a video's name, and a text file."""
    folder = tmp_path / "in"
    folder.mkdir()
    write_clip(folder / "a.mp4", frames=5, size=(32, 24), audio=True)
    write_clip(folder / "b.mov", frames=3, size=(24, 16), audio=False)
    (folder / "broken.mp4").write_bytes(b"this is not a video\n" * 20)
    (folder / "notes.txt").write_text("not a clip")
    return folder


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_folder_with_two_clips_and_a_broken_file_writes_two_outputs_and_exits_non_zero(
    indir, tmp_path, capsys
):
    before = _snapshot(indir)
    out = tmp_path / "out"
    assert _upscale(indir, "-o", out) == 1
    captured = capsys.readouterr()
    # One output per good input, named after it, at twice its size, every frame.
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mov"]
    for name, (frames, w, h) in {"a.mp4": (5, 64, 48), "b.mov": (3, 48, 32)}.items():
        info = probe(out / name)
        assert (info.num_frames, info.width, info.height) == (frames, w, h)
    assert probe(out / "a.mp4").has_audio
    # The broken file: one line naming it; the text file: passed over, and said so.
    errors = [line for line in _lines(captured.err) if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0] and "Traceback" not in captured.err
    assert any("notes.txt" in line for line in _lines(captured.err))
    summary = _lines(captured.out)[-1]
    assert summary.startswith("3 clips: 2 written") and "1 failed" in summary
    assert "broken.mp4" in summary
    assert _snapshot(indir) == before  # inputs untouched


def test_several_files_into_a_folder_and_resume_skips_finished_outputs(tmp_path, capsys):
    a = write_clip(tmp_path / "a.mp4", frames=4, size=(32, 24), audio=False)
    b = write_clip(tmp_path / "b.mkv", frames=4, size=(32, 24), audio=False)
    out = tmp_path / "out"
    assert _upscale(a, b, "-o", f"{out}/") == 0  # a trailing '/': a folder, made if missing
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mkv"]
    assert _lines(capsys.readouterr().out)[-1] == "2 clips: 2 written, 0 failed"

    kept = (out / "a.mp4").stat().st_mtime_ns
    (out / "b.mkv").unlink()
    assert _upscale(a, b, "-o", out, "--resume") == 0
    lines = _lines(capsys.readouterr().out)
    assert lines[0] == f"[1/2] kept {out / 'a.mp4'} (done)"
    assert lines[1].startswith(f"[2/2] wrote {out / 'b.mkv'}")
    assert lines[-1] == "2 clips: 1 written, 1 already done (--resume), 0 failed"
    assert (out / "a.mp4").stat().st_mtime_ns == kept and probe(out / "b.mkv").num_frames == 4


def test_a_model_is_loaded_once_for_all_clips(tmp_path, monkeypatch, capsys):
    loads = []
    real = upscalers.get_upscaler

    def counting(name, **kwargs):
        loads.append(name)
        return real(name, **kwargs)

    monkeypatch.setattr("patchvsr.commands.upscale.get_upscaler", counting)
    clips = [write_clip(tmp_path / f"{n}.mp4", frames=2, size=(32, 32), audio=False) for n in "ab"]
    assert _upscale(*clips, "-o", tmp_path / "out", "--steps", "1", model="tiny") == 0
    assert loads == ["tiny"]
    assert [probe(tmp_path / "out" / f"{n}.mp4").width for n in "ab"] == [64, 64]


def test_a_folder_of_png_frames_stays_one_clip(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, frame in enumerate(synthetic_clip(3, 16, 24)):
        Image.fromarray(frame).save(frames / f"{i:04d}.png")
    out = tmp_path / "out"
    out.mkdir()
    assert _upscale(frames, "-o", out) == 0  # -o a folder: one clip, named after the folder
    info = probe(out / "frames.mp4")
    assert (info.num_frames, info.width, info.height) == (3, 48, 32)


@pytest.mark.parametrize(
    "case",
    ["file_for_several", "folder_to_a_file", "into_the_input_folder", "over_an_input", "same_name"],
)
def test_ambiguous_requests_are_refused_in_one_line_and_touch_nothing(case, tmp_path, capsys):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    a = write_clip(src / "a.mp4", frames=2, size=(16, 16), audio=False)
    other = write_clip(src / "sub" / "a.mp4", frames=2, size=(16, 16), audio=False)
    args = {
        "file_for_several": [a, other, "-o", tmp_path / "out.mp4"],
        "folder_to_a_file": [src, "-o", tmp_path / "out.mp4"],
        "into_the_input_folder": [src, "-o", src / "upscaled"],
        "over_an_input": [other, a, "-o", src / "sub"],
        "same_name": [a, other, "-o", tmp_path / "out"],
    }[case]
    before = sorted(p for p in tmp_path.rglob("*"))
    assert _upscale(*args) == 2
    (line,) = _lines(capsys.readouterr().err)
    assert line.startswith("error: ")
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_help_lists_several_inputs_and_mps():
    help_text = subprocess.run(
        [sys.executable, "-m", "patchvsr", "upscale", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    ).stdout
    assert "IN [IN ...]" in help_text and "mps" in help_text


def test_a_refused_batch_loads_no_torch(tmp_path):
    code = (
        "import sys; from patchvsr.cli import main; "
        "print(main(['upscale', 'a.mp4', 'b.mp4', '-o', 'x.mp4']), 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.stdout.split() == ["2", "False"]
    assert done.stderr.startswith("error: -o x.mp4 names a file") and not list(tmp_path.iterdir())


def test_one_input_with_frames_and_a_trailing_slash_is_still_its_frame_folder(tmp_path):
    clip = write_clip(tmp_path / "a.mp4", frames=2, size=(16, 16), audio=False)
    out = tmp_path / "frames"
    assert _upscale(clip, "-o", f"{out}/", "--frames") == 0
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png"]


def test_outputs_are_named_after_their_inputs_in_a_container_that_holds_the_codec(tmp_path):
    (tmp_path / "shots").mkdir()
    assert output_name(tmp_path / "a.mov") == "a.mov"
    assert output_name(tmp_path / "a.webm") == "a.mp4"  # WebM cannot hold H.264
    assert output_name(tmp_path / "a.webm", codec="libvpx-vp9") == "a.webm"
    assert output_name(tmp_path / "still.png") == "still.png"
    assert output_name(tmp_path / "shots") == "shots.mp4"  # a folder of frames
    assert output_name(tmp_path / "a.mov", as_frames=True) == "a"
