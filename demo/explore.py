"""The Explore tab: how PatchVSR cuts a clip into patches and what each patch is told.

Layout and wiring only; every picture and number comes from `patchvsr.serve.explore` (the
plan the pipeline runs, as `python -m patchvsr plan` shows it). Works instantly, without a
model.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import VideoInfo, probe
from patchvsr.method.grid import SCHEMES
from patchvsr.method.weights import WEIGHT_MODES
from patchvsr.serve import explore as core
from patchvsr.serve.config import Limits
from patchvsr.viz.pick import AxesMap, patch_at

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
EXAMPLES = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix in (".mp4", ".png", ".jpg"))
# Output size presets: the size box's value for each ("" = by the scale factor).
PRESETS = {"scale": "", "1080p": "1920x1080", "1440p": "2560x1440", "4K": "3840x2160"}


def user_error(err: PatchVSRError, path: str | None) -> gr.Error:
    return gr.Error(core.page_message(err, path))


class ExploreTab:
    """Callbacks of the tab; `limits` are the server's (an oversized clip is refused here too)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def probe(self, path: str) -> VideoInfo:
        try:
            info = probe(path)
            self.limits.check_input(info, Path(path).name)
        except PatchVSRError as err:
            raise user_error(err, path) from None
        return info

    def plan(self, path, scale, size, patch, scheme, overlap):
        try:
            return core.page_plan(self.probe(path), scale, size, patch, scheme, overlap)
        except PatchVSRError as err:
            raise user_error(err, path) from None

    def clip_changed(self, path: str | None):
        """New clip: the frame slider's range and a one-line description."""
        if not path:
            return gr.update(value=0, visible=False), "No clip: pick the example or upload one."
        info = self.probe(path)
        what = "image" if info.num_frames == 1 else f"{info.num_frames} frames, {info.fps:g} fps"
        text = f"**{Path(path).name}**: {info.width}x{info.height}, {what}"
        # A slider needs max > min: a single image hides it instead.
        frames = gr.update(
            maximum=max(1, info.num_frames - 1), value=0, visible=info.num_frames > 1
        )
        return frames, text

    def explore(self, path, frame, scale, size, patch, scheme, overlap, weights, index):
        """The four pictures and the plan summary for one patch (index -1: a default patch)."""
        if not path:  # the clip was cleared: clear the pictures, keep the controls
            return None, None, None, None, "", gr.update(), None
        request, plan = self.plan(path, scale, size, patch, scheme, overlap)
        index = core.patch_index(plan, index)
        try:
            pictures, report, where = core.explore_view(path, frame, request, plan, index, weights)
        except PatchVSRError as err:
            raise user_error(err, path) from None
        slider = gr.update(maximum=max(1, len(plan.patches) - 1), value=index)
        return *pictures, report, slider, where

    def explore_default_patch(self, path, frame, scale, size, patch, scheme, overlap, weights):
        """After a change of plan the old index means another patch: show the default one."""
        return self.explore(path, frame, scale, size, patch, scheme, overlap, weights, -1)

    def select_patch(
        self, path, frame, scale, size, patch, scheme, overlap, weights, index, where,
        evt: gr.SelectData,
    ):  # fmt: skip
        """A click on the grid picture selects the patch under it."""
        if not path or not where or evt.index is None:
            return self.explore(path, frame, scale, size, patch, scheme, overlap, weights, index)
        point = AxesMap.from_dict(where).to_data(*evt.index)
        _, plan = self.plan(path, scale, size, patch, scheme, overlap)
        picked = patch_at(plan, *point) if point is not None else None
        if picked is not None:
            index = picked
        return self.explore(path, frame, scale, size, patch, scheme, overlap, weights, index)


def layout() -> SimpleNamespace:
    """The tab's components (inside a `gr.Tab`)."""
    ui = SimpleNamespace()
    with gr.Row(equal_height=True):
        # Gradio checks an API call's value against a slider's *initial* range, so the range
        # starts wide; the plan narrows it.
        ui.index = gr.Slider(
            0,
            4095,
            value=0,
            step=1,
            label="Patch",
            info="Click a patch on the grid, or slide.",
            scale=2,
            elem_id="patch-index",
        )
        ui.weights = gr.Radio(list(WEIGHT_MODES), value="paper", label="Blending weights", scale=2)
    with gr.Accordion("Other patch schemes", open=False):
        with gr.Row():
            ui.scheme = gr.Radio(
                list(SCHEMES),
                value="paper",
                label="Scheme",
                info="paper: base patches + auxiliary patches on every seam",
            )
            ui.overlap = gr.Slider(0, 0.75, value=0.25, step=0.05, label="Overlap (sliding)")
    with gr.Tab("Patch grid"):
        ui.grid = gr.Image(
            label="Grid (click a patch)", format="png", interactive=False, elem_id="grid"
        )
    with gr.Tab("Weights"):
        ui.weight_map = gr.Image(label="Weights", format="png", interactive=False)
    with gr.Tab("Location"):
        ui.location = gr.Image(label="Location", format="png", interactive=False)
    with gr.Tab("Global context"):
        ui.context = gr.Image(label="Global view", format="png", interactive=False)
    ui.summary = gr.Code(label="Plan", language=None, interactive=False, elem_id="plan")
    ui.where = gr.State(None)
    return ui


def wire(tab: ExploreTab, shared: SimpleNamespace, ui: SimpleNamespace, demo: gr.Blocks):
    settings = [
        shared.clip,
        shared.frame,
        shared.scale,
        shared.size,
        shared.patch,
        ui.scheme,
        ui.overlap,
        ui.weights,
    ]
    outputs = [ui.grid, ui.weight_map, ui.location, ui.context, ui.summary, ui.index, ui.where]
    # The index names a patch of the current plan: a change of plan shows the default patch
    # of the new one, other changes keep the chosen patch.
    gr.on(
        [ui.index.release, shared.frame.release, ui.weights.input],
        tab.explore,
        settings + [ui.index],
        outputs,
        api_name="explore",
    )
    ui.grid.select(
        tab.select_patch,
        settings + [ui.index, ui.where],
        outputs,
        api_visibility="private",
    )
    gr.on(
        [
            shared.scale.release,
            shared.size.submit,
            shared.patch.input,
            ui.scheme.input,
            ui.overlap.release,
        ],
        tab.explore_default_patch,
        settings,
        outputs,
        api_visibility="private",
        trigger_mode="always_last",
    )
    shared.preset.input(
        lambda preset: PRESETS[preset], shared.preset, shared.size, api_visibility="private"
    ).then(tab.explore_default_patch, settings, outputs, api_visibility="private")
    for event in (shared.clip.change, demo.load):
        event(
            tab.clip_changed,
            shared.clip,
            [shared.frame, shared.info],
            api_visibility="private",
        ).then(tab.explore_default_patch, settings, outputs, api_visibility="private")
