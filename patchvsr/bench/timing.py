"""Timing: a clock that waits for the GPU, and per-call timers on chosen methods."""

from __future__ import annotations

import contextlib
import functools
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued GPU work (kernels run asynchronously), so a host clock is honest."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device | str | None = None) -> float:
    synchronize(device)
    return time.perf_counter()


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@contextlib.contextmanager
def timed_calls(
    targets: dict[str, tuple[object, str]],
    device: torch.device | str | None = None,
    around: dict[str, tuple[Callable[[], None], Callable[[], None]]] | None = None,
) -> Iterator[Timings]:
    """Time every call of `getattr(owner, name)` under a label, for the `with` block.

    `targets` maps labels to (owner, method name): an instance (wrapped on the instance) or a
    class (wrapped on the class, so every instance is timed). `around` gives, per label,
    callables run before and after each call (memory probes). Yields the seconds and calls
    per label; nested calls count in both labels (the caller's own time is the difference)."""
    timings = Timings()
    restore: list[tuple[object, str, object, bool]] = []
    for label, (owner, name) in targets.items():
        had_attr = name in vars(owner)
        original = vars(owner)[name] if had_attr else getattr(owner, name)
        before, after = (around or {}).get(label, (None, None))

        def wrapper(*args, _fn=original, _label=label, _before=before, _after=after, **kwargs):
            if _before is not None:
                _before()
            start = clock(device)
            try:
                return _fn(*args, **kwargs)
            finally:
                timings.seconds[_label] += clock(device) - start
                timings.calls[_label] += 1
                if _after is not None:
                    _after()

        functools.update_wrapper(wrapper, original)
        restore.append((owner, name, original, had_attr))
        setattr(owner, name, wrapper)
    try:
        yield timings
    finally:
        for owner, name, original, had_attr in reversed(restore):
            if had_attr:
                setattr(owner, name, original)
            else:
                delattr(owner, name)
