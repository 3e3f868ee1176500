"""The Explore tab: how PatchVSR cuts a clip into patches and what each patch is told.

Layout and wiring only; every picture and number comes from `patchvsr.serve.explore` (the
plan the pipeline runs, as `python -m patchvsr plan` shows it). Works instantly, without a
model.
"""

from __future__ import annotations

from functools import lru_cache
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


# The sub-tabs of Explore: (tab title, what to look at in one sentence).
VIEWS = {
    "grid": (
        "Patch grid",
        "Each box is a piece the model upscales on its own; the dashed boxes straddle the "
        "seams so that no seam shows in the result. Click a patch to see what it is given.",
    ),
    "weights": (
        "Weights",
        "Where patches overlap their results are averaged: the chosen patch counts fully at "
        "its centre and fades out towards its edges, and along any line the weights add up "
        "to one.",
    ),
    "location": (
        "Location",
        "Each patch is also told where it lies: its place as a mask and as a code of numbers; "
        "the bright spot shows that nearby places get similar codes and distant ones do not.",
    ),
    "context": (
        "Global context",
        "Besides its own piece (right), every patch sees a small picture of the whole frame "
        "(middle), so that all patches agree on colours and content.",
    ),
}


def user_error(err: PatchVSRError, path: str | None) -> gr.Error:
    return gr.Error(core.page_message(err, path))


def clip_problem(err: PatchVSRError, path: str | None) -> str:
    """The clip line and the status line when a clip cannot be used."""
    return f"**This file cannot be used:** {core.page_message(err, path)}"


def describe_clip(path: str, info: VideoInfo) -> str:
    what = (
        "image" if info.num_frames == 1 else f"{info.num_frames} frames, {round(info.fps, 2):g} fps"
    )
    return f"**{Path(path).name}**: {info.width}x{info.height}, {what}"


