"""The Upscale tab: run a model on a few frames of the clip and compare with bicubic.

Layout and wiring only: the job (limits, job folder, progress, cancelling, comparison) is
`patchvsr.serve`. The handler is a coroutine that polls the job's thread, so the page's
progress bar follows the pipeline's own progress and Cancel stops the job at its next
denoising step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from demo.explore import EXAMPLES, user_error
from patchvsr.errors import PatchVSRError
from patchvsr.request import parse_size
from patchvsr.serve import explore, training_free
from patchvsr.serve.background import BackgroundJob
from patchvsr.serve.config import DemoSettings
from patchvsr.serve.jobs import DemoRequest, DemoResult, check_request, run_request
from patchvsr.serve.progress import ForwardProgress
from patchvsr.video.upscalers import BASELINES

try:  # Hugging Face Spaces: a GPU is lent for each call of a function marked `spaces.GPU`
    import spaces
except ImportError:
    spaces = None

logger = logging.getLogger(__name__)
GPU_SECONDS = 300


def on_gpu(fn):
    """`spaces.GPU` where the `spaces` package is present (ZeroGPU hardware), else as is."""
    return spaces.GPU(duration=GPU_SECONDS)(fn) if spaces is not None else fn


@on_gpu
def run_on_device(checked, root: Path, report, max_age: float) -> DemoResult:
    return run_request(checked, root, report, max_age)


ZOOM_CHOICES = ["the most detailed region", "the patch chosen in Explore"]
STEPS_HELP = (
    "How many times the model refines the picture. 0: the model's own choice. PatchVSR-mini "
    "is made to finish in one; more makes it slower and often less faithful."
)
STRENGTH_HELP = (
    "How far the model may move away from the plain enlargement. 0: the model's own choice; "
    "low keeps the picture close to the input, high lets the model invent more detail."
)
DENOISE_HELP = (
    "0: the most detail (clean sources). 1: no noise, grain or codec blocks. Auto: 0.25, "
    "steadies flicker, adds no grain to flat areas; raise it for grainy clips."
)
RESULT_CAPTION = (
    "Above, left of each divider: the plain enlargement (bicubic); right: the model. The zoom "
    "shows output pixels one to one. **Side by side** below: bicubic left, the model right; "
    "both play in a loop."
)


class UpscaleTab:
    """Callbacks of the tab, with the server's settings (models, limits, output folder)."""

    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings

    def idle_status(self) -> str:
        return (
            "Upscales the chosen frames at the size set on the left. This server takes "
            f"{self.settings.limits.describe()}."
        )

    async def upscale(
        self, clip, frame, scale, size, patch, scheme, overlap, index,
        model, frames, steps, strength, seed, colour, denoise_auto, denoise, zoom,
        progress=gr.Progress(),  # noqa: B008
    ):  # fmt: skip
        """Upscale `frames` frames of the clip from `frame` on; returns the status, the chosen
        frame as (bicubic, result), the result video, the comparison video, the file to
        download, the zoomed crops and the 1:1 zoom as (bicubic, result). Raises gr.Error."""
        if not clip:
            raise gr.Error("No clip: pick the example or upload a video or an image.")
        try:
            request = DemoRequest(
                input=Path(clip),
                model=model,
                start=int(frame),
                frames=int(frames),
                scale=float(scale),
                size=parse_size(size) if size and size.strip() else None,
                steps=int(steps),
                strength=float(strength),
                seed=int(seed),
                colour=bool(colour),
                denoise=None if denoise_auto else float(denoise),
            )
            checked = check_request(request, self.settings.limits)
        except PatchVSRError as err:
            raise user_error(err, clip) from None
        if zoom == ZOOM_CHOICES[1]:
            crop, label = explore.crop_of(checked.out_size, patch, scheme, overlap, index)
            request = dataclasses.replace(request, crop=crop, crop_label=label)
            checked = dataclasses.replace(checked, request=request)

        settings = self.settings
        job = BackgroundJob(
            lambda report: run_on_device(checked, settings.output_dir, report, settings.max_age)
        ).start()
        shown = ForwardProgress()
        try:
            while not job.done:
                progress(*shown.update(*job.progress))
                await asyncio.sleep(0.2)
        except asyncio.CancelledError:  # the page's Cancel, or the client went away
            job.cancel()
            raise
        try:
            result: DemoResult = job.result()
        except PatchVSRError as err:
            raise user_error(err, clip) from None
        except Exception as err:
            logger.exception("upscaling failed")
            first_line = (str(err).strip().splitlines() or [""])[0]
            raise gr.Error(f"upscaling failed: {type(err).__name__}: {first_line}") from None
        status = "\n".join([f"**Done.** {result.summary}"] + [f"- {n}" for n in result.notes])
        video = str(result.video) if result.is_video else None
        compare = str(result.compare) if result.is_video else None
        pair = (str(result.before), str(result.after))
        zoomed = (str(result.zoom_before), str(result.zoom_after))
        return status, pair, video, compare, str(result.video), str(result.crops), zoomed

    async def page_upscale(self, *args, progress=gr.Progress()):  # noqa: B008
        """The page's Upscale button: a problem goes to the status line and stays there (a
        raised error fades and leaves bare "Error" badges); the other outputs are kept."""
        try:
            return await self.upscale(*args, progress=progress)
        except gr.Error as err:
            return f"**Cannot upscale:** {err.message}", *[gr.skip()] * 6

    async def upscale_example(self, clip, model, scale, frames):
        """The cached example: the default settings for the rest."""
        return await self.upscale(
            clip, 0, scale, "", "256", "paper", 0.25, -1, model, frames, 0, 0, 0, True,
            True, 0.5, ZOOM_CHOICES[0],
        )  # fmt: skip


