"""The explorer page, served for real on a loopback port and called the way a client would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "assets" / "examples" / "dove_002.mp4"  # 318x180, 32 frames


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from demo.explore import build

    demo = build()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture
def client(server):
    # A session of its own: the server remembers each session's slider ranges and checks
    # later calls against them.
    return Client(server, verbose=False)


def explore(client, path=CLIP, frame=3, scale=4, size="", patch=256, scheme="paper", index=19):
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
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # a drawing, not a blank
        sizes.append(image.size)
    assert len(set(sizes)) == 4  # grid, weights, location, context: four different figures
    assert "output        1272x720" in summary
    assert "21 model evaluations per denoising step" in summary
    assert slider["maximum"] == 20 and slider["value"] == 19


def test_explore_takes_an_output_size_and_clamps_the_patch_index(client):
    *_, summary, slider = explore(client, size="640x360", patch=128, scheme="tiles", index=20)
    assert "output        640x360" in summary
    assert slider["value"] == slider["maximum"]  # the last patch of the smaller plan


def test_explore_reports_bad_input_as_an_error_message(client):
    with pytest.raises(AppError, match="no frames"):
        explore(client, frame=500)
    with pytest.raises(AppError, match="WIDTHxHEIGHT"):
        explore(client, size="huge")
    with pytest.raises(AppError, match="bigger than the whole"):
        explore(client, size="200x100", patch=512)


def test_app_py_serves_the_page_on_the_port_from_the_environment():
    port = free_port()
    env = {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
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
        config = Client(f"http://127.0.0.1:{port}/", verbose=False).view_api(
            print_info=False, return_format="dict"
        )
        assert "/explore" in config["named_endpoints"]
    finally:
        process.terminate()
        process.wait(timeout=30)
