"""Crashes that lose nothing: a job killed in the middle of a window, a disk that fills up and
a folder that turns read-only while a job runs.

A killed job leaves its finished windows in the work folder and nothing at the output path;
`--resume` finishes it, and the file equals an uninterrupted run's byte for byte. A job that
cannot write any more stops with one clear line, keeps the windows it finished, and resumes
once the disk has room again.

The disk faults are real where the tests may mount a file system (a 4 MB tmpfs that is filled,
or remounted read-only, in the middle of the job); everywhere they are also simulated, by making
the write raise the error the system would give (ENOSPC, EROFS).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT, write_clip

import patchvsr.video.jobs as jobs
from patchvsr.cli import main
from patchvsr.video.jobs import work_dir_for

# --- killed in the middle of a window ----------------------------------------------------------

# Runs the command line with the tiny model, and stops dead in window 1 right after its first
# denoising step (it touches MARKER, then waits to be killed), so the kill lands inside a window
# and not between two.
KILLABLE = """
import sys, time
from pathlib import Path
from patchvsr.video import upscalers
from patchvsr.cli import main

marker = Path(sys.argv[1])
upscale = upscalers.PatchVSRUpscaler.upscale

def stopping(self, frames, out_size, *, seed=0, progress=None):
    def report(done, total, what):
        if progress is not None:
            progress(done, total, what)
        if seed == 1:
            marker.touch()
            time.sleep(600)
    return upscale(self, frames, out_size, seed=seed, progress=report)

