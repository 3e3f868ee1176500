"""One upscaling request, from what a user typed to the patch plan that runs.

Every front end (the command line, the demo, a notebook) builds a `Request` with
`Request.make`: sizes are (H, W) everywhere, "0 or None" means the model's own default, and
every check lives here once. A refused setting raises `RequestError`, whose text names the
setting in a neutral way ("patch size must be ..."); each front end words it for itself
(`err.worded({"patch": "--patch"})` on the command line).

`plan_for(geometry, request)` turns a request into the `PatchPlan` on the padded frame at the
model's token lattice: exactly what `PatchVSRPipeline.__call__` runs, computed from the model's
configuration alone (see `patchvsr.models.configs.geometry_for`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from patchvsr.errors import PatchVSRError
from patchvsr.method.grid import SCHEMES, PatchPlan, plan_patches
from patchvsr.method.location import location_scale
from patchvsr.models.configs import PlanGeometry

# Outputs larger than this on a side are refused: 16K is beyond any display, and weight maps
# for bigger canvases would take gigabytes.
MAX_OUTPUT_SIDE = 16384
DEFAULT_SCALE = 4.0
DEFAULT_OVERLAP = 0.25

# How a setting is named when no front end words it.
FIELD_NAMES = {
    "scale": "scale",
    "size": "output size",
    "in_size": "input size",
    "patch": "patch size",
    "overlap": "overlap",
    "scheme": "scheme",
    "steps": "steps",
    "strength": "strength",
    "denoise": "denoise",
}


class RequestError(PatchVSRError):
    """A refused setting. `template` holds `{}` where the setting's name goes."""

    def __init__(self, field: str, template: str) -> None:
        self.field, self.template = field, template
        super().__init__(self.worded())

    def worded(self, names: Mapping[str, str] | None = None) -> str:
        """The message with the setting named as a front end names it."""
        names = {**FIELD_NAMES, **(names or {})}
        return self.template.format(names.get(self.field, self.field))


