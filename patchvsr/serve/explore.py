"""What the demo's Explore tab shows, and the demo's wording of errors.

The plan is `patchvsr.request.plan_for` with the geometry of the 1.3B model (read from its
configuration, no weights), the same call `python -m patchvsr plan` makes and the pipeline
runs: the padded frame on the model's token lattice.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from patchvsr import viz
from patchvsr.cost import ModelCost, estimate_work, plan_report
from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import VideoInfo
from patchvsr.io.reader import read_frame
from patchvsr.method.grid import PatchPlan
from patchvsr.method.location import normalized_box
from patchvsr.models.configs import PlanGeometry, geometry_for
from patchvsr.request import Request, RequestError, parse_size, plan_for, plan_request
from patchvsr.viz.pick import axes_map

logger = logging.getLogger(__name__)
EXPLORE_MODEL = "wan2.1-1.3b"  # whose plan Explore draws (its cost is what the report counts)
FIGURES = ("grid", "weights", "location", "context")
# How the page names the settings that a refused request names.
PAGE_NAMES = {
    "scale": "Scale",
    "size": "Output size",
    "patch": "Patch size",
    "overlap": "Overlap",
    "scheme": "Scheme",
    "steps": "Steps",
    "strength": "Strength",
}


def page_message(err: PatchVSRError, path: str | None = None) -> str:
    """An error as the page says it: settings by their names on the page, an upload's server
    path shortened to its file name."""
    text = err.worded(PAGE_NAMES) if isinstance(err, RequestError) else str(err)
    return text.replace(str(path), Path(path).name) if path else text


@lru_cache(maxsize=1)
def explore_geometry() -> PlanGeometry:
    return geometry_for(EXPLORE_MODEL)


def page_request(info: VideoInfo, scale, size: str, patch, scheme: str, overlap) -> Request:
    """The request the page's settings describe (an explicit size wins over the scale)."""
    return Request.make(
        (info.height, info.width),
        scale=float(scale),
        size=parse_size(size) if size and size.strip() else None,
        patch_size=int(patch),
        scheme=scheme,
        overlap=float(overlap) if scheme == "sliding" else None,
    )


def page_plan(info: VideoInfo, scale, size: str, patch, scheme: str, overlap) -> tuple:
    """(request, plan) for the page's settings."""
    request = page_request(info, scale, size, patch, scheme, overlap)
    return request, plan_request(explore_geometry(), request)


def patch_index(plan: PatchPlan, index: int) -> int:
    """The chosen patch of the plan: -1 means the default one; past the end, the last."""
    return viz.default_patch_index(plan) if index < 0 else min(int(index), len(plan.patches) - 1)


# PatchVSR-mini, the model Upscale runs on CPU: its transformer and codec (patchvsr/models/patchvsr-mini)
MINI_COST = ModelCost(
    name="PatchVSR-mini",
    dim=4 * 40,
    ffn_dim=480,
    layers=4,
    text_tokens=8,
    vae_spatial=4,
    vae_temporal=1,
    patch=4,
)
MINI_WINDOW = 4  # frames mini denoises together, in one step


def describe_costs(out_hw: tuple[int, int]) -> str:
    """What the report's costs are for, and what mini's run of the same output costs."""
    lines = [
        "about         the costs above are the Wan2.1 1.3B model's (the paper-size model, "
        "whose own patch is 512)",
    ]
    try:
        plan = plan_for(geometry_for("mini"), out_hw, None, "shifted")
    except PatchVSRError:
        return lines[0]
    work = estimate_work(plan, MINI_WINDOW, MINI_COST)
    lines.append(
        f"mini          what Upscale runs on CPU: {len(plan.patches)} patches of "
        f"{plan.patch_size} px, one step per {MINI_WINDOW} frames, "
        f"{work.flops_per_step / 1e12:.2f} TFLOP per {MINI_WINDOW} frames"
    )
    return "\n".join(lines)


def describe_selection(plan: PatchPlan, index: int) -> str:
    p = plan.patches[index]
    return (
        f"selected      {viz.describe_patch(plan, index)}: x {p.x0}-{p.x1}, y {p.y0}-{p.y1} "
        f"of {plan.width}x{plan.height}"
    )


@lru_cache(maxsize=16)
def clip_frame(path: str, index: int) -> np.ndarray:
    return read_frame(path, index)


