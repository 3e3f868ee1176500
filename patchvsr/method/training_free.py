"""Training-free mode: what runs when a model has no adapter weights, and the noise level it
starts from.

A pre-trained base without PatchVSR's adapter (e.g. `wan2.1-1.3b` with no `--adapter`) is not
the paper's model. What runs is still the patch-wise method: the base model *refines the
bicubic upscale* patch by patch, its predictions fused with joint modulation at every step;
the patch condition, the global view and the location encoding are off (they are the adapter).

How much it changes the picture is set by the noise it starts from. `strength` s runs the last
int(N s) of the scheduler's N steps (as in diffusers' `WanVideoToVideoPipeline`); with Wan's
flow shift 3 they start near the noise level sigma = 3 s / (1 + 2 s): the old default 0.6
started at 0.82 and regenerated most of the picture with no condition. Refinement that keeps
the content starts near sigma 0.3, so that is the default here, set as a noise level and
turned into a `strength` for the model's shift: 4 of 32 steps, sigma 0.30 with the hub's UniPC
scheduler (`patchvsr.serve.training_free.describe` reads the level from the scheduler the
pipeline holds).

Every front end (CLI, demo) says so with the words of `patchvsr.serve.training_free`; a model
with adapter weights never shows them.
"""

from __future__ import annotations

SIGMA = 0.3  # default starting noise level of the refinement
STEPS = 32  # of which int(STEPS * strength) run: 4 at sigma 0.3 with shift 3


def is_training_free(pipe) -> bool:
    """A pipeline without adapter weights runs training-free."""
    return getattr(pipe, "adapter", None) is None


def sigma_for_strength(strength: float, shift: float) -> float:
    """The noise level a run at `strength` (share of the step schedule) starts from."""
    return shift * strength / (1 + (shift - 1) * strength)


def strength_for_sigma(sigma: float, shift: float) -> float:
    """The share of the step schedule that starts at noise level `sigma` (inverse of above)."""
    return sigma / (shift - (shift - 1) * sigma)


def defaults(shift: float) -> dict:
    """Default steps and strength (the pipeline's config keys) of a model in training-free
    mode: start at noise level `SIGMA`, a whole number of the `STEPS` (so that
    int(STEPS * strength) counts them exactly)."""
    run = max(1, round(STEPS * strength_for_sigma(SIGMA, shift)))
    return {"default_steps": STEPS, "default_strength": run / STEPS}
