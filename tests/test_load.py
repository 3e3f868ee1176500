"""The web app under load: eight clients at once send real jobs to `python app.py`.

Bounded by construction: eight jobs of two 32x24 frames with the tiny model, over loopback, and
every wait has a deadline. The server runs one job at a time and lets four wait
(`PATCHVSR_QUEUE_SIZE=4`); every job must either complete or be refused with a clear queue
message, the server must stay up, its memory must come back near where it was, and nothing
temporary may be left behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from app_server import fetch, free_port, upscale_args
from conftest import REPO_ROOT, write_clip
from gradio_client import Client, handle_file

pytestmark = pytest.mark.slow  # a real demo server and eight clients

CLIENTS = 8
QUEUE = 4


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise KeyError("VmRSS")


def leftovers(*folders: Path) -> list[Path]:
    """Temporary files of writers and jobs: partial encodes, work folders, atomic temps."""
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            name = path.name
            if ".partial-" in name or name.endswith(".patchvsr-work") or ".tmp-" in name:
                found.append(path)
    return found


@pytest.fixture
def server(tmp_path):
    """`python app.py` in a process of its own, on a free loopback port."""
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "PATCHVSR_MODELS": "tiny,bicubic",
        "PATCHVSR_DEMO_MODEL": "tiny",
        "PATCHVSR_OUTPUT_DIR": str(tmp_path / "outputs"),
        "PATCHVSR_MAX_FRAMES": "4",
        "PATCHVSR_QUEUE_SIZE": str(QUEUE),
    }
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "app.py did not listen within 120 s"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        yield process, f"http://127.0.0.1:{port}/", tmp_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def test_eight_clients_at_once(server, tmp_path):
    process, url, root = server
    clip = write_clip(tmp_path / "clip.mp4", frames=2, size=(32, 24), audio=True)

    def job(i: int):
        """One client's job: ("done", result file bytes) or ("refused", message)."""
        client = Client(url, verbose=False)
        try:
            status, *_, download, _crops, _zoom = client.submit(
                *upscale_args(handle_file(str(clip)), model="tiny", frames=2, steps=1, seed=3),
                api_name="/upscale",
            ).result(timeout=240)
        except Exception as err:  # noqa: BLE001 - sorted out below
            return "refused", f"{type(err).__name__}: {err}"
        assert status.startswith("**Done.** tiny: frames 0-1 of clip.mp4"), status
        return "done", Path(download).read_bytes()

    warm = job(-1)  # loads the model: what stays in memory from here on is the baseline
    assert warm[0] == "done", warm[1]
    time.sleep(1)
    baseline = rss_mb(process.pid)

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(job, range(CLIENTS)))
    seconds = time.monotonic() - started

    done = [r for kind, r in results if kind == "done"]
    refused = [r for kind, r in results if kind == "refused"]
    assert len(done) + len(refused) == CLIENTS
    assert len(done) >= 1 + QUEUE or refused  # all the queue could take was taken
    for message in refused:
        assert "queue is full" in message.lower(), message
    # Same input, model and seed: the same file, whoever asked and in whatever order.
    assert all(result == warm[1] for result in done)

    # The server is up and serves the next job as usual.
    assert process.poll() is None and fetch(url)[0] == 200
    assert job(CLIENTS)[0] == "done"

    # Memory comes back near its level after the first job: each job hands what it freed
    # back to the system (without that: +50 to +70 MB after this round, +200 MB after 60 jobs).
    time.sleep(1)
    after = rss_mb(process.pid)
    assert after - baseline < 50, f"{baseline:.0f} MB -> {after:.0f} MB"

    # Nothing temporary is left: one folder per finished job (the round's, the warm-up, the
    # last one and the example the server computes as it starts), no partial file anywhere.
    outputs = root / "outputs"
    assert len(list(outputs.glob("job-*"))) == len(done) + 3
    assert leftovers(outputs, root / "gradio") == []
    print(
        f"{len(done)} done, {len(refused)} refused in {seconds:.1f} s; {baseline:.0f} -> {after:.0f} MB"
    )
