"""The Explore tab, served for real on a loopback port and called the way a client would; and
`python app.py` itself, started as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from app_server import CLIP, LIMITS, ROOT, free_port, serving
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from patchvsr.io.writer import VideoWriter

pytestmark = pytest.mark.slow  # every test drives a real demo server

ENV = LIMITS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(ENV, tmp_path_factory.mktemp("outputs")) as url:
        yield url


@pytest.fixture
def client(server):
    # A session of its own: the server remembers each session's slider ranges and checks
    # later calls against them.
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """Text files (one named like a video), a clip longer than the limit (6 s) and an image
    larger than it."""
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.txt"
    text.write_text("this is not a video\n")
    fake = folder / "fake.mp4"
    fake.write_text("this is not a video either\n")
    long_clip = folder / "long.mp4"
    with VideoWriter(long_clip, 32, 32, rate=8) as writer:
        for i in range(48):
            writer.write(np.full((32, 32, 3), 5 * i, np.uint8))
    large = folder / "large.png"
    Image.new("RGB", (800, 600), (90, 120, 200)).save(large)
    return {"text": text, "fake": fake, "long": long_clip, "large": large}


def explore(client, path=CLIP, frame=3, scale=4, size="", patch="256", scheme="paper", index=19):
    return client.predict(
        handle_file(str(path)),
        frame,
        scale,
        size,
        patch,
        scheme,
        0.25,
        "paper",
        index,
        api_name="/explore",
    )


def test_explore_returns_four_real_pictures_and_the_plan(client):
    *pictures, summary, slider = explore(client)
    sizes = []
    for path in pictures:
        image = Image.open(path)
        assert image.format == "JPEG"  # small and quick to write; quality 92, full colour
        pixels = np.asarray(image.convert("RGB"))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # a drawing, not a blank
        sizes.append(image.size)
    assert len(set(sizes)) == 4  # grid, weights, location, context: four different figures
    assert "selected      #19 aux" in summary
    assert "output        1272x720" in summary
    assert "canvas        1280x720" in summary  # padded to whole tokens, as the model runs it
    assert "27 model evaluations per denoising step" in summary
    assert "PFLOP" in summary  # the estimate of the model's work
    assert "Wan2.1 1.3B" in summary and "mini" in summary  # whose costs, and what mini's are
    assert slider["maximum"] == 26 and slider["value"] == 19


def test_explore_takes_an_output_size_and_clamps_the_patch_index(client):
    *_, summary, slider = explore(client, size="640x360", patch="128", scheme="tiles", index=20)
    assert "output        640x360" in summary
    assert slider["value"] == slider["maximum"]  # the last patch of the smaller plan


def test_explore_reports_bad_settings_as_an_error_message(client):
    with pytest.raises(AppError, match="no frames"):
        explore(client, frame=500)
    with pytest.raises(AppError, match="WIDTHxHEIGHT"):
        explore(client, size="huge")
    with pytest.raises(AppError, match="bigger than the whole"):
        explore(client, size="200x100", patch="512")


def test_bad_uploads_get_a_readable_message_and_the_server_goes_on(client, bad_inputs):
    with pytest.raises(AppError, match="Please upload a file that is one of these formats"):
        explore(client, path=bad_inputs["text"])  # refused by its extension
    with pytest.raises(AppError, match="cannot read fake.mp4") as err:
        explore(client, path=bad_inputs["fake"])  # refused by its content
    assert "/tmp" not in str(err.value)  # the server's upload path is not shown
    with pytest.raises(AppError, match=r"long.mp4 is 6.0 s long.*up to 5 s"):
        explore(client, path=bad_inputs["long"], frame=0)
    with pytest.raises(AppError, match=r"large.png is 800x600.*up to 640x480"):
        explore(client, path=bad_inputs["large"], frame=0)
    *_, summary, _ = explore(client)  # and the next request is served as usual
    assert "output        1272x720" in summary


def fetch(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_app_py_serves_the_page_on_the_port_from_the_environment(tmp_path):
    port = free_port()
    env = {
        **ENV,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "PATCHVSR_OUTPUT_DIR": str(tmp_path),
    }
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("app.py did not start listening within 90 s")
        url = f"http://127.0.0.1:{port}/"
        config = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
        assert {"/explore", "/upscale"} <= set(config["named_endpoints"])
        # Files are served from the example folder only (and the job folders), not from the
        # working tree.
        assert fetch(f"{url}gradio_api/file={CLIP}") == 200
        assert fetch(f"{url}gradio_api/file={ROOT / 'README.md'}") == 403
        assert fetch(f"{url}gradio_api/file={ROOT / 'app.py'}") == 403
    finally:
        process.terminate()
        process.wait(timeout=30)