class Drawings:
    """The four pictures of one clip frame and one plan, for any patch, as JPEG files.

    Each figure's patch-independent part is drawn once, on first use, and a patch's own
    parts on top of it (`viz.LiveFigure`): another patch costs a fraction of a redraw. Each
    picture is written once and kept (the page and the API get a file: Gradio would encode
    an array as PNG at its default compression, 0.7 s of a click's 0.8 s on a busy two-core
    machine; JPEG at quality 92 with full colour resolution takes about 10 ms and keeps the
    figures' thin lines clean). `prepare()` draws every patch in a background thread at low
    priority, so that later choices are answered from the files."""

    def __init__(self, frame: np.ndarray, request: Request, plan: PatchPlan, mode) -> None:
        self.plan, self.request = plan, request
        self._first = viz.default_patch_index(plan)
        self._parts = {
            "grid": lambda: viz.grid_parts(frame, plan),
            "weights": lambda: viz.weights_parts(plan, mode, frame),
            "location": lambda: viz.location_parts(
                plan, in_size=frame.shape[:2], out_size=request.out_hw, first=self._first
            ),
            "context": lambda: viz.context_parts(frame, plan),
        }
        self._live: dict[str, viz.LiveFigure] = {}
        self._files: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        self.folder = Path(tempfile.mkdtemp(prefix="patchvsr-explore-"))
        atexit.register(shutil.rmtree, self.folder, ignore_errors=True)
        self.prepared = threading.Event()
        self._closed = threading.Event()
        self.report = (
            plan_report(plan, request.in_hw, request.out_hw) + "\n" + describe_costs(request.out_hw)
        )

    def live(self, name: str) -> viz.LiveFigure:
        with self._lock:
            if name not in self._live:
                self._live[name] = viz.LiveFigure(*self._parts[name](), self._first)
            return self._live[name]

    def picture(self, name: str, index: int) -> str:
        """The picture `name` of patch `index`: a JPEG file."""
        found = self._files.get((name, index))
        if found is not None:
            return found
        path = self.folder / f"{name}-{index}.jpg"
        partial = path.with_suffix(f".{threading.get_ident()}.part")
        Image.fromarray(self.live(name).render(index)).save(
            partial, format="jpeg", quality=92, subsampling=0
        )
        partial.replace(path)  # a reader never sees half a file
        self._files[(name, index)] = str(path)
        return str(path)

    def where(self) -> dict[str, float]:
        """Where the grid's axes lie in its picture (to map a click back to a patch)."""
        return axes_map(self.live("grid").fig, draw=False).to_dict()

    def prepare(self, first: str = "grid") -> threading.Thread:
        """Draw every picture of every patch in a background thread (`first`'s figure
        first), at low priority; `prepared` is set when done. Plans of more than
        `PREPARE_PATCHES` patches prepare the grid only (their files would fill the disk)."""
        names = [first] + [n for n in FIGURES if n != first]
        if len(self.plan.patches) > PREPARE_PATCHES:
            names = ["grid"]

        def run() -> None:
            _lower_priority()
            try:
                for name in names:
                    for index in range(len(self.plan.patches)):
                        if self._closed.is_set():
                            return
                        self.picture(name, index)
            except Exception:  # a visitor's own request draws it, and says what failed
                if not self._closed.is_set():  # closed: the folder went away under it
                    logger.exception("preparing the Explore pictures failed")
            finally:
                self.prepared.set()

        thread = threading.Thread(target=run, name="explore-prepare", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self._closed.set()
        shutil.rmtree(self.folder, ignore_errors=True)


PREPARE_PATCHES = 100


def _lower_priority() -> None:
    """Nice this thread (Linux schedules threads one by one): a visitor's click goes first."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


_DRAWINGS: OrderedDict[tuple, Drawings] = OrderedDict()
_DRAWINGS_LOCK = threading.Lock()
KEEP_DRAWINGS = 4  # clips x plans kept: a visitor goes back and forth between a few


def drawings(
    path: str, frame: int, request: Request, plan: PatchPlan, mode, first: str = "grid"
) -> Drawings:
    """The drawings of this clip frame, plan and weight mode, made once and kept (the last
    `KEEP_DRAWINGS` of them); new ones start preparing every patch (`first`'s figure
    first)."""
    key = (path, int(frame), request, plan.scheme, plan.patch_size, plan.overlap, mode)
    with _DRAWINGS_LOCK:
        found = _DRAWINGS.get(key)
        if found is not None:
            _DRAWINGS.move_to_end(key)
            return found
    made = Drawings(clip_frame(path, int(frame)), request, plan, mode)
    with _DRAWINGS_LOCK:
        kept = _DRAWINGS.setdefault(key, made)
        _DRAWINGS.move_to_end(key)
        while len(_DRAWINGS) > KEEP_DRAWINGS:
            _DRAWINGS.popitem(last=False)[1].close()
    if kept is made:
        made.prepare(first)
    else:
        made.close()
    return kept


def explore_view(
    path: str,
    frame: int,
    request: Request,
    plan: PatchPlan,
    index: int,
    weights,
    names=FIGURES,
):
    """The pictures `names` (JPEG files, by name), the report and where the grid's axes lie
    (for clicks)."""
    drawn = drawings(path, frame, request, plan, weights, first=names[0])
    pictures = {name: drawn.picture(name, index) for name in names}
    report = describe_selection(plan, index) + "\n" + drawn.report
    return pictures, report, drawn.where()


def crop_of(out_hw: tuple[int, int], patch, scheme: str, overlap, index: int) -> tuple:
    """The region of the patch chosen in Explore, on a checked output size, to zoom into, and
    its label; (None, "") when there is no such plan or the patch covers much of the frame (a
    zoom that shows nothing new)."""
    try:
        sliding = float(overlap) if scheme == "sliding" else None
        plan = plan_for(explore_geometry(), out_hw, int(patch), scheme, sliding)
    except PatchVSRError:
        return None, ""
    index = patch_index(plan, index)
    box = normalized_box(plan.patches[index], plan.height, plan.width)
    if (box[2] - box[0]) * (box[3] - box[1]) > 0.25:
        return None, ""
    return box, f"patch {viz.describe_patch(plan, index)}"
