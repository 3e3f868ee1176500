"""Run fuzz cases through the reading path in a worker process, and judge each outcome.

A case passes when it ends in valid frames, or in a `PatchVSRError` whose message is one
line; when its resident memory peaked less than `budget` bytes above where it started; and
when it finished within `timeout` seconds of CPU time. Anything else is a failure: another exception, a
crash of the worker (a signal), a hang (the worker is killed at the timeout), an allocation
that reached the worker's address-space bound, or a resident peak over the budget.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from extras.fuzz.mutate import Case, mutated
from extras.fuzz.seeds import Seed

MEMORY_BUDGET = 500_000_000  # bytes above the worker's resident memory before the case
CASE_TIMEOUT = 10.0  # CPU seconds; a case of these small files takes well under one
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    id: str
    outcome: str  # "frames", "refused"; failures: "exception", "crash", "hang", "memory"
    message: str
    seconds: float = 0.0
    peak_growth: int = 0
    steps: tuple[str, ...] = ()

    def failure(self, budget: int = MEMORY_BUDGET) -> str | None:
        """Why this outcome breaks the promise, or None when it keeps it."""
        if self.outcome in ("exception", "crash", "hang", "memory"):
            return f"{self.outcome}: {self.message}"
        if self.outcome == "refused" and ("\n" in self.message or not self.message.strip()):
            return f"refusal not on one line: {self.message!r}"
        if self.peak_growth > budget:
            return f"memory peaked {self.peak_growth / 1e6:.0f} MB above the start"
        return None


class Worker:
    """A `python -m extras.fuzz.worker` process, restarted after a crash or a hang."""

    def __init__(self, timeout: float = CASE_TIMEOUT) -> None:
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.start_rss = 0
        self.last_rss = 0

    def _start(self) -> subprocess.Popen:
        """A new worker, once it has imported everything and says so."""
        process = self._spawn()
        ready, _, _ = select.select([process.stdout], [], [], 300)
        if not ready or process.stdout.readline() != "ready\n":
            process.kill()
            raise RuntimeError("the fuzz worker did not start")
        return process

    def _spawn(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
               os.environ.get("PYTHONPATH")]))}  # fmt: skip
        return subprocess.Popen(
            [sys.executable, "-m", "extras.fuzz.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the libraries' own warnings are not under test
            env=env,
            text=True,
            cwd=ROOT,
        )

    def read(self, path: Path) -> dict:
        """Outcome of reading `path` (see the module docstring)."""
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()
        ready = self._wait()
        line = self.process.stdout.readline() if ready else ""
        if line:
            result = json.loads(line)
            self.start_rss = self.start_rss or result["rss"]
            self.last_rss = result["rss"]
            return result
        if not ready:
            self.close()
            return {"outcome": "hang", "message": f"no answer after {self.timeout:g} s of CPU time"}
        code = self.process.wait()
        self.process = None
        return {"outcome": "crash", "message": f"the reading process died (exit status {code})"}

    def _cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # user + system

    def _wait(self) -> bool:
        """Wait for the answer; False on a hang. A case is timed by the CPU time it takes, so
        a machine busy with other work does not make a slow case look hung; a case that
        waits on nothing (a deadlock) is caught by the wall clock, at ten times as long."""
        cpu_start, wall_end = self._cpu_seconds(), time.monotonic() + 10 * self.timeout
        while True:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.25)
            if ready:
                return True
            try:
                cpu = self._cpu_seconds() - cpu_start
            except (OSError, IndexError):  # the process is gone: its pipe ends too
                continue
            if cpu > self.timeout or time.monotonic() > wall_end:
                return False

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_file(worker: Worker, path: Path, id: str, steps: Iterable[str] = ()) -> Result:
    raw = worker.read(path)
    return Result(
        id=id,
        outcome=raw["outcome"],
        message=raw["message"],
        seconds=raw.get("seconds", worker.timeout),
        peak_growth=raw.get("peak_growth", 0),
        steps=tuple(steps),
    )


def run_cases(
    cases: Iterable[Case], seeds: dict[str, Seed], folder: Path, worker: Worker
) -> Iterator[tuple[Result, bytes]]:
    """Each case's result and file, in order; the file is written into `folder` for the
    worker and removed after."""
    for case in cases:
        data, steps = mutated(case, seeds)
        path = folder / f"{case.id}{seeds[case.seed].suffix}"
        path.write_bytes(data)
        try:
            yield run_file(worker, path, case.id, steps), data
        finally:
            path.unlink(missing_ok=True)


def write_regression(folder: Path, result: Result, data: bytes, suffix: str) -> Path:
    """Keep a failing file as `<case id><suffix>`, with a note of what it did, for the test
    that replays the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.id}{suffix}"
    path.write_bytes(data)
    note = {"case": result.id, "mutations": list(result.steps), "failure": result.failure()}
    path.with_name(path.name + ".json").write_text(json.dumps(note, indent=1) + "\n")
    return path


__all__ = ["CASE_TIMEOUT", "MEMORY_BUDGET", "Result", "Worker", "run_cases", "write_regression"]