def parse_size(text: str, field: str = "size") -> tuple[int, int]:
    """'WxH' (as people write video sizes) -> (height, width), both positive."""
    match = re.fullmatch(r"\s*(-?\d+)\s*[xX]\s*(-?\d+)\s*", text)
    if not match:
        raise RequestError(field, f"{{}} must look like WIDTHxHEIGHT, e.g. 3840x2160; got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width <= 0 or height <= 0:
        raise RequestError(field, f"{{}} must be positive, got {width}x{height}")
    return height, width


def parse_denoise(text: str) -> float | None:
    """A denoise level as people type it: a number in [0, 1], or "auto" (None)."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise RequestError(
            "denoise", f"{{}} must be a number in [0, 1] or auto, got {text!r}"
        ) from None
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise RequestError("denoise", f"{{}} must be in [0, 1] (or auto), got {text}")
    return value


def output_size(
    in_hw: tuple[int, int], scale: float | None = None, size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """(height, width) of the output: `size` as given, else the input times `scale` (default
    4), rounded."""
    if size is not None:
        height, width = size
        if height <= 0 or width <= 0:
            raise RequestError("size", f"{{}} must be positive, got {width}x{height}")
    else:
        scale = DEFAULT_SCALE if scale is None else scale
        if not math.isfinite(scale) or scale <= 0:
            raise RequestError("scale", f"{{}} must be a positive number, got {scale:g}")
        height, width = round(in_hw[0] * scale), round(in_hw[1] * scale)
        if height <= 0 or width <= 0:
            raise RequestError(
                "scale",
                f"{{}} {scale:g} makes the {in_hw[1]}x{in_hw[0]} input vanish ({width}x{height})",
            )
    if max(height, width) > MAX_OUTPUT_SIDE:
        raise RequestError(
            "size",
            f"{{}} {width}x{height} is too large: at most {MAX_OUTPUT_SIDE} pixels a side",
        )
    return int(height), int(width)


@dataclass(frozen=True)
class Request:
    """A checked request. Sizes are (H, W); None means the model's own default (base size,
    steps, strength)."""

    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    patch_size: int | None = None
    scheme: str | None = "paper"  # None: the model's own (`grid.default_scheme`)
    overlap: float | None = None
    steps: int | None = None
    strength: float | None = None
    denoise: float | None = None  # mini's denoise level in [0, 1]; None: auto, from the input

    @classmethod
    def make(
        cls,
        in_hw: tuple[int, int],
        scale: float | None = None,
        size: tuple[int, int] | None = None,
        patch_size: int | None = None,
        scheme: str | None = "paper",
        overlap: float | None = None,
        steps: int | None = None,
        strength: float | None = None,
        denoise: float | None = None,
    ) -> Request:
        """Check every setting once; an explicit `size` wins over `scale`; 0 or None for
        `patch_size`, `steps` and `strength`, and None for `scheme`, mean the model's
        default."""
        out_hw = output_size(in_hw, scale, size)
        if scheme is not None and scheme not in SCHEMES:
            raise RequestError(
                "scheme", f"{{}} must be one of {', '.join(SCHEMES)}, got {scheme!r}"
            )
        if overlap is not None:
            if scheme != "sliding":
                raise RequestError("overlap", "{} applies to scheme sliding only")
            if not 0.0 <= overlap < 1.0:
                raise RequestError("overlap", f"{{}} must be in [0, 1), got {overlap:g}")
        if patch_size is not None and patch_size < 0:
            raise RequestError("patch", f"{{}} must be a positive multiple of 16, got {patch_size}")
        if steps is not None and steps < 0:
            raise RequestError(
                "steps", f"{{}} must be 1 or more (0: the model's default), got {steps}"
            )
        if strength is not None and not 0 <= strength <= 1:
            raise RequestError(
                "strength",
                f"{{}} must be between 0 and 1 (0: the model's default), got {strength:g}",
            )
        if denoise is not None and (
            isinstance(denoise, bool)
            or not isinstance(denoise, int | float)
            or not 0.0 <= denoise <= 1.0
        ):
            raise RequestError("denoise", f"{{}} must be in [0, 1] (or auto), got {denoise!r}")
        return cls(
            tuple(in_hw),
            out_hw,
            patch_size or None,
            scheme,
            overlap,
            steps or None,
            strength or None,
            None if denoise is None else float(denoise),
        )

    @property
    def scale(self) -> float:
        """The scale the location encoding gets (the mean of both axes)."""
        return location_scale(self.in_hw, self.out_hw)


def plan_for(
    geometry: PlanGeometry,
    out_hw: tuple[int, int],
    patch_size: int | None = None,
    scheme: str = "paper",
    overlap: float | None = None,
    full_frame: bool = False,
) -> PatchPlan:
    """The patch plan (pixels) of an output of `out_hw` for a model of this geometry: the
    frame padded up to the token lattice, patch edges on it. `full_frame` is one patch as large
    as the padded frame (the baseline the paper improves on).

    A patch asked for explicitly and larger than the output on *both* sides is refused: one
    patch would cover the whole frame. The model's own size (`geometry.default_patch`) is
    always taken (small outputs)."""
    align = geometry.align
    height, width = out_hw
    padded_h, padded_w = -(-height // align) * align, -(-width // align) * align
    if full_frame:
        return plan_patches(padded_h, padded_w, max(padded_h, padded_w), "tiles", align=align)
    if patch_size is not None:
        if patch_size <= 0 or patch_size % align:
            raise RequestError(
                "patch", f"{{}} must be a positive multiple of {align}, got {patch_size}"
            )
        if patch_size > max(height, width):
            raise RequestError(
                "patch",
                f"{{}} {patch_size} is bigger than the whole {width}x{height} output; use one "
                f"of at most {max(height, width) // align * align} or a larger output",
            )
    patch = patch_size or geometry.default_patch
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    try:
        return plan_patches(padded_h, padded_w, patch, scheme, overlap, align=align)
    except ValueError as err:
        raise PatchVSRError(str(err)) from None


def plan_request(geometry: PlanGeometry, request: Request) -> PatchPlan:
    return plan_for(geometry, request.out_hw, request.patch_size, request.scheme, request.overlap)
