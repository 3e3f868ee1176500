"""The work folder of a job (`OUT.patchvsr-work/`): finished windows, kept until the output
is complete, so an interrupted job resumes where it stopped.

Each window is `window_NNNNN.npy` (raw uint8, exact) plus a `.json` with its span and
timestamps, each written under a temporary name and renamed: a window is either complete or
absent. `manifest.json` records the input (path, size, mtime) and every option that changes the
output; `--resume` keeps the windows only when it matches.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from patchvsr.errors import PatchVSRError

WORK_SUFFIX = ".patchvsr-work"
MANIFEST_VERSION = 1


def path_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def work_dir_for(output: Path) -> Path:
    return output.with_name(output.name + WORK_SUFFIX)


def make_manifest(job, info, upscaler, window: int, overlap: int) -> dict:
    """What defines a job's output (an `UpscaleJob`, its input's `VideoInfo`, the upscaler)."""
    stat = job.input.stat()
    manifest = {
        "version": MANIFEST_VERSION,
        "input": {
            "path": str(job.input.resolve()),
            "size": path_bytes(job.input),
            "mtime_ns": stat.st_mtime_ns,
            "num_frames": info.num_frames,
        },
        "model": upscaler.name,
        "options": job.options,
        "seed": job.seed,
        "out_size": list(job.out_size),
        "window": window,
        "overlap": overlap,
    }
    return json.loads(json.dumps(manifest, default=str))  # as it reads back from disk


def write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class WorkFolder:
    """Finished windows of one job, kept until the output is complete."""

    def __init__(self, path: Path, manifest: dict) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path: Path, manifest: dict, resume: bool) -> tuple[WorkFolder, list[str]]:
        notes = []
        if path.exists() and not path.is_dir():
            raise PatchVSRError(f"work folder {path} exists and is not a folder")
        if path.exists() and resume:
            try:
                old = json.loads((path / "manifest.json").read_text())
            except (OSError, ValueError):
                old = None
            if old != manifest:
                raise PatchVSRError(
                    f"work folder {path} was made for a different job (input or options "
                    "differ): delete it or run without --resume"
                )
            for stale in path.glob(".*"):  # temporaries of the interrupted run
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        else:
            if path.exists():
                notes.append(f"discarded earlier partial work in {path} (use --resume to keep it)")
                shutil.rmtree(path)
            elif resume:
                notes.append("nothing to resume: starting from the beginning")
            path.mkdir()
            write_atomic(
                path / "manifest.json", lambda f: f.write(json.dumps(manifest, indent=1).encode())
            )
        return cls(path, manifest), notes

    def _stem(self, k: int) -> Path:
        return self.path / f"window_{k:05d}"

    def is_done(self, k: int, span: tuple[int, int]) -> bool:
        meta, frames = self._stem(k).with_suffix(".json"), self._stem(k).with_suffix(".npy")
        if not (meta.exists() and frames.exists()):
            return False
        try:
            stored = np.load(frames, mmap_mode="r")
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            return False
        h, w = self.manifest["out_size"]
        return stored.shape == (span[1] - span[0], h, w, 3) and info["span"] == list(span)

    def save(self, k: int, span: tuple[int, int], frames: np.ndarray, pts: list[int]) -> None:
        # Frames first, metadata last: the .json is the "window complete" marker.
        stem = self._stem(k)
        write_atomic(stem.with_suffix(".npy"), lambda f: np.save(f, frames))
        meta = {"span": list(span), "pts": [int(p) for p in pts]}
        write_atomic(stem.with_suffix(".json"), lambda f: f.write(json.dumps(meta).encode()))

    def load(self, k: int) -> tuple[np.ndarray, list[int]]:
        """Memory-mapped frames (nothing read until used) and timestamps of window k."""
        stem = self._stem(k)
        meta = json.loads(stem.with_suffix(".json").read_text())
        return np.load(stem.with_suffix(".npy"), mmap_mode="r"), meta["pts"]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
