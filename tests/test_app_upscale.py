"""The Upscale tab through its API, on a real server: results, bad input, cancelling, and the
real default model where it is installed.

Jobs run the `tiny` model (`PATCHVSR_DEMO_MODEL=tiny`: random weights, every code path of the
real model) on a small real clip, the example scaled down to 96x54, so each takes seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from app_server import CLIP, LIMITS, serve, serving, write_small_clip
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from patchvsr import viz
from patchvsr.io.probe import probe
from patchvsr.io.reader import read_frames
from patchvsr.io.writer import VideoWriter
from patchvsr.serve import jobs
from patchvsr.serve.config import DemoSettings, mini_installed

pytestmark = pytest.mark.slow  # every test drives a real demo server

ENV = LIMITS


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def server(outputs):
    with serving(ENV, outputs) as url:
        yield url


@pytest.fixture
def client(server):
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    return write_small_clip(tmp_path_factory.mktemp("clips") / "small.mp4", 8)


def upscale(
    client,
    clip,
    *,
    frame=0,
    scale=2,
    size="",
    model="tiny",
    frames=3,
    steps=2,
    strength=0,
    seed=0,
    denoise=None,
    zoom="the patch chosen in Explore",
    submit=False,
):
    args = (
        handle_file(str(clip)),
        frame,
        scale,
        size,
        "64",  # patch size and scheme of the Explore tab: the zoomed crop is one of its patches
        "paper",
        0.25,
        1,
        model,
        frames,
        steps,
        strength,
        seed,
        True,
        denoise is None,  # auto
        0.5 if denoise is None else denoise,
        zoom,
    )
    if submit:
        return client.submit(*args, api_name="/upscale")
    return client.predict(*args, api_name="/upscale")


def job_folders(outputs: Path) -> list[Path]:
    return sorted(outputs.glob("job-*"))


def test_upscale_returns_the_frame_pair_the_videos_and_the_crops(client, small_clip):
    status, pair, video, compare, download, crops, zoomed = upscale(client, small_clip, frame=2)
    assert status.startswith("**Done.** tiny: frames 2-4 of small.mp4, 96x54 -> 192x108")
    before, after = (np.asarray(Image.open(p).convert("RGB")) for p in pair)
    assert before.shape == after.shape == (108, 192, 3)
    assert not np.array_equal(before, after)  # the model's frame, not the bicubic one
    result = probe(video)
    assert (result.width, result.height, result.num_frames) == (192, 108, 3)
    assert result.fps == pytest.approx(16)
    side = probe(compare)
    assert (side.width, side.height, side.num_frames) == (384, 108, 3)
    assert Path(download).read_bytes() == Path(video).read_bytes()
    figure = Image.open(crops)
    assert figure.format == "PNG" and figure.size[0] > 500
    # The bicubic frame is frame 2 of the clip, upscaled.
    expected = viz.resize_rgb(read_frames(small_clip, 2, 1)[0], (108, 192))
    assert np.abs(before.astype(int) - expected.astype(int)).mean() < 2
    # The 1:1 zoom is a piece of each frame at its own pixels (this frame is smaller than
    # the zoom, so the whole of it).
    zoom_before, zoom_after = (np.asarray(Image.open(p).convert("RGB")) for p in zoomed)
    assert np.array_equal(zoom_before, before) and np.array_equal(zoom_after, after)


def is_piece_of(piece: np.ndarray, image: np.ndarray) -> bool:
    first = piece[0].tobytes()
    for y in range(image.shape[0] - piece.shape[0] + 1):
        at = image[y].tobytes().find(first)
        if at >= 0 and at % 3 == 0:
            x = at // 3
            if np.array_equal(image[y : y + piece.shape[0], x : x + piece.shape[1]], piece):
                return True
    return False


def test_the_zoom_shows_the_chosen_patch_or_the_most_detailed_region(client, tmp_path):
    """At x4 of the example (1272x720) the zoom is a 480x480 piece of the frame: around
    Explore's patch 1 when asked, else around the most detailed region."""
    clip = tmp_path / "example.mp4"
    with VideoWriter(clip, 318, 180, rate=16) as writer:
        writer.write(read_frames(CLIP, 0, 1)[0])
    results = {}
    for zoom in ("the patch chosen in Explore", "the most detailed region"):
        _, pair, _, _, _, _, zoomed = upscale(
            client, clip, model="bicubic", scale=4, frames=1, zoom=zoom
        )
        results[zoom] = np.asarray(Image.open(zoomed[1]).convert("RGB"))
        frame = np.asarray(Image.open(pair[1]).convert("RGB"))
        assert results[zoom].shape == (480, 480, 3)
        assert is_piece_of(results[zoom], frame), zoom  # a piece of the frame, unscaled
    assert not np.array_equal(*results.values())  # two different regions


