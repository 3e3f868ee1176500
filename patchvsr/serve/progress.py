"""The progress a visitor sees: it only moves forward, and says how long is left.

A job reports (fraction, what) from several stages: reading the clip, loading the model, each
denoising step of each window, writing. Some stages start over at their own zero ("starting"
after the model has loaded, a new window), so the raw fraction can go back; a bar that goes
back reads as a fault. `ForwardProgress` keeps the largest fraction seen, and once the model's
work has moved the bar (the first window, or its first steps) estimates the time left from
the pace of the work so far; reading the clip and loading the model do not count.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def format_seconds(seconds: float) -> str:
    """'about 40 s', 'about 3 min' (rounded: an estimate, not a promise)."""
    if seconds < 60:
        return f"about {max(1, round(seconds / 5) * 5 if seconds > 10 else round(seconds))} s"
    return f"about {round(seconds / 60)} min"


PREPARING = ("queued", "waiting", "reading", "loading")  # reports before the model works


class ForwardProgress:
    """Turns a job's raw reports into what the page shows: `update(fraction, what)` returns
    (fraction, text) with a fraction that never decreases and, once the work has a pace, the
    time left in the text."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.fraction = 0.0
        self._work_started: tuple[float, float] | None = None  # (time, fraction) of the work
        self._windows_done = False

    def update(self, fraction: float, what: str) -> tuple[float, str]:
        now = self._clock()
        fraction = max(self.fraction, min(1.0, max(0.0, fraction)))
        working = not what.startswith(PREPARING)
        if working and self._work_started is None:
            self._work_started = (now, fraction)
        elif self._work_started is not None and fraction > self._work_started[1]:
            self._windows_done = True
        self.fraction = fraction
        left = self.seconds_left(now)
        if left is not None and fraction < 1.0:
            what = f"{what} ({format_seconds(left)} left)"
        return fraction, what

    def seconds_left(self, now: float | None = None) -> float | None:
        """The time left at the pace since the work began; None before that pace is known."""
        if not self._windows_done or self._work_started is None:
            return None
        now = self._clock() if now is None else now
        started, at_start = self._work_started
        done = self.fraction - at_start
        if done <= 0:
            return None
        return (now - started) * (1.0 - self.fraction) / done


__all__ = ["ForwardProgress", "format_seconds"]
