"""Jobs of the web demo in the background: observable, cancellable, one at a time.

`BackgroundJob` runs a job in a thread: the page polls its progress, and `cancel()` stops the
job at its next progress report (a denoising step of the model). One job at a time holds the
device (`DEVICE_LOCK`): a job that starts while a cancelled one is still finishing its step
waits for it.
"""

from __future__ import annotations

import contextvars
import ctypes
import gc
import sys
import threading
from collections.abc import Callable

Report = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)
DEVICE_LOCK = threading.Lock()


class JobCancelled(Exception):
    """Raised inside a job's thread at its next progress report after `cancel()`."""


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()
_M_ARENA_MAX = -8  # mallopt parameter
# Heaps (arenas) glibc may keep: the jobs run one at a time, so more buy no parallelism.
ARENAS = 2


def share_heaps(arenas: int = ARENAS) -> None:
    """Let all threads share `arenas` heaps. glibc gives threads that allocate at the same
    time heaps of their own (up to 8 per core) and keeps each heap's freed blocks for reuse;
    each job runs in a new thread, beside the server's own threads, so memory freed by one
    job sat in heaps the next one did not use, and the server crept up: 696 to 738 MB from
    the 20th to the 100th job of a soak, though Python objects, tensors and the memory in use
    stayed flat (glibc counted the growth as free blocks in its heaps). With two heaps it
    stays flat (see docs/reliability.md). glibc fixes its limit when the ninth heap is made, so this
    runs when the server imports this module, before it starts its threads; a no-op
    elsewhere than glibc."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, arenas)


share_heaps()


def return_freed_memory() -> None:
    """Hand freed memory back to the system. glibc keeps freed blocks in its per-thread
    arenas, so a server that runs each job (and each request) in a thread of its own only
    ever grows without this (measured: +200 MB over 60 small jobs); with it, at the start and
    the end of every job, it stays near its size after the first. A no-op elsewhere than
    glibc. Cyclic garbage goes first: a few Python objects in a cycle can hold large native
    buffers (frames, figures) that no allocation count would make the collector look at."""
    _forget_thread_fonts()
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _forget_thread_fonts() -> None:
    """matplotlib caches the fonts it opens per thread (up to 64, each an open file): a job's
    thread never comes back, so its entries only hold file handles (measured: +6 over 40
    jobs, up to 64)."""
    font_manager = sys.modules.get("matplotlib.font_manager")
    if font_manager is not None and hasattr(font_manager, "_get_font"):
        font_manager._get_font.cache_clear()


class BackgroundJob:
    """Run `target(report)` in a thread; `progress` holds its latest (fraction, text).

    `cancel()` makes the next `report` raise `JobCancelled` inside the thread. The thread
    runs in a copy of the caller's context (so request-scoped state travels with it) and holds
    `DEVICE_LOCK` while it works."""

    def __init__(self, target: Callable[[Report], object]) -> None:
        self._target = target
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._result: object = None
        self._error: BaseException | None = None
        self.progress: tuple[float, str] = (0.0, "queued")
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._main,), daemon=True)

    def start(self) -> BackgroundJob:
        self._thread.start()
        return self

    def report(self, fraction: float, what: str) -> None:
        if self._cancel.is_set():
            raise JobCancelled("cancelled")
        self.progress = (max(0.0, min(1.0, fraction)), what)

    def _main(self) -> None:
        try:
            while not DEVICE_LOCK.acquire(timeout=0.2):
                self.report(0.0, "waiting for the previous job to stop")
            try:
                return_freed_memory()  # what serving the previous request left
                self._result = self._target(self.report)
            finally:
                DEVICE_LOCK.release()
                return_freed_memory()
        except BaseException as err:  # handed to whoever asks for the result
            self._error = err
        finally:
            self._finished.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def result(self):
        """The target's return value; re-raises its exception."""
        if not self._finished.is_set():
            raise RuntimeError("the job is still running")
        if self._error is not None:
            raise self._error
        return self._result


__all__ = [
    "DEVICE_LOCK",
    "BackgroundJob",
    "JobCancelled",
    "Report",
    "return_freed_memory",
    "share_heaps",
]
