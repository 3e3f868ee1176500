"""The process group a job runs in: set up from torchrun / accelerate, and how it fails.

`torchrun` and `accelerate launch` both describe a process with the environment variables
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. `start_group` turns them into a
torch.distributed process group (NCCL for CUDA tensors, gloo on CPUs) plus a second, gloo,
group for the small control messages and for the monitored barrier, which only gloo has.

A dying process must not leave the others hanging. Two things stop them:
- gloo notices a closed connection at the next collective and raises at once; every
  collective also has a timeout (`PATCHVSR_DIST_TIMEOUT`, seconds, default 1800) for a
  process that hangs instead of dying;
- torchrun sends SIGTERM to the survivors on the same node.
Both become `PeerLost`, a one-line error, on every surviving process.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from patchvsr.errors import PatchVSRError

if TYPE_CHECKING:
    import torch

DEFAULT_TIMEOUT_S = 1800.0


def _dist():
    """torch.distributed, imported when a group is used: checking a request in a single
    process needs no torch (importing it costs seconds and 200 MB)."""
    import torch.distributed

    return torch.distributed


class PeerLost(PatchVSRError):
    """Another process of the job died, hung or was stopped."""

    def kept(self, work: os.PathLike) -> PeerLost:
        """The same error, telling where the finished windows wait for `--resume`."""
        return PeerLost(
            f"{self}; its finished windows are kept in {work}: run again with --resume "
            "(on any number of processes)"
        )


@dataclass
class Group:
    """This process's place in the job. `control` is a gloo group over the same processes."""

    rank: int
    world: int
    backend: str
    control: object
    timeout: datetime.timedelta
    started: bool = False  # the main process has handed out work

    @property
    def is_main(self) -> bool:
        return self.rank == 0


_group: Group | None = None  # made once per process group (creating the gloo group is collective)
_local_depth = 0  # > 0 inside `local()`: work is not shared


def launched() -> bool:
    """Whether this process was started by torchrun / accelerate as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _timeout() -> datetime.timedelta:
    raw = os.environ.get("PATCHVSR_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(raw)
    except ValueError:
        raise PatchVSRError(f"PATCHVSR_DIST_TIMEOUT must be seconds, got {raw!r}") from None
    return datetime.timedelta(seconds=seconds)


def start_group(device: str = "auto") -> Group | None:
    """Join the job's process group from the launcher's environment; None when the process
    runs alone. On CUDA each process takes the GPU of its LOCAL_RANK."""
    if not launched():
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    import torch

    dist = _dist()
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
    timeout = _timeout()
    if not dist.is_initialized():
        try:
            dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timeout)
        except (RuntimeError, ValueError) as err:
            raise PeerLost(f"cannot join the process group: {_first_line(err)}") from err
    _stop_on_sigterm()
    return current(force=True)


def current(force: bool = False) -> Group | None:
    """The group work is shared in, or None (no group, one process, or inside `local()`)."""
    global _group
    dist = sys.modules.get("torch.distributed")  # not imported: no group was ever started
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    if dist.get_world_size() < 2:
        return None
    if _local_depth and not force:
        return None
    if _group is None or _group.world != dist.get_world_size():
        backend = dist.get_backend()
        timeout = _timeout()
        control = dist.group.WORLD if backend == "gloo" else dist.new_group(backend="gloo")
        _group = Group(
            rank=dist.get_rank(),
            world=dist.get_world_size(),
            backend=backend,
            control=control,
            timeout=timeout,
        )
    return _group


@contextlib.contextmanager
def local() -> Iterator[None]:
    """Work done inside is this process's alone (a whole window in window-parallel mode)."""
    global _local_depth
    _local_depth += 1
    try:
        yield
    finally:
        _local_depth -= 1


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def stopping() -> None:
    """This process is already on its way out: a late SIGTERM must not add a second line."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _stop_on_sigterm() -> None:
    """torchrun stops the survivors with SIGTERM when one process dies: say so in one line
    (the exception unwinds normally, so the finished windows stay on disk)."""

    def on_term(signum, frame) -> None:
        stopping()  # one line, even if signalled again
        raise PeerLost("stopped by the launcher: another process of the job ended")

    signal.signal(signal.SIGTERM, on_term)


@contextlib.contextmanager
def collective(what: str) -> Iterator[None]:
    """Turn a failed collective (a peer died or timed out) into one `PeerLost` line."""
    try:
        yield
    except PeerLost:
        raise
    except (RuntimeError, _dist().DistError) as err:
        stopping()
        raise PeerLost(
            f"another process of the job stopped during {what}: {_first_line(err)}"
        ) from err


def sum_across(tensor: torch.Tensor, group: Group, what: str = "a denoising step") -> torch.Tensor:
    """Sum `tensor` over all processes, in place; every process gets the same result."""
    dist = _dist()
    with collective(what):
        if group.backend != "gloo":
            # NCCL only notices a dead peer at its timeout; the gloo barrier notices at once.
            dist.monitored_barrier(group.control, timeout=group.timeout)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast(obj: object, group: Group, what: str) -> object:
    """The main process's `obj` on every process (pickled, over the gloo group)."""
    dist = _dist()
    box = [obj if group.is_main else None]
    with collective(what):
        dist.broadcast_object_list(box, src=0, group=group.control)
    return box[0]


def scatter(items: list | None, group: Group, what: str) -> object:
    """Item r of the main process's `items` on process r."""
    dist = _dist()
    out = [None]
    with collective(what):
        dist.scatter_object_list(out, items if group.is_main else None, src=0, group=group.control)
    return out[0]


def gather(obj: object, group: Group, what: str) -> list | None:
    """Every process's `obj`, as a list on the main process (None elsewhere)."""
    dist = _dist()
    out = [None] * group.world if group.is_main else None
    with collective(what):
        dist.gather_object(obj, out, dst=0, group=group.control)
    return out


def leave_together(group: Group) -> None:
    """Leave the process group with the others, once the main process's whole job is done:
    gloo aborts a process that tears its group down while a peer still holds its end open."""
    dist = _dist()
    with collective("the end of the job"):
        dist.barrier(group=group.control)
    finish(group)


def finish(group: Group | None) -> None:
    """Leave the process group (at the end of a job, or after an error)."""
    dist = _dist()
    global _group
    if group is not None and dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
    _group = None
