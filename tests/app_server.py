"""The demo served for real on a loopback port, for tests that talk to it over HTTP."""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from demo.page import build, launch_options
from patchvsr import viz
from patchvsr.io.reader import read_frames
from patchvsr.io.writer import VideoWriter
from patchvsr.serve.config import DemoSettings

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "assets" / "examples" / "dove_002.mp4"  # 318x180, 32 frames, 16 fps
# The tests' limits: the example clip fits, their bad inputs do not.
LIMITS = {
    "PATCHVSR_DEMO_MODEL": "tiny",
    "PATCHVSR_MAX_SECONDS": "5",
    "PATCHVSR_MAX_INPUT": "640x480",
    "PATCHVSR_MAX_OUTPUT": "1280x720",
    "PATCHVSR_MAX_FRAMES": "8",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(settings: DemoSettings):
    """Launch the page in this process; returns (blocks, url). Close with `blocks.close()`."""
    demo = build(settings)
    port = free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(settings),
    )
    return demo, f"http://127.0.0.1:{port}/"


@contextlib.contextmanager
def serving(env: dict[str, str], outputs: Path) -> Iterator[str]:
    """The demo with settings from `env`, writing into `outputs`: yields its URL, then stops."""
    demo, url = serve(DemoSettings.from_env({**env, "PATCHVSR_OUTPUT_DIR": str(outputs)}))
    try:
        yield url
    finally:
        demo.close()


def write_small_clip(path: Path, frames: int) -> Path:
    """The example clip's first `frames` frames at 96x54, 16 fps: an upscale takes seconds."""
    with VideoWriter(path, 96, 54, rate=16) as writer:
        for frame in read_frames(CLIP, 0, frames):
            writer.write(viz.resize_rgb(frame, (54, 96)))
    return path


def upscale_args(
    path, *, model="bicubic", frames=8, scale=2, size="", seed=0, steps=0, denoise=None
):
    """The positional inputs of the `/upscale` endpoint; `path` is what the file input gets
    (a `handle_file(...)` for an upload, or a raw FileData dict). `denoise` None: auto."""
    explore = ("64", "paper", 0.25, 0)  # patch, scheme, overlap, index of the Explore tab
    denoising = (denoise is None, 0.5 if denoise is None else denoise)
    zoom = "the most detailed region"
    return (path, 0, scale, size, *explore, model, frames, steps, 0, seed, True, *denoising, zoom)


def fetch(url: str) -> tuple[int, bytes]:
    """(status, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def call_raw(url: str, api_name: str, data: list) -> str:
    """Call an endpoint with exactly `data` over the plain HTTP API (no client-side handling
    of files), and return the event stream's text."""
    request = urllib.request.Request(
        f"{url}gradio_api/call/{api_name}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        event = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event}", timeout=120) as r:
        return r.read().decode()


def upload(url: str, path: str | Path) -> dict:
    """Upload a file as the page does; returns the file input's value for the server's copy."""
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="{Path(path).name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    body += Path(path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{url}gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        (server_path,) = json.loads(response.read())
    return {**file_data(server_path), "orig_name": Path(path).name}


def result_of(stream: str) -> list:
    """The output list of a finished call's event stream (`call_raw`); raises on an error."""
    events = stream.split("\n\n")
    for event in events:
        lines = dict(line.split(": ", 1) for line in event.splitlines() if ": " in line)
        if lines.get("event") == "complete":
            return json.loads(lines["data"])
    raise AssertionError(f"the call did not complete: {stream[-500:]}")


def file_data(path: str | Path) -> dict:
    """A file input's value that points at a server-side path instead of an upload."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def job_folders(outputs: Path) -> list[Path]:
    return sorted(outputs.glob("job-*"))
