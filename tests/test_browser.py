"""The demo page in a real browser (Debian's Chromium through Playwright): it loads, a click on
the grid selects a patch, a bad upload leaves a readable message and no bare "Error" badge,
an uploaded clip is upscaled to the end with progress that only moves forward, and the image
sliders and the looping videos appear. Screenshots are saved in tests/artifacts/ for a
person to look at."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from app_server import serving, write_small_clip

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ENV = {"PATCHVSR_DEMO_MODEL": "tiny", "PATCHVSR_MAX_FRAMES": "8"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serving(ENV, tmp_path_factory.mktemp("outputs")) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} is absent (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(90_000)
        page.goto(server)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    return write_small_clip(tmp_path_factory.mktemp("clips") / "small.mp4", 4)


def plan_text(page) -> str:
    return page.locator("#plan").inner_text()


def test_the_page_loads_and_a_click_on_the_grid_selects_a_patch(page):
    from playwright.sync_api import expect

    page.wait_for_selector("#grid img")
    expect(page).to_have_title("PatchVSR")
    expect(page.locator("#plan")).to_contain_text("selected")
    # The default selection is the seam patch nearest the centre (it shows the blending).
    default = re.search(r"selected\s+(#\d+) (\w+)", plan_text(page))
    assert default is not None and default.group(2) == "aux", plan_text(page)
    # Click a quarter of the way into the picture, a third of the way down: inside the frame,
    # away from the centre patch.
    image = page.locator("#grid img")
    box = image.bounding_box()
    image.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.33})
    expect(page.locator("#plan")).not_to_contain_text(
        re.compile(rf"selected\s+{default.group(1)} "), timeout=60_000
    )
    selected = re.search(r"selected\s+#(\d+)", plan_text(page))
    assert selected is not None and f"#{selected.group(1)}" != default.group(1)
    index = page.locator("#patch-index input[type=number]")
    expect(index).to_have_value(selected.group(1))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_explore.png"), full_page=True)


def bare_error_badges(page) -> int:
    """Gradio's "Error" badges over components (its status tracker's `span.error`; toasts
    are not counted)."""
    return page.locator("span.error:visible", has_text="Error").count()


def test_a_bad_upload_leaves_a_readable_message_until_the_example_is_chosen(page, tmp_path):
    from playwright.sync_api import expect

    fake = tmp_path / "notavideo.mp4"
    fake.write_text("this is a text file, not a video\n")
    page.locator("#clip button[aria-label=Clear]").click()
    page.locator("#clip input[type=file]").set_input_files(str(fake))
    message = re.compile(r"This file cannot be used:.*cannot read notavideo\.mp4")
    expect(page.locator("#clip-info")).to_contain_text(message)
    page.wait_for_timeout(6000)  # longer than a toast stays
    expect(page.locator("#clip-info")).to_contain_text(message)  # it stays
    assert bare_error_badges(page) == 0
    page.get_by_role("tab", name="Upscale").click()
    expect(page.locator("#status")).to_contain_text(message)
    # Upscale with the bad file: the status line says why, still no badge.
    page.locator("#upscale").click()
    expect(page.locator("#status")).to_contain_text(
        re.compile(r"Cannot upscale:.*notavideo\.mp4"), timeout=60_000
    )
    assert bare_error_badges(page) == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_bad_upload.png"), full_page=True)
    # Choosing the example clears the message.
    page.get_by_role("tab", name="Explore").click()
    page.locator("#clip button[aria-label=Clear]").click()
    page.get_by_text("dove_002.mp4").first.click()
    expect(page.locator("#clip-info")).to_contain_text("dove_002.mp4: 318x180, 32 frames, 16 fps")
    expect(page.locator("#plan")).to_contain_text("selected", timeout=60_000)
    page.get_by_role("tab", name="Upscale").click()
    expect(page.locator("#status")).to_contain_text("This server takes")
    expect(page.locator("#status")).not_to_contain_text("cannot")
    assert bare_error_badges(page) == 0


def test_an_upscale_runs_to_the_end_and_shows_the_slider_and_the_videos(page, small_clip):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Explore").click()
    page.locator("#clip button[aria-label=Clear]").click()
    page.locator("#clip input[type=file]").set_input_files(str(small_clip))
    expect(page.locator("#clip-info")).to_contain_text("small.mp4: 96x54, 4 frames")
    page.get_by_role("tab", name="Upscale").click()
    page.get_by_text("More settings").click()
    for name, value in (("frames", "2"), ("steps", "3")):
        field = page.locator(f"#{name} input[type=number]")
        field.fill(value)
        field.press("Enter")
    page.locator("#upscale").click()
    # One status line follows the pipeline's own reports, and its bar only moves forward.
    seen = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        text = page.locator("#status").inner_text()
        seen.append(text)
        if "Done." in text:
            break
        page.wait_for_timeout(100)
    progress = [float(m.group(1)) for t in seen if (m := re.search(r"(\d+(?:\.\d+)?)%", t))]
    assert any(re.search(r"tiny: (starting|step \d+/3)", t) for t in seen), seen
    assert progress == sorted(progress), progress
    assert page.locator("#slider .progress-text, #slider .eta-bar").count() == 0
    expect(page.locator("#status")).to_contain_text("Done.", timeout=180_000)
    expect(page.locator("#status")).to_contain_text(
        "tiny: frames 0-1 of small.mp4, 96x54 -> 384x216"
    )
    expect(page.locator("#slider img")).to_have_count(2)
    for video in ("#result-video video", "#compare-video video"):
        expect(page.locator(video)).to_have_attribute("src", re.compile(r"\.mp4"))
        # Short results loop, muted, by themselves: a 2-frame video is over in 0.1 s.
        element = page.locator(video)
        expect(element).to_have_js_property("loop", True)
        expect(element).to_have_js_property("muted", True)
    expect(page.locator("#zoom-slider img")).to_have_count(2)
    expect(page.locator("#crops img")).to_be_visible()
    expect(page.locator("#download")).to_be_enabled()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser_upscale.png"), full_page=True)
