"""Several clips in one run: `upscale a.mp4 b.mov -o OUTDIR/`, or `upscale INDIR -o OUTDIR`.

- A folder of videos stands for its video files, in name order; a folder of PNG or JPEG frames
  stays one clip, as with a single input. Hidden files are passed over; any other entry of the
  folder is named in one note.
- Each input gets one output in OUTDIR, named after it: `a.mov` -> `OUTDIR/a.mov` (`.mp4` when
  that container cannot hold the codec, or the input is a folder of frames; a folder of PNG
  frames with `--frames`).
- Refused before any work, in one line: -o naming a file for several inputs, OUTDIR inside
  an input folder, an output that would land on an input, two inputs with the same output.
- One clip failing (a broken file, a refused size) is one line; the others go on. A summary
  ends the run, and the exit status is 1 if any clip failed.
- `--resume`: an output that exists is done (a job renames its output into place only when
  complete), unless a work folder beside it says a later run of it was interrupted; that clip
  continues from its kept windows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from patchvsr.errors import PatchVSRError
from patchvsr.io.output import VIDEO_EXTS, check_codec
from patchvsr.io.probe import IMAGE_EXTS, is_image_path, sequence_files
from patchvsr.video.workfolder import work_dir_for


@dataclass(frozen=True)
class BatchItem:
    input: Path
    output: Path


@dataclass
class BatchPlan:
    """The clips to upscale, in order, and the folder entries passed over."""

    items: list[BatchItem]
    ignored: list[Path] = field(default_factory=list)

    def ignored_note(self) -> str | None:
        if not self.ignored:
            return None
        names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in self.ignored[:5])
        more = f" and {len(self.ignored) - 5} more" if len(self.ignored) > 5 else ""
        n = len(self.ignored)
        what = "1 entry that is not a video" if n == 1 else f"{n} entries that are not videos"
        return f"passed over {what}: {names}{more}"


def is_frame_folder(path: Path) -> bool:
    return path.is_dir() and bool(sequence_files(path))


def wants_batch(inputs: list[str], output: str, as_frames: bool = False) -> bool:
    """Whether the command line asks for several clips: more than one input, a folder without
    frames (of videos), or -o naming a folder (an existing one, or a name ending in '/') where
    a single input's output is a file (with --frames, -o is that input's frame folder)."""
    if len(inputs) > 1:
        return True
    src = Path(inputs[0])
    if src.is_dir() and not is_frame_folder(src):
        # A folder of neither frames nor videos is one bad clip: its own error says why.
        try:
            return any(
                p.is_file() and p.suffix.lower() in VIDEO_EXTS
                for p in src.iterdir()
                if not p.name.startswith(".")
            )
        except OSError:
            return False
    return not as_frames and (output.endswith(("/", os.sep)) or Path(output).is_dir())


def _videos_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """(video files, other entries) of `folder`, in name order, hidden entries left out."""
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as err:
        raise PatchVSRError(f"cannot read the folder {folder}: {err.strerror or err}") from None
    videos = [p for p in entries if p.is_file() and p.suffix.lower() in VIDEO_EXTS]
    return videos, [p for p in entries if p not in videos]


def output_name(src: Path, as_frames: bool = False, codec: str = "libx264") -> str:
    """The name of `src`'s output in the output folder."""
    if as_frames:
        return src.name if src.is_dir() else src.stem
    if src.is_dir():
        return f"{src.name}.mp4"
    if is_image_path(src):
        return src.name
    if src.suffix.lower() in VIDEO_EXTS:
        try:
            check_codec(codec, src)  # keep the input's container where it holds the codec
            return src.name
        except PatchVSRError:
            pass
    return f"{src.stem}.mp4"


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def plan_batch(
    inputs: list[str], outdir: str, as_frames: bool = False, codec: str = "libx264"
) -> BatchPlan:
    """The clips and their outputs, or a one-line refusal of an ambiguous request. Makes
    OUTDIR (one level) when it is missing."""
    out = Path(outdir)
    if not out.is_dir() and out.suffix.lower() in VIDEO_EXTS + IMAGE_EXTS and not as_frames:
        raise PatchVSRError(
            f"-o {outdir} names a file, but several clips need an output folder: "
            "give a folder (e.g. -o upscaled/)"
        )
    sources: list[Path] = []
    ignored: list[Path] = []
    for text in inputs:
        src = Path(text)
        if src.is_dir() and not is_frame_folder(src):
            if _inside(out, src):
                raise PatchVSRError(
                    f"refusing to write into the input folder {src}: choose another -o"
                )
            videos, others = _videos_in(src)
            if not videos:
                raise PatchVSRError(f"no videos (or PNG/JPEG frames) in the folder {src}")
            sources += videos
            ignored += others
        else:
            sources.append(src)  # checked by its own job: a missing file is that clip's error
    if out.exists() and not out.is_dir():
        raise PatchVSRError(f"-o {outdir} exists and is not a folder")
    items = [BatchItem(src, out / output_name(src, as_frames, codec)) for src in sources]
    _refuse_clashes(items)
    try:
        out.mkdir(exist_ok=True)
    except OSError as err:
        raise PatchVSRError(f"cannot make the output folder {out}: {err.strerror or err}") from None
    return BatchPlan(items, ignored)