def test_the_demos_denoise_slider_reaches_the_pipeline(client, small_clip, monkeypatch):
    """The slider's value, or None for "auto", is what the model's upscaler is made with.
    (Needs `PatchVSRUpscaler(..., denoise=)`, added beside the pipeline's denoise control.)"""
    made = []

    class Recording(jobs.PatchVSRUpscaler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(kwargs)

    monkeypatch.setattr(jobs, "PatchVSRUpscaler", Recording)
    for denoise in (0.7, None):
        status, *_ = upscale(client, small_clip, frames=1, steps=1, denoise=denoise)
        assert status.startswith("**Done.**")
        assert made[-1]["denoise"] == denoise


def test_an_image_upscales_to_png_results(client, tmp_path):
    image = tmp_path / "still.png"
    Image.fromarray(read_frames(CLIP, 5, 1)[0]).save(image)
    status, pair, video, compare, download, crops, _ = upscale(
        client, image, scale=1.5, model="lanczos", frames=1
    )
    assert "lanczos: frame 0 of still.png, 318x180 -> 477x270" in status
    assert video is None and compare is None  # no video players for a still image
    assert Image.open(download).size == (477, 270)
    assert all(Image.open(p).size == (477, 270) for p in pair)


@pytest.mark.parametrize(
    "case, kwargs, message",
    [
        ("impossible size", {"size": "0x100"}, "must be positive"),
        ("unreadable size", {"size": "big"}, "WIDTHxHEIGHT"),
        ("too large an output", {"size": "3840x2160"}, r"3840x2160 is too large.*1280x720"),
        ("too large a scale", {"scale": 8, "frames": 1}, None),
        ("a frame past the end", {"frame": 40}, "frame 40 is not in small.mp4"),
    ],
)
def test_impossible_requests_get_a_readable_message(client, small_clip, case, kwargs, message):
    if message is None:  # 96x54 x8 = 768x432 is allowed: no error
        status, *_ = upscale(client, small_clip, **{"model": "bicubic", **kwargs})
        assert "768x432" in status
        return
    with pytest.raises(AppError, match=message):
        upscale(client, small_clip, **kwargs)


def test_bad_uploads_get_a_readable_message_and_the_server_goes_on(client, small_clip, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    with pytest.raises(AppError, match="Please upload a file that is one of these formats"):
        upscale(client, text)  # refused by its extension
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video either")
    with pytest.raises(AppError, match="cannot read fake.mp4") as err:
        upscale(client, fake)  # refused by its content
    assert "/tmp" not in str(err.value)  # the server's upload path is not shown
    long_clip = tmp_path / "long.mp4"
    with VideoWriter(long_clip, 32, 32, rate=8) as writer:
        for i in range(48):
            writer.write(np.full((32, 32, 3), 5 * i, np.uint8))
    with pytest.raises(AppError, match=r"long.mp4 is 6.0 s long.*PATCHVSR_MAX_SECONDS"):
        upscale(client, long_clip)
    large = tmp_path / "large.png"
    Image.new("RGB", (800, 600)).save(large)
    with pytest.raises(AppError, match=r"large.png is 800x600.*PATCHVSR_MAX_INPUT"):
        upscale(client, large, frames=1)
    status, *_ = upscale(client, small_clip, model="bicubic")
    assert status.startswith("**Done.**")


def test_cancelling_stops_the_job_and_frees_the_server(client, small_clip, outputs):
    before = job_folders(outputs)
    job = upscale(client, small_clip, frames=8, steps=40, submit=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        progress = job.status().progress_data or []
        if any("step" in (unit.desc or "") for unit in progress):
            break
        assert not job.done(), "the job ended before it could be cancelled"
        time.sleep(0.2)
    else:
        pytest.fail("the job reported no denoising step within 120 s")
    job.cancel()
    deadline = time.monotonic() + 60
    while job_folders(outputs) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_folders(outputs) == before  # the cancelled job's folder is gone
    status, *_ = upscale(client, small_clip, frames=1, steps=1)  # the next job runs
    assert status.startswith("**Done.**")


@pytest.mark.skipif(not mini_installed(), reason="the mini model is not installed")
def test_the_default_model_upscales_the_example(tmp_path):
    settings = DemoSettings.from_env({"PATCHVSR_OUTPUT_DIR": str(tmp_path)})
    assert settings.default_model == "mini"
    demo, url = serve(settings)
    try:
        client = Client(url, verbose=False)
        status, pair, video, compare, download, crops, _ = upscale(
            client, CLIP, model="mini", scale=2, frames=2, steps=0
        )
        assert status.startswith("**Done.** mini: frames 0-1 of dove_002.mp4")
        result = probe(video)
        assert (result.width, result.height, result.num_frames) == (636, 360, 2)
        assert probe(compare).width == 1272
    finally:
        demo.close()