upscalers.PatchVSRUpscaler.upscale = stopping
raise SystemExit(main(sys.argv[2:]))
"""


class Watcher:
    """Looks at a path every few milliseconds in a thread and keeps every distinct content it
    saw there (None: absent)."""

    def __init__(self, path: Path) -> None:
        self.path, self.seen = path, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._look()
            self._stop.wait(0.005)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._look()  # one last look, after whatever the block did

    def _look(self) -> None:
        try:
            content = self.path.read_bytes()
        except FileNotFoundError:
            content = None
        if not self.seen or self.seen[-1] != content:
            self.seen.append(content)


@pytest.mark.slow
def test_a_job_killed_inside_a_window_resumes_to_the_same_file(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", frames=10, size=(16, 16), audio=True)
    args = ["upscale", str(clip), "--model", "tiny", "--steps", "1", "--scale", "2"]
    args += ["--device", "cpu", "-q"]
    reference = tmp_path / "reference.mp4"
    assert main([*args, "-o", str(reference)]) == 0  # windows of frames 0-8 and 1-9
    capsys.readouterr()

    out = tmp_path / "result" / "out.mp4"
    out.parent.mkdir()
    marker = tmp_path / "inside-window-1"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-c", KILLABLE, str(marker), *args, "-o", str(out)]
    with Watcher(out) as killed:
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 300
            while not marker.exists():
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "window 1 did not start within 300 s"
                time.sleep(0.02)
        finally:
            process.kill()  # SIGKILL: no handler, no clean-up
            process.wait(timeout=60)
            process.stderr.close()
    assert process.returncode == -9
    assert killed.seen == [None]  # never anything at the output path
    work = work_dir_for(out)
    assert sorted(p.name for p in work.iterdir()) == [
        "manifest.json",
        "window_00000.json",
        "window_00000.npy",
    ]

    with Watcher(out) as resumed:
        assert main([*args, "-o", str(out), "--resume"]) == 0
    assert "resumed: 1 windows kept" in capsys.readouterr().out
    final = reference.read_bytes()
    assert resumed.seen in ([None, final], [final])  # absent, then the whole file at once
    assert out.read_bytes() == final
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.mp4"]


# --- a full disk, a read-only folder --------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs of its own, or None where this process may not mount one."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
        )
    except OSError:  # no mount command
        done = None
    if done is None or done.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(bytes(65536))
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def _remount(folder: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(folder)], check=True)


class Fault:
    """Makes the disk fail at one point of the job, and repairs it afterwards.

    `real`: the 4 MB tmpfs is filled (or remounted read-only) right then; otherwise the write
    raises the error the system would give, without touching the disk."""

    def __init__(self, kind: str, real: bool, folder: Path) -> None:
        self.kind, self.real, self.folder = kind, real, folder
        self.code = errno.ENOSPC if kind == "full" else errno.EROFS
        self.filler: Path | None = None
        self.done = False

    def strike(self, filename: str | None) -> None:
        self.done = True
        if not self.real:
            raise OSError(self.code, os.strerror(self.code), filename)
        if self.kind == "full":
            self.filler = _fill(self.folder)
        else:
            _remount(self.folder, "ro")

    def repair(self) -> None:
        if self.filler is not None:
            self.filler.unlink()
        elif self.real and self.kind == "read-only":
            _remount(self.folder, "rw")


@pytest.mark.slow
@pytest.mark.parametrize("when", ["upscaling", "encoding"])
@pytest.mark.parametrize("kind", ["full", "read-only"])
@pytest.mark.parametrize("how", ["tmpfs", "simulated"])
def test_a_disk_fault_mid_job_keeps_the_finished_windows(
    how, kind, when, small_disk, tmp_path, monkeypatch, capsys
):
    if how == "tmpfs" and small_disk is None:
        pytest.skip("no tmpfs can be mounted here (needs root); the simulated case runs")
    folder = small_disk if how == "tmpfs" else tmp_path / "out"
    folder.mkdir(exist_ok=True)
    clip = write_clip(tmp_path / "clip.mp4", frames=16, audio=True)
    args = ["upscale", str(clip), "--model", "bicubic", "--window", "4", "-q", "--scale", "2"]
    reference = tmp_path / "reference.mp4"
    assert main([*args, "-o", str(reference)]) == 0
    capsys.readouterr()

    fault = Fault(kind, how == "tmpfs", folder)
    if when == "upscaling":  # the third window cannot be saved
        save = jobs.WorkFolder.save

        def failing_save(self, k, span, frames, pts):
            if k == 2:
                fault.strike(str(self.path / f".window_{k:05d}.npy.tmp-{os.getpid()}"))
            save(self, k, span, frames, pts)

        monkeypatch.setattr(jobs.WorkFolder, "save", failing_save)
    else:  # every window is saved; the encoder cannot write
        assemble = jobs._assemble

        def failing_assemble(*a, **kw):
            fault.strike(None)
            return assemble(*a, **kw)

        monkeypatch.setattr(jobs, "_assemble", failing_assemble)

    out = folder / "out.mp4"
    assert main([*args, "-o", str(out)]) == 2
    assert fault.done
    err = capsys.readouterr().err
    reason = "No space left on device" if kind == "full" else "Read-only file system"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the job stopped: ")
    assert reason in lines[0] and "run again with --resume" in lines[0]
    assert "Traceback" not in err
    work = work_dir_for(out)
    kept = 2 if when == "upscaling" else 4
    assert sorted(p.name for p in work.iterdir()) == ["manifest.json"] + [
        f"window_{k:05d}.{ext}" for k in range(kept) for ext in ("json", "npy")
    ]  # and no temporary file
    assert not out.exists()

    fault.repair()
    monkeypatch.undo()
    assert main([*args, "-o", str(out), "--resume"]) == 0
    assert f"resumed: {kept} windows kept" in capsys.readouterr().out
    assert out.read_bytes() == reference.read_bytes()
    assert not work.exists()


def test_a_disk_fault_in_a_web_job_is_a_message_and_leaves_no_folder(tmp_path, monkeypatch):
    """Nobody resumes a web job: it fails with a message that shows no server path, and its
    folder goes (simulated: the first window's save raises ENOSPC)."""
    from patchvsr.errors import PatchVSRError
    from patchvsr.serve.config import Limits
    from patchvsr.serve.jobs import DemoRequest, check_request, run_request

    def full(self, k, span, frames, pts):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path / "x.tmp"))

    monkeypatch.setattr(jobs.WorkFolder, "save", full)
    clip = write_clip(tmp_path / "clip.mp4", frames=4, audio=False)
    checked = check_request(DemoRequest(clip, "bicubic", frames=4, scale=2), Limits())
    outputs = tmp_path / "outputs"
    with pytest.raises(PatchVSRError) as err:
        run_request(checked, outputs)
    assert str(err.value) == (
        "the server could not write the result (No space left on device); try again later"
    )
    assert list(outputs.iterdir()) == []
