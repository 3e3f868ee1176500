"""The demo page: the clip and the output size on the left, the Explore and Upscale tabs on
the right. Layout and wiring only; `build()` returns the Blocks, `launch_options()` what
`launch()` needs (theme, and the only folders the server may serve files from)."""

from __future__ import annotations

import logging
import threading
from types import SimpleNamespace

import gradio as gr

from demo import explore, upscale
from patchvsr.serve.config import DemoSettings

logger = logging.getLogger(__name__)

# As text: the API shows a dropdown's choices as strings, so it takes them as strings too.
PATCH_SIZES = ["64", "128", "192", "256", "384", "512", "768", "1024"]

INTRO = """# PatchVSR
Video super-resolution **patch by patch** with a video diffusion model trained at a fixed size
([CVPR 2025](https://arxiv.org/abs/2509.26025)). The upscaled frame is cut into base patches of
the model's size, auxiliary patches sit on every seam, and all predictions are blended at every
denoising step; each patch also sees a small **global view** of the whole clip with its region
marked, and an encoding of **where** it lies. Pick a clip and an output size, look at the patches
in **Explore** (instant, no model), then run a model on a few frames in **Upscale**.
"""


CSS = """
#intro { margin-bottom: 0.25rem; }
#clip-info p { margin: 0; }
.caption p { margin: 0.25rem 0; font-size: 0.95rem; }
#explore-note p, #status p { margin: 0; }
"""


def shared_column() -> SimpleNamespace:
    """The clip, the frame and the output size: both tabs read them."""
    ui = SimpleNamespace()
    ui.clip = gr.File(
        value=str(explore.EXAMPLES[0]) if explore.EXAMPLES else None,
        label="Video or image",
        file_types=["video", "image"],
        elem_id="clip",
    )
    if explore.EXAMPLES:
        gr.Examples([[str(p)] for p in explore.EXAMPLES], inputs=[ui.clip], label="Example clips")
    ui.info = gr.Markdown(elem_id="clip-info")
    # Gradio checks an API call's value against a slider's *initial* range, so the range
    # starts wide; the clip narrows it on load.
    ui.frame = gr.Slider(0, 9999, value=0, step=1, label="Frame")
    ui.scale = gr.Slider(1, 8, value=4, step=0.5, label="Scale", elem_id="scale")
    ui.preset = gr.Radio(
        list(explore.PRESETS), value="scale", label="Output size", elem_id="preset"
    )
    ui.size = gr.Textbox(
        label="Output size WxH (overrides the scale; Enter to apply)",
        placeholder="e.g. 3840x2160",
        elem_id="size",
    )
    ui.patch = gr.Dropdown(
        PATCH_SIZES,
        value="256",
        label="Patch size in Explore (output pixels)",
        info="The 1.3B model's patch is 512; smaller shows more patches. Upscale uses the "
        "model's own.",
    )
    return ui


UPLOAD_KEEP = 1800  # seconds: longer than a wait behind a full queue (`queue_size` jobs)


def build(settings: DemoSettings | None = None) -> gr.Blocks:
    settings = settings or DemoSettings.from_env()
    upscale_tab = upscale.UpscaleTab(settings)
    explore_tab = explore.ExploreTab(settings.limits, upscale_tab.idle_status())
    # Gradio's own copies of served files are dropped after the same age as the job folders,
    # but never sooner than UPLOAD_KEEP: an upload must outlive its job's wait in the queue
    # (at a job folder age of 60 s, uploads went while their jobs waited).
    age = int(settings.max_age)
    keep = max(age, UPLOAD_KEEP)
    with gr.Blocks(title="PatchVSR", delete_cache=(max(60, age // 4), keep)) as demo:
        gr.Markdown(INTRO, elem_id="intro")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                shared = shared_column()
            with gr.Column(scale=3):
                with gr.Tabs():
                    with gr.Tab("Explore", id="explore"):
                        explore_ui = explore.layout()
                    with gr.Tab("Upscale", id="upscale"):
                        upscale_ui = upscale.layout(settings)
                        # Inside the tab: the wiring adds the tab's example.
                        demo.upscale_example = upscale.wire(
                            upscale_tab, shared, explore_ui, upscale_ui, settings
                        )
        shared.status = upscale_ui.status  # the clip's problems are said there too
        explore.wire(explore_tab, shared, explore_ui, demo)
    demo.queue(max_size=settings.queue_size)
    return demo


def cache_example_in_background(demo: gr.Blocks) -> threading.Thread | None:
    """Compute the Upscale tab's example now, in a thread, the way a visitor's first click
    would (Gradio's lazy cache, under its lock): the first visitor finds it done. None when
    the page has no such example (a baseline as the default model)."""
    examples = getattr(demo, "upscale_example", None)
    if examples is None:
        return None

    def run() -> None:
        try:
            examples.load_from_cache(0)
        except Exception:  # a visitor's click tries again and shows what went wrong
            logger.exception("computing the example failed")

    thread = threading.Thread(target=run, name="example-cache", daemon=True)
    thread.start()
    return thread


def launch_options(settings: DemoSettings) -> dict:
    """Keyword arguments for `demo.launch()`: files are served only from the example folder
    and the job folders (plus Gradio's own upload cache), and uploads are limited in size."""
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    return {
        "allowed_paths": [str(explore.EXAMPLES_DIR), str(settings.output_dir)],
        "max_file_size": settings.max_upload_bytes,
        "theme": gr.themes.Soft(primary_hue="amber", secondary_hue="sky"),
        "css": CSS,
    }