def _refuse_clashes(items: list[BatchItem]) -> None:
    inputs = {item.input.resolve(): item.input for item in items}
    seen: dict[Path, Path] = {}
    for item in items:
        target = item.output.resolve()
        if target in inputs:
            raise PatchVSRError(f"refusing to write {item.output} over the input {inputs[target]}")
        if target in seen:
            raise PatchVSRError(
                f"{seen[target]} and {item.input} would both write {item.output}: "
                "upscale them in separate runs"
            )
        seen[target] = item.input


def is_done(output: Path) -> bool:
    """A finished output: it exists, and no interrupted run of it left a work folder."""
    return output.exists() and not work_dir_for(output).exists()


@dataclass
class BatchReport:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    failed: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        total = len(self.written) + len(self.kept) + len(self.failed)
        line = f"{total} clips: {len(self.written)} written"
        if self.kept:
            line += f", {len(self.kept)} already done (--resume)"
        line += f", {len(self.failed)} failed"
        if self.failed:
            line += ": " + ", ".join(str(p) for p in self.failed)
        return line

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def run_batch(
    plan: BatchPlan,
    run_one: Callable[[BatchItem], str],
    resume: bool = False,
    quiet: bool = False,
) -> BatchReport:
    """Upscale each clip of `plan` with `run_one(item) -> its summary line`. A clip whose job
    raises `PatchVSRError` is reported in one line and the next one starts. The overall bar
    counts clips; each job draws its own bar below it."""
    report = BatchReport()
    count = len(plan.items)
    if note := plan.ignored_note():
        print(f"note: {note}", file=sys.stderr)
    with tqdm(
        total=count, unit="clip", disable=quiet, file=sys.stderr, dynamic_ncols=True, leave=False
    ) as overall:
        for i, item in enumerate(plan.items, 1):
            where = f"[{i}/{count}]"
            overall.set_description(f"clip {i}/{count}: {item.input.name}")
            if resume and is_done(item.output):
                tqdm.write(f"{where} kept {item.output} (done)", file=sys.stdout)
                report.kept.append(item.input)
            else:
                try:
                    tqdm.write(f"{where} {run_one(item)}", file=sys.stdout)
                    report.written.append(item.input)
                except PatchVSRError as err:
                    message = str(err)
                    if str(item.input) not in message:
                        message = f"{item.input}: {message}"
                    tqdm.write(f"error: {where} {message}", file=sys.stderr)
                    report.failed.append(item.input)
            overall.update()
    return report


__all__ = [
    "BatchItem",
    "BatchPlan",
    "BatchReport",
    "is_done",
    "output_name",
    "plan_batch",
    "run_batch",
    "wants_batch",
]
