"""The explorer page: how PatchVSR cuts a clip into patches and what each patch is told.

Layout and wiring only; every picture and number comes from `patchvsr` (the same functions
as `python -m patchvsr plan` and `viz`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import gradio as gr
import numpy as np

from patchvsr import viz
from patchvsr.commands.plan import input_size, make_plan, output_size, parse_size, plan_report
from patchvsr.errors import PatchVSRError
from patchvsr.grid import SCHEMES, WEIGHT_MODES
from patchvsr.video import probe, read_frame

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
EXAMPLES = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix in (".mp4", ".png", ".jpg"))
PATCH_SIZES = [64, 128, 192, 256, 384, 512, 768, 1024]

INTRO = """# PatchVSR explorer
PatchVSR upscales a video **patch by patch** with a video diffusion model trained at a fixed
size: base patches tile the output, auxiliary patches sit on every seam, and all predictions are
blended with weight maps at every denoising step. Each patch also sees a small **global view**
of the whole clip with its region marked, and an encoding of **where** it lies.
Pick the example or upload a clip or image, then choose the output size and the patch to look at.
"""


@lru_cache(maxsize=16)
def _frame(path: str, index: int) -> np.ndarray:
    return read_frame(path, index)


def clip_changed(path: str | None):
    """New clip: the frame slider's range and a one-line description."""
    if not path:
        return gr.update(value=0, visible=False), "no clip"
    try:
        info = probe(path)
    except PatchVSRError as err:
        raise gr.Error(str(err)) from None
    text = f"{Path(path).name}: {info.width}x{info.height}, {info.num_frames} frame(s)"
    # A slider needs max > min: a single image hides it instead.
    frames = gr.update(maximum=max(1, info.num_frames - 1), value=0, visible=info.num_frames > 1)
    return frames, text


def explore(path, frame, scale, size, patch, scheme, overlap, weights, index):
    """The four pictures and the plan summary for one patch (index -1: a default patch)."""
    if not path:  # the clip was cleared: clear the pictures, keep the controls
        return None, None, None, None, "", gr.update()
    try:
        in_size = input_size(path)
        out_size = output_size(in_size, float(scale), parse_size(size) if size.strip() else None)
        plan = make_plan(out_size, int(patch), scheme, overlap if scheme == "sliding" else None)
        image = _frame(path, int(frame))
    except PatchVSRError as err:
        raise gr.Error(str(err)) from None
    index = viz.default_patch_index(plan) if index < 0 else min(int(index), len(plan.patches) - 1)
    figures = viz.figure_set(image, plan, index, weights)
    pictures = [viz.figure_to_array(figures[k]) for k in ("grid", "weights", "location", "context")]
    slider = gr.update(maximum=max(1, len(plan.patches) - 1), value=index)
    return *pictures, plan_report(plan, in_size), slider


def explore_default_patch(path, frame, scale, size, patch, scheme, overlap, weights):
    """After a change of plan the old index means another patch: show the default one."""
    return explore(path, frame, scale, size, patch, scheme, overlap, weights, -1)


def build() -> gr.Blocks:
    with gr.Blocks(title="PatchVSR explorer") as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                clip = gr.File(
                    value=str(EXAMPLES[0]) if EXAMPLES else None,
                    label="Video or image",
                    file_types=["video", "image"],
                )
                if EXAMPLES:
                    gr.Examples([[str(p)] for p in EXAMPLES], inputs=[clip], label="Example")
                info = gr.Markdown()
                # Gradio checks an API call's value against a slider's *initial* range, so the
                # ranges start wide; the clip and the plan narrow them on load.
                frame = gr.Slider(0, 9999, value=0, step=1, label="Frame")
                scale = gr.Slider(1, 8, value=4, step=0.5, label="Scale")
                size = gr.Textbox(
                    label="Output size WxH (overrides the scale)", placeholder="e.g. 3840x2160"
                )
                patch = gr.Dropdown(
                    PATCH_SIZES,
                    value=256,
                    label="Patch size (output pixels)",
                    info="The 1.3B model's patch is 512; smaller shows more patches.",
                )
                scheme = gr.Radio(list(SCHEMES), value="paper", label="Scheme")
                overlap = gr.Slider(0, 0.75, value=0.25, step=0.05, label="Overlap (sliding)")
                weights = gr.Radio(list(WEIGHT_MODES), value="paper", label="Blending weights")
                index = gr.Slider(0, 4095, value=0, step=1, label="Patch index")
            with gr.Column(scale=3):
                with gr.Tab("Patch grid"):
                    grid_image = gr.Image(label="Grid", format="png", interactive=False)
                with gr.Tab("Weights"):
                    weights_image = gr.Image(label="Weights", format="png", interactive=False)
                with gr.Tab("Location"):
                    location_image = gr.Image(label="Location", format="png", interactive=False)
                with gr.Tab("Global context"):
                    context_image = gr.Image(label="Global view", format="png", interactive=False)
                summary = gr.Code(label="Plan", language=None, interactive=False)

        settings = [clip, frame, scale, size, patch, scheme, overlap, weights]
        outputs = [grid_image, weights_image, location_image, context_image, summary, index]
        # The index names a patch of the current plan: a change of plan shows the default
        # patch of the new one, other changes keep the chosen patch.
        gr.on(
            [index.release, frame.release, weights.input],
            explore,
            settings + [index],
            outputs,
            api_name="explore",
        )
        gr.on(
            [scale.release, size.submit, patch.input, scheme.input, overlap.release],
            explore_default_patch,
            settings,
            outputs,
            api_visibility="private",
        )
        for event in (clip.change, demo.load):
            event(clip_changed, clip, [frame, info], api_visibility="private").then(
                explore_default_patch, settings, outputs, api_visibility="private"
            )
    return demo