def probe_once(path: str) -> VideoInfo:
    """`probe`, kept for the file as it is (its size and time of change): every click
    would open the container again."""
    try:
        stat = Path(path).stat()
    except OSError:
        return probe(path)  # says what is wrong with it
    return _probe(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _probe(path: str, size: int, mtime: int) -> VideoInfo:
    return probe(path)


class ExploreTab:
    """Callbacks of the tab; `limits` are the server's (an oversized clip is refused here too),
    `idle_status` what the Upscale tab's status line says when nothing went wrong.

    The page's own events never raise: a problem is said in the clip line, the status line or
    the tab's note, and stays there until the next action (a raised error would fade and leave
    bare "Error" badges). The API endpoint `/explore` raises, so a client gets an error."""

    def __init__(self, limits: Limits, idle_status: str = "") -> None:
        self.limits = limits
        self.idle_status = idle_status

    def probe(self, path: str) -> VideoInfo:
        info = probe_once(path)
        self.limits.check_input(info, Path(path).name)
        return info

    def plan(self, path, scale, size, patch, scheme, overlap, info: VideoInfo | None = None):
        info = info or self.probe(path)
        return core.page_plan(info, scale, size, int(patch), scheme, overlap)

    def clip_changed(self, path: str | None):
        """New clip: the frame slider's range, the clip line and the status line."""
        if not path:
            return (
                gr.update(value=0, visible=False),
                "No clip: pick the example or upload one.",
                self.idle_status,
            )
        try:
            info = self.probe(path)
        except PatchVSRError as err:
            message = clip_problem(err, path)
            return gr.update(value=0, visible=False), message, message
        # A slider needs max > min: a single image hides it instead.
        frames = gr.update(
            maximum=max(1, info.num_frames - 1), value=0, visible=info.num_frames > 1
        )
        return frames, describe_clip(path, info), self.idle_status

    def view(
        self, path, frame, scale, size, patch, scheme, overlap, weights, index, names, info=None
    ):
        """(pictures by name, report, slider update, where) for one patch (-1: the default);
        raises PatchVSRError."""
        request, plan = self.plan(path, scale, size, patch, scheme, overlap, info)
        index = core.patch_index(plan, int(index))
        pictures, report, where = core.explore_view(
            path, frame, request, plan, index, weights, names
        )
        slider = gr.update(maximum=max(1, len(plan.patches) - 1), value=index)
        return pictures, report, slider, where

    def explore(self, path, frame, scale, size, patch, scheme, overlap, weights, index):
        """The API: the four pictures and the plan summary for one patch (index -1: a default
        patch)."""
        if not path:
            raise gr.Error("No clip: give a video or an image.")
        try:
            pictures, report, slider, where = self.view(
                path, frame, scale, size, patch, scheme, overlap, weights, index, core.FIGURES
            )
        except PatchVSRError as err:
            raise user_error(err, path) from None
        return *(pictures[k] for k in core.FIGURES), report, slider, where

    def page(self, path, frame, scale, size, patch, scheme, overlap, weights, index, visible):
        """The page: only the visible sub-tab's picture is drawn (the others when shown), and
        a problem goes to the tab's note instead of an error."""
        cleared = (None, None, None, None, "", gr.skip(), None)
        if not path:  # the clip was cleared: clear the pictures, keep the controls
            return *cleared, ""
        try:
            info = self.probe(path)
        except PatchVSRError as err:  # the clip line says it too
            return *cleared, clip_problem(err, path)
        try:
            pictures, report, slider, where = self.view(
                path, frame, scale, size, patch, scheme, overlap, weights, index, [visible], info
            )
        except PatchVSRError as err:  # a setting: the pictures of the last good one stay
            keep = [gr.skip()] * len(core.FIGURES)
            return *keep, gr.skip(), gr.skip(), gr.skip(), settings_problem(err, path)
        shown = [pictures.get(k, gr.skip()) for k in core.FIGURES]
        return *shown, report, slider, where, ""

    def page_default_patch(
        self, path, frame, scale, size, patch, scheme, overlap, weights, visible
    ):
        """After a change of plan the old index means another patch: show the default one."""
        return self.page(path, frame, scale, size, patch, scheme, overlap, weights, -1, visible)

    def page_for_tab(
        self, path, frame, scale, size, patch, scheme, overlap, weights, index, where, visible
    ):
        """A sub-tab was shown. Gradio also selects the first sub-tab as the page loads, before
        any plan was drawn (`where` is None): the index is then the slider's start, not a
        choice, so the default patch is shown, as the load's own event shows it."""
        index = index if where else -1
        return self.page(path, frame, scale, size, patch, scheme, overlap, weights, index, visible)

    def select_patch(
        self, path, frame, scale, size, patch, scheme, overlap, weights, index, where, visible,
        evt: gr.SelectData,
    ):  # fmt: skip
        """A click on the grid picture selects the patch under it."""
        args = (path, frame, scale, size, patch, scheme, overlap, weights)
        if path and where and evt.index is not None:
            point = AxesMap.from_dict(where).to_data(*evt.index)
            try:
                _, plan = self.plan(path, scale, size, patch, scheme, overlap)
            except PatchVSRError:
                point = None
            picked = patch_at(plan, *point) if point is not None else None
            if picked is not None:
                index = picked
        return self.page(*args, index, visible)


def settings_problem(err: PatchVSRError, path: str | None) -> str:
    return f"**Cannot show this:** {core.page_message(err, path)}"


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
        ui.weights = gr.Radio(
            list(WEIGHT_MODES),
            value="paper",
            label="Blending weights",
            info="How overlapping patches are averaged; paper: as the paper does it.",
            scale=2,
        )
    with gr.Accordion("Other patch schemes", open=False):
        with gr.Row():
            ui.scheme = gr.Radio(
                list(SCHEMES),
                value="paper",
                label="Scheme",
                info="paper: base patches + auxiliary patches on every seam",
            )
            ui.overlap = gr.Slider(0, 0.75, value=0.25, step=0.05, label="Overlap (sliding)")
    ui.note = gr.Markdown(elem_id="explore-note")
    ui.visible = gr.State("grid")
    ui.tabs = {}
    images = {}
    with gr.Tabs():
        for name, (title, caption) in VIEWS.items():
            with gr.Tab(title, id=name) as ui.tabs[name]:
                gr.Markdown(caption, elem_classes=["caption"])
                images[name] = gr.Image(
                    label=title + (" (click a patch)" if name == "grid" else ""),
                    show_label=False,
                    type="filepath",
                    interactive=False,
                    buttons=["fullscreen", "download"],
                    elem_id=name,
                )
    ui.grid, ui.weight_map = images["grid"], images["weights"]
    ui.location, ui.context = images["location"], images["context"]
    ui.summary = gr.Code(label="Plan", language=None, interactive=False, elem_id="plan")
    ui.where = gr.State(None)
    # The API's endpoint: a button nobody sees, so that the page's own events can say their
    # problems in place while an API client still gets an error.
    ui.api = gr.Button(visible=False)
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
    pictures = [ui.grid, ui.weight_map, ui.location, ui.context]
    outputs = [*pictures, ui.summary, ui.index, ui.where]
    ui.api.click(tab.explore, settings + [ui.index], outputs, api_name="explore")
    page = {"outputs": outputs + [ui.note], "api_visibility": "private"}
    # Choosing a patch answers in a fraction of a second: no progress, no blanking.
    quick = {**page, "show_progress": "hidden", "trigger_mode": "always_last"}
    # The index names a patch of the current plan: a change of plan shows the default patch
    # of the new one, other changes keep the chosen patch.
    gr.on(
        [ui.index.release, shared.frame.release, ui.weights.input],
        tab.page,
        settings + [ui.index, ui.visible],
        **quick,
    )
    ui.grid.select(tab.select_patch, settings + [ui.index, ui.where, ui.visible], **quick)
    for name, sub in ui.tabs.items():
        sub.select(
            lambda name=name: name,
            None,
            ui.visible,
            **{"api_visibility": "private", "show_progress": "hidden"},
        ).then(tab.page_for_tab, settings + [ui.index, ui.where, ui.visible], **quick)
    replan = {**page, "show_progress": "minimal", "show_progress_on": [ui.summary]}
    gr.on(
        [
            shared.scale.release,
            shared.size.submit,
            shared.patch.input,
            ui.scheme.input,
            ui.overlap.release,
        ],
        tab.page_default_patch,
        settings + [ui.visible],
        trigger_mode="always_last",
        **replan,
    )
    shared.preset.input(
        lambda preset: PRESETS[preset], shared.preset, shared.size, api_visibility="private"
    ).then(tab.page_default_patch, settings + [ui.visible], **replan)
    for event in (shared.clip.change, demo.load):
        event(
            tab.clip_changed,
            shared.clip,
            [shared.frame, shared.info, shared.status],
            api_visibility="private",
            show_progress="hidden",
        ).then(tab.page_default_patch, settings + [ui.visible], **replan)
