"""The Explore tab: how PatchVSR cuts a clip into patches and what each patch is told.

Layout and wiring only; every picture and number comes from `patchvsr` (the same functions
as `python -m patchvsr plan` and `viz`). Works instantly, without a model.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np

from patchvsr import viz
from patchvsr.app_config import Limits
from patchvsr.commands.plan import make_plan, output_size, parse_size, plan_report
from patchvsr.errors import PatchVSRError
from patchvsr.grid import SCHEMES, WEIGHT_MODES, PatchPlan
from patchvsr.io.probe import VideoInfo, probe
from patchvsr.io.reader import read_frame
from patchvsr.pick import AxesMap, axes_map, patch_at

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
EXAMPLES = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix in (".mp4", ".png", ".jpg"))
FIGURES = ("grid", "weights", "location", "context")
# Output size presets: the size box's value for each ("" = by the scale factor).
PRESETS = {"scale": "", "1080p": "1920x1080", "1440p": "2560x1440", "4K": "3840x2160"}


def user_error(err: Exception, path: str | None) -> gr.Error:
    """A message for the page: the upload's server path shortened to its file name, and the
    command line's option names (`--patch`) as the page's settings (`patch`)."""
    text = re.sub(r"--(patch|scale|size|overlap|scheme)\b", r"\1", str(err))
    if path:
        text = text.replace(str(path), Path(path).name)
    return gr.Error(text)


@lru_cache(maxsize=16)
def _frame(path: str, index: int) -> np.ndarray:
    return read_frame(path, index)


def plan_for(info: VideoInfo, scale, size, patch, scheme, overlap) -> PatchPlan:
    """The plan the settings describe (an explicit size wins over the scale)."""
    out = output_size(
        (info.height, info.width), float(scale), parse_size(size) if size.strip() else None
    )
    return make_plan(out, int(patch), scheme, overlap if scheme == "sliding" else None)


def describe_selection(plan: PatchPlan, index: int) -> str:
    p = plan.patches[index]
    return (
        f"selected      {viz.describe_patch(plan, index)}: x {p.x0}-{p.x1}, y {p.y0}-{p.y1} "
        f"of {plan.width}x{plan.height}"
    )


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
        info = self.probe(path)
        try:
            plan = plan_for(info, scale, size, patch, scheme, overlap)
            image = _frame(path, int(frame))
        except PatchVSRError as err:
            raise user_error(err, path) from None
        last = len(plan.patches) - 1
        index = viz.default_patch_index(plan) if index < 0 else min(int(index), last)
        figures = viz.figure_set(image, plan, index, weights)
        pictures = [viz.figure_to_array(figures[k]) for k in FIGURES]
        where = axes_map(figures["grid"]).to_dict()  # for clicks on the grid picture
        report = describe_selection(plan, index) + "\n" + plan_report(plan, info_size(info))
        slider = gr.update(maximum=max(1, last), value=index)
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
        info = self.probe(path)
        try:
            plan = plan_for(info, scale, size, patch, scheme, overlap)
        except PatchVSRError as err:
            raise user_error(err, path) from None
        picked = patch_at(plan, *point) if point is not None else None
        if picked is not None:
            index = picked
        return self.explore(path, frame, scale, size, patch, scheme, overlap, weights, index)


def info_size(info: VideoInfo) -> tuple[int, int]:
    return info.height, info.width


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
