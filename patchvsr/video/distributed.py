"""The job runner's upscale phase on several processes, and the other processes' side.

The main process (rank 0) does everything a single process does: it checks the job, reads
the input, keeps the work folder, shows the progress bar and writes the output. The other
processes wait for work. The main process broadcasts each message over the gloo control
group:

- `"load"`: the job passed its checks; load the model with these options (the main's, so
  every process runs the same steps, strength and patch size);
- patch-parallel (`"window"`): one window's frames to everyone; all processes run the
  pipeline on it together (each its share of every step's patches, `parallel.steps`) and
  the main process saves the result;
- window-parallel (`"windows"`): up to N windows, one per process, each run alone; the
  results are gathered on the main process, which saves them in order;
- `"done"`: the upscale phase is over (assembly is the main's alone); the others wait for
  the main process to end its job, and all leave the group together;
- `"stop"`: the main process failed before any shared work; the others stop with its line.

Window k is upscaled with seed `seed + k` wherever it runs, so window-parallel output is
exactly the single-process output, patch-parallel output is within rounding of it (the
canvas is summed in another order), and `--resume` may use another number of processes.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import VideoInfo
from patchvsr.io.reader import VideoReader
from patchvsr.parallel.balance import Balance, balance, choose_mode, patch_tokens, window_rounds
from patchvsr.parallel.group import (
    Group,
    PeerLost,
    broadcast,
    finish,
    gather,
    leave_together,
    local,
    scatter,
    stopping,
)
from patchvsr.video.jobs import UpscaleJob, frames_done, input_windows, progress_bar, save_window
from patchvsr.video.upscalers import Upscaler
from patchvsr.video.workfolder import WorkFolder

MODES = ("auto", "patches", "windows")


def patch_balance(upscaler: Upscaler, out_hw: tuple[int, int], n: int) -> Balance | None:
    """How evenly a step's patches split over `n` processes; None for a model without
    patches (the classical filters)."""
    pipe = getattr(upscaler, "pipe", None)
    if pipe is None:
        return None
    # the scheme that runs (a shifted grid's every step has as many patches as its first)
    scheme = pipe.scheme_for(upscaler.scheme, upscaler.steps, upscaler.strength)
    plan = pipe.plan_for(out_hw, upscaler.patch_size, scheme)
    token_hw = tuple(pipe.transformer.config.patch_size[1:])
    return balance(patch_tokens(plan.scaled(pipe.codec.spatial), token_hw), n)


def pick_mode(
    asked: str, upscaler: Upscaler, out_hw: tuple[int, int], windows: int, n: int
) -> tuple[str, str]:
    """The mode to run ("patches" or "windows") and the log line that says why."""
    if asked not in MODES:
        raise PatchVSRError(f"parallel mode must be one of {', '.join(MODES)}, got {asked!r}")
    split = patch_balance(upscaler, out_hw, n)
    mode = choose_mode(windows, n, split) if asked == "auto" else asked
    if mode == "patches" and split is None:
        raise PatchVSRError(f"{upscaler.name} has no patches to share: use windows")
    if mode == "windows":
        why = f"{windows} windows, one per process at a time"
    else:
        why = (
            f"each step's patches split by tokens, {'/'.join(map(str, split.patches))} "
            f"patches per process, {split.idle_share:.0%} idle"
        )
    name = {"patches": "patch", "windows": "window"}[mode]
    return mode, f"{name}-parallel on {n} processes ({why})"


def announce(group: Group | None, options: dict) -> None:
    """Tell the other processes to load the model with the main process's options (after
    the job's checks, so a refused job loads nothing)."""
    if group is not None:
        broadcast(("load", options), group, "loading the model")


def lead_windows(
    job: UpscaleJob,
    upscaler: Upscaler,
    info: VideoInfo,
    work: WorkFolder,
    spans: list[tuple[int, int]],
    todo: list[int],
    group: Group,
) -> None:
    """The main process's upscale phase: the windows in `todo`, shared out over `group`."""
    out_hw = job.out_size
    mode, line = pick_mode(job.parallel, upscaler, out_hw, len(todo), group.world)
    print(f"parallel: {line}", file=sys.stderr)  # even with --quiet: what ran, in the log
    # The bar counts the clip's frames, each once (overlaps are not counted twice).
    covered = frames_done(spans, todo)
    group.started = True
    with (
        progress_bar(job.quiet, total=info.num_frames, initial=len(covered), unit="frame") as bar,
        VideoReader(job.input, info=info) as reader,
    ):
        bar.set_description_str(upscaler.name)

        def progress(done: int, count: int, what: str) -> None:
            bar.set_postfix_str(f"{what} ({done}/{count})", refresh=False)

        def saved(k: int, result, pts) -> None:
            save_window(work, k, spans[k], result, pts, out_hw, f"{upscaler.name} (parallel)")
            covered.update(range(*spans[k]))
            bar.update(len(covered) - bar.n)

        windows = input_windows(reader, spans, todo)
        if mode == "patches":
            for k, frames, pts in windows:
                broadcast(("window", (frames, out_hw, job.seed + k)), group, f"window {k}")
                saved(
                    k, upscaler.upscale(frames, out_hw, seed=job.seed + k, progress=progress), pts
                )
        else:
            for round_ in window_rounds(todo, group.world):
                batch = [next(windows) for _ in round_]
                tasks = [(f, out_hw, job.seed + k) for k, f, _ in batch]
                tasks += [None] * (group.world - len(tasks))
                broadcast(("windows", None), group, f"windows {round_}")
                scatter(tasks, group, f"windows {round_}")
                with local():
                    mine = upscaler.upscale(*tasks[0][:2], seed=tasks[0][2], progress=progress)
                results = gather(None, group, f"windows {round_}")
                results[0] = mine
                for (k, _, pts), result in zip(batch, results, strict=False):
                    saved(k, result, pts)
    broadcast(("done", None), group, "the end of the upscale phase")


def follow(group: Group, load: Callable[[dict], Upscaler]) -> int:
    """A process other than the main one: load the model with the main process's options,
    then do what the main says."""
    try:
        upscaler = None
        while True:
            kind, payload = broadcast(None, group, "waiting for work")
            if kind == "load":
                upscaler = load(payload)
            elif kind == "done":
                leave_together(group)
                return 0
            elif kind == "stop":
                raise PatchVSRError(payload)
            elif kind == "window":
                frames, out_hw, seed = payload
                upscaler.upscale(frames, out_hw, seed=seed)
            else:  # "windows": one each
                task = scatter(None, group, "waiting for a window")
                result = None
                if task is not None:
                    with local():
                        result = upscaler.upscale(task[0], task[1], seed=task[2])
                gather(result, group, "sending a window back")
    except BaseException:
        stopping()
        finish(group)  # a live process group at exit aborts the process with a second line
        raise


@contextlib.contextmanager
def leading(group: Group | None) -> Iterator[None]:
    """The main process's whole job. If it fails before the shared work began, the other
    processes are told why; once they work with it, its exit stops their next collective."""
    if group is None:
        yield
        return
    try:
        yield
        leave_together(group)
    except BaseException as err:
        stopping()
        if not group.started and not isinstance(err, PeerLost):
            with contextlib.suppress(PatchVSRError):
                broadcast(("stop", f"the main process stopped: {err}"), group, "stopping")
        finish(group)
        raise