def layout(settings: DemoSettings) -> SimpleNamespace:
    """The tab's components (inside a `gr.Tab`)."""
    limits = settings.limits
    ui = SimpleNamespace()
    with gr.Row():
        ui.model = gr.Dropdown(
            settings.models,
            value=settings.default_model,
            label="Model",
            info=training_free.model_choice_info(settings.models),
            scale=2,
        )
        with gr.Column(scale=2, min_width=220):
            ui.denoise = gr.Slider(
                0,
                1,
                value=0.5,
                step=0.05,
                label="Denoise",
                info=DENOISE_HELP,
                interactive=False,  # until "auto" is unticked
                elem_id="denoise",
            )
            ui.denoise_auto = gr.Checkbox(
                value=True, label="auto (estimate from the clip)", elem_id="denoise-auto"
            )
        ui.frames = gr.Slider(
            1,
            limits.max_frames,
            value=min(8 if settings.cuda else 4, limits.max_frames),
            step=1,
            label="Frames",
            info="How many frames to upscale, from the chosen frame on.",
            scale=2,
            elem_id="frames",
        )
    with gr.Accordion("More settings", open=False):
        with gr.Row():
            ui.steps = gr.Slider(
                0, 50, value=0, step=1, label="Steps", info=STEPS_HELP, elem_id="steps"
            )
            ui.strength = gr.Slider(0, 1, value=0, step=0.05, label="Strength", info=STRENGTH_HELP)
            ui.zoom = gr.Radio(
                ZOOM_CHOICES,
                value=ZOOM_CHOICES[0],
                label="Zoom into",
                info="Where the zoomed views below look.",
                elem_id="zoom",
            )
        with gr.Row(equal_height=True):
            ui.seed = gr.Number(0, precision=0, label="Seed", minimum=0)
            ui.colour = gr.Checkbox(
                value=True, label="Colour correction (keep the input's colours)"
            )
    with gr.Row(equal_height=True):
        ui.run = gr.Button("Upscale", variant="primary", scale=2, elem_id="upscale")
        ui.cancel = gr.Button("Cancel", variant="stop", scale=1, elem_id="cancel")
    ui.status = gr.Markdown(
        UpscaleTab(settings).idle_status(), elem_id="status", container=True, min_height=48
    )
    with gr.Row(equal_height=True):
        ui.zoomed = gr.ImageSlider(
            label="Zoom 1:1: bicubic | model",
            type="filepath",
            interactive=False,
            scale=1,
            elem_id="zoom-slider",
        )
        ui.slider = gr.ImageSlider(
            label="Whole frame: bicubic | model (drag the divider)",
            type="filepath",
            interactive=False,
            max_height=600,
            scale=2,
            elem_id="slider",
        )
    gr.Markdown(RESULT_CAPTION)
    with gr.Row(equal_height=True):
        ui.video = gr.Video(
            label="Upscaled video",
            show_label=False,
            interactive=False,
            autoplay=True,
            loop=True,
            scale=1,
            elem_id="result-video",
        )
        ui.compare = gr.Video(
            label="Bicubic | result, side by side",
            show_label=False,
            interactive=False,
            autoplay=True,
            loop=True,
            scale=2,
            elem_id="compare-video",
        )
    ui.download = gr.DownloadButton("Download the result", elem_id="download")
    ui.crops = gr.Image(  # the figure's title says what is zoomed
        label="Zoomed crops",
        show_label=False,
        format="png",
        interactive=False,
        height=560,
        elem_id="crops",
    )
    # The API's endpoint: a button nobody sees (see `page_upscale`).
    ui.api = gr.Button(visible=False)
    return ui


