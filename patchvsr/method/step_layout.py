"""The plan and fusion weights each denoising step uses, in latent units (shifted grids).

Every scheme but "shifted" evaluates one plan at every step; a shifted plan moves its seams
from one step to the next (`grid.step_plan`). Plans and weights are built once per distinct
offset and kept, so a run pays for each layout once: one `StepLayouts` serves every window of
a call. `Window.layout(step)` hands each denoising step its `(plan, weights)` as a value, so code that
splits a step's patches between processes takes them like any plan (every step of a shifted
plan has the same number of patches, so patch indices stay valid from step to step).
"""

from __future__ import annotations

import torch

from patchvsr.method.grid import PatchPlan, step_plan
from patchvsr.method.weights import patch_weights


class StepLayouts:
    def __init__(
        self,
        plan: PatchPlan,  # in pixels, on the padded frame
        factor: int,  # pixels per latent cell
        weight_mode: str,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.plan = plan
        self.factor = factor
        self.weight_mode = weight_mode
        self.device = device
        self.dtype = dtype
        self._cache: dict[tuple[int, int], tuple[PatchPlan, list[torch.Tensor]]] = {}
        self._steps: dict[int, tuple[PatchPlan, list[torch.Tensor]]] = {}

    def __call__(self, step: int) -> tuple[PatchPlan, list[torch.Tensor]]:
        """(plan in latent units, one normalised (h, w) weight map per patch) of step `step`."""
        if step not in self._steps:
            plan = step_plan(self.plan, step)
            if plan.offset not in self._cache:
                latent = plan.scaled(self.factor)
                weights = [
                    torch.from_numpy(w).to(self.device, self.dtype)
                    for w in patch_weights(latent, self.weight_mode)
                ]
                self._cache[plan.offset] = (latent, weights)
            self._steps[step] = self._cache[plan.offset]
        return self._steps[step]
