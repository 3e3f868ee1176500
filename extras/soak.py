"""A long-running demo under many small jobs: does it grow, leak or leave files behind?

`soak(jobs)` starts `python app.py` in a process of its own on a loopback port and sends it
`jobs` requests through `gradio_client`, one after another, in a fixed mix: good clips and
images (they must come back done, with their result on disk), bad inputs (they must be
refused with the app's one-line message) and jobs cancelled while they run or wait. Every
`every` jobs it takes the server's figures from /proc: resident memory, open file
descriptors, threads, job folders on disk, and any job folder older than
`PATCHVSR_OUTPUT_MAX_AGE` allows (each job removes the expired ones when it starts). The test
suite runs a short soak; `scripts/soak.py` runs a long one and prints its figures.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gradio_client import Client, handle_file

from extras.fuzz.seeds import build_seeds
from extras.fuzz.sps import with_frame_size

ROOT = Path(__file__).resolve().parents[1]
# A job's kind for each position in a round of 10: mostly good jobs, as a public demo sees.
ROUND = ("clip", "bad", "image", "clip", "cancel", "bad", "clip", "image", "bad", "cancel")
LEFTOVER_MARKS = (".partial-", ".patchvsr-work", ".tmp-")


@dataclass
class Checkpoint:
    jobs: int
    rss_mb: float
    fds: int
    threads: int
    folders: int
    expired: int  # job folders the max age should have removed
    cache_mb: float  # Gradio's upload and result cache
    fd_kinds: dict[str, int] = field(default_factory=dict)  # "socket", "pipe", a file's folder

    def line(self) -> str:
        return (
            f"after {self.jobs:4d} jobs: {self.rss_mb:6.0f} MB resident, {self.fds:3d} open "
            f"files, {self.threads:3d} threads, {self.folders:3d} job folders "
            f"({self.expired} expired), cache {self.cache_mb:.1f} MB"
        )


@dataclass
class SoakReport:
    done: int = 0
    refused: int = 0
    cancelled: int = 0
    wrong: list[str] = field(default_factory=list)  # outcomes that broke a promise
    checkpoints: list[Checkpoint] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def jobs(self) -> int:
        return self.done + self.refused + self.cancelled + len(self.wrong)

    def growth(self) -> float:
        """How much the server's resident memory grew from the first checkpoint to the last,
        as a fraction of the first: the first jobs load the model and fill the caches, so
        the first checkpoint is the level a server that does not leak keeps."""
        first, last = self.checkpoints[0], self.checkpoints[-1]
        return last.rss_mb / first.rss_mb - 1

    def summary(self) -> str:
        first, last = self.checkpoints[0], self.checkpoints[-1]
        return (
            f"{self.jobs} jobs in {self.seconds:.0f} s: {self.done} done, {self.refused} "
            f"refused, {self.cancelled} cancelled, {len(self.wrong)} wrong; memory "
            f"{first.rss_mb:.0f} MB after {first.jobs} jobs, {last.rss_mb:.0f} MB after "
            f"{last.jobs} ({self.growth():+.1%}; peak of the checkpoints "
            f"{max(c.rss_mb for c in self.checkpoints):.0f} MB); open files {first.fds} -> "
            f"{last.fds}; threads {first.threads} -> "
            f"{last.threads}; job folders at the end {last.folders}, expired ones seen "
            f"{sum(c.expired for c in self.checkpoints)}; leftovers {len(self.leftovers)}"
        )


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def _fd_kind(link: str) -> str:
    try:
        target = os.readlink(link)
    except OSError:  # closed meanwhile
        return "closed"
    return target.split(":")[0] if not target.startswith("/") else str(Path(target).parent)


class Server:
    """`python app.py` with `env` on a free loopback port, writing under `root`."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        self.outputs, self.cache = root / "outputs", root / "gradio"
        self.log = open(root / "server.log", "wb")  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "GRADIO_SERVER_NAME": "127.0.0.1",
                "GRADIO_SERVER_PORT": str(port),
                "GRADIO_TEMP_DIR": str(self.cache),
                "GRADIO_ANALYTICS_ENABLED": "False",
                "HF_HUB_OFFLINE": "1",
                "PATCHVSR_OUTPUT_DIR": str(self.outputs),
                **env,
            },
        )
        deadline = time.monotonic() + 300
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"app.py exited: {self.tail()}")
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("app.py did not answer within 300 s")
            time.sleep(0.3)

    def _answers(self) -> bool:
        """Whether the app serves its page's configuration: a port that takes connections is
        not enough, on busy cores the app may still be starting behind it (and close them)."""
        try:
            return httpx.get(self.url + "config", timeout=30).status_code == 200
        except httpx.HTTPError:
            return False

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_bytes()[-3000:].decode(errors="replace")

    def figures(self, jobs: int, max_age: float, last_run: float) -> Checkpoint:
        pid = self.process.pid
        folders = list(self.outputs.glob("job-*"))
        kinds = Counter(_fd_kind(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
        # Each job that runs removes folders older than the max age as it starts.
        expired = [f for f in folders if f.stat().st_mtime < last_run - max_age - 1]
        return Checkpoint(
            jobs=jobs,
            rss_mb=_status(pid, "VmRSS") / 1024,
            fds=sum(kinds.values()),
            fd_kinds=dict(kinds),
            threads=_status(pid, "Threads"),
            folders=len(folders),
            expired=len(expired),
            cache_mb=_size_mb(self.cache) if self.cache.exists() else 0.0,
        )

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def inputs(folder: Path) -> dict[str, list[Path]]:
    """The files the jobs send: good ones (a 64x48 clip with sound, a PNG) and bad ones."""
    folder.mkdir(parents=True, exist_ok=True)
    seeds = {seed.name: seed for seed in build_seeds()}
    files: dict[str, list[Path]] = {"clip": [], "image": [], "bad": []}

    def put(kind: str, name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        files[kind].append(path)

    put("clip", "clip.mp4", seeds["mp4"].data)
    put("image", "still.png", seeds["png"].data)
    put("bad", "page.mp4", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n")
    put("bad", "cut.mp4", seeds["mp4"].data[: len(seeds["mp4"].data) // 2])
    ts = seeds["ts-h264"]
    bomb = [with_frame_size(ts.packets[0], ts.codec, 16000, 16000), *ts.packets[1:]]
    # MPEG-TS bytes under a name the page takes (its file input lists no .ts); the reading
    # path goes by the content.
    put("bad", "bomb.mp4", ts.remux(bomb))
    return files


def _is_refusal(err: Exception, name: str) -> bool:
    text = str(err)
    if "no such file" in text:  # the upload went away: the server's fault, not the file's
        return False
    return f"cannot read {name}" in text and "\n" not in text.strip() and "Traceback" not in text


def _args(path: Path, model: str, frames: int, steps: int, seed: int = 0) -> tuple:
    explore = ("64", "paper", 0.25, 0)  # patch, scheme, overlap, tab index: no zoomed patch
    denoise = (True, 0.5)  # auto, and the slider's value when it is not
    return (
        handle_file(str(path)), 0, 2, "", *explore, model, frames, steps, 0, seed, True,
        *denoise, "the most detailed region",
    )  # fmt: skip


def _unfinished(outputs: Path, before: set[Path]) -> list[Path]:
    """Job folders made since `before` that still hold a job's work (it has not yet stopped,
    or it left its work behind)."""
    found = []
    for folder in set(outputs.glob("job-*")) - before:
        try:
            if any(p.name.endswith(".patchvsr-work") for p in folder.iterdir()):
                found.append(folder)
        except FileNotFoundError:  # removed meanwhile: the cancelled job cleaned up
            continue
    return found


def _cancel(client: Client, path: Path, wait: float, outputs: Path) -> bool:
    """Submit a slow job, cancel it after `wait` seconds, and wait (up to a minute) until the
    server has stopped it; True when it was cancelled (not already done)."""
    before = set(outputs.glob("job-*"))
    job = client.submit(*_args(path, "tiny", 4, 50), api_name="/upscale")
    time.sleep(wait)
    finished = job.done()
    for _ in range(3):  # a busy machine may answer the cancel request late
        try:
            job.cancel()
            break
        except httpx.TimeoutException:
            continue
    deadline = time.monotonic() + 60
    while (not job.done() or _unfinished(outputs, before)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not finished


def _log(line: str) -> None:
    print(line, flush=True)  # a long soak's checkpoints show as they come, also in a file


def soak(root: Path, jobs: int, every: int = 50, max_age: float = 20.0, log=_log) -> SoakReport:
    """Run the soak under `root` (see the module docstring) and return its figures."""
    files = inputs(root / "inputs")
    server = Server(
        root,
        {
            "PATCHVSR_MODELS": "tiny,bicubic",
            "PATCHVSR_DEMO_MODEL": "tiny",
            "PATCHVSR_MAX_FRAMES": "4",
            "PATCHVSR_OUTPUT_MAX_AGE": str(max_age),
        },
    )
    report, started = SoakReport(), time.monotonic()
    last_run = time.time()
    try:
        # A server that has just started on busy cores may take more than httpx's 5 s to
        # answer its first request.
        client = Client(server.url, verbose=False, httpx_kwargs={"timeout": 120})
        for number in range(jobs):
            kind = ROUND[number % len(ROUND)]
            path = files[kind][number % len(files[kind])] if kind != "cancel" else None
            try:
                if kind == "cancel":  # (it may stop before it clears expired folders)
                    cancelled = _cancel(
                        client, files["clip"][0], 0.3 + number % 3 / 2, server.outputs
                    )
                    report.cancelled += cancelled
                    report.done += not cancelled
                elif kind == "bad":
                    client.predict(*_args(path, "bicubic", 2, 0), api_name="/upscale")
                    report.wrong.append(f"job {number}: {path.name} was not refused")
                else:
                    last_run = time.time()
                    model, steps = ("tiny", 1) if kind == "clip" else ("bicubic", 0)
                    *_, download, _crops, _zoom = client.predict(
                        *_args(path, model, 2, steps, seed=number), api_name="/upscale"
                    )
                    if not Path(download).is_file() or not Path(download).stat().st_size:
                        report.wrong.append(f"job {number}: no result file for {path.name}")
                    else:
                        report.done += 1
            except Exception as err:  # noqa: BLE001 - sorted out here
                if kind == "bad" and _is_refusal(err, path.name):
                    report.refused += 1
                else:
                    report.wrong.append(f"job {number} ({kind}): {type(err).__name__}: {err}")
            if (number + 1) % every == 0 or number + 1 == jobs:
                report.checkpoints.append(server.figures(number + 1, max_age, last_run))
                log(report.checkpoints[-1].line())
        report.seconds = time.monotonic() - started
        report.leftovers = [
            str(p) for p in root.rglob("*") if any(mark in p.name for mark in LEFTOVER_MARKS)
        ]
        if server.process.poll() is not None:
            report.wrong.append(f"the server died: {server.tail()}")
    finally:
        server.close()
    return report


__all__ = ["Checkpoint", "Server", "SoakReport", "inputs", "soak"]