# Browsers play a video by themselves only when it is muted; the results have no sound worth
# hearing in a comparison.
PLAY_MUTED = """() => {
  for (const video of document.querySelectorAll("#result-video video, #compare-video video")) {
    video.muted = true; video.loop = true; video.play().catch(() => {});
  }
}"""


def wire(tab: UpscaleTab, shared: SimpleNamespace, explore: SimpleNamespace, ui, settings):
    """Connect the tab; returns its cached example (None without one)."""
    inputs = [
        shared.clip,
        shared.frame,
        shared.scale,
        shared.size,
        shared.patch,
        explore.scheme,
        explore.overlap,
        explore.index,
        ui.model,
        ui.frames,
        ui.steps,
        ui.strength,
        ui.seed,
        ui.colour,
        ui.denoise_auto,
        ui.denoise,
        ui.zoom,
    ]
    outputs = [ui.status, ui.slider, ui.video, ui.compare, ui.download, ui.crops, ui.zoomed]
    # One job at a time: the model holds the device (background.DEVICE_LOCK backs this up while
    # a cancelled job finishes its step).
    device = {"concurrency_limit": 1, "concurrency_id": "device"}
    ui.api.click(tab.upscale, inputs, outputs, api_name="upscale", **device)
    run = ui.run.click(
        tab.page_upscale,
        inputs,
        outputs,
        api_visibility="private",
        show_progress_on=[ui.status],
        **device,
    )
    run.then(None, js=PLAY_MUTED)
    ui.cancel.click(lambda: "Cancelled.", None, ui.status, cancels=[run], api_visibility="private")
    ui.denoise_auto.change(
        lambda auto: gr.update(interactive=not auto),
        ui.denoise_auto,
        ui.denoise,
        api_visibility="private",
        show_progress="hidden",
    )
    if EXAMPLES and settings.default_model not in BASELINES:
        return gr.Examples(
            [[str(EXAMPLES[0]), settings.default_model, 2, min(4, settings.limits.max_frames)]],
            inputs=[shared.clip, ui.model, shared.scale, ui.frames],
            outputs=outputs,
            fn=tab.upscale_example,
            cache_examples=True,
            cache_mode="lazy",
            label="Example (computed once, then shown from the cache)",
            api_visibility="private",
        )
    return None
