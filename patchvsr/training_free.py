"""Training-free mode: what runs when a model has no adapter weights, and how it is labelled.

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
scheduler (`describe` reads the level from the scheduler the pipeline holds).

Every front end (CLI, demo) says so with the words below; a model with adapter weights never
shows them.
"""

from __future__ import annotations

import json
from pathlib import Path

SIGMA = 0.3  # default starting noise level of the refinement
STEPS = 32  # of which int(STEPS * strength) run: 4 at sigma 0.3 with shift 3
SHORT = "training-free: no adapter weights"
WHAT_RUNS = (
    "the base model refines the bicubic upscale patch by patch with joint modulation; "
    "patch condition, global view and location encoding are off (no adapter weights)"
)


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


def describe(pipe, steps: int, strength: float) -> str:
    """One line for a pipeline in training-free mode: what runs, and from which noise."""
    from patchvsr.scheduling import start_sigma, steps_run  # loads diffusers: models only

    run = steps_run(steps, strength)
    sigma = start_sigma(pipe.scheduler, steps, strength)
    return (
        f"training-free mode: {WHAT_RUNS}; {run} of {steps} steps from noise level "
        f"sigma {sigma:.2f} (strength {strength:g})"
    )


def lacks_adapter(model: str) -> bool:
    """Whether the model of this name (as `load_pipeline` takes it, with no adapter given)
    would run training-free, told without loading it."""
    if model == "wan2.1-1.3b":
        return True
    folder = Path(model)
    if not folder.is_dir():
        return False  # tiny, mini, a baseline: adapters built in (or not a model)
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, ValueError):
        return False
    # PatchVSR's layout names its adapter ([null, null] when it has none); the hub's Wan
    # layout has no entry at all.
    return not any(index.get("adapter") or [])


def model_choice_info(models: list[str]) -> str:
    """The note beside the demo's model choice."""
    free = [m for m in models if lacks_adapter(m)]
    info = "bicubic and lanczos are the classical baselines"
    if free:
        info += f". {', '.join(free)}: {SHORT}: {WHAT_RUNS}"
    return info


def notice(upscaler) -> str | None:
    """The line a front end shows for an upscaler in training-free mode, else None."""
    pipe = getattr(upscaler, "pipe", None)
    if pipe is None or not is_training_free(pipe):
        return None
    steps = upscaler.steps or pipe.config.default_steps
    strength = upscaler.strength or pipe.config.default_strength
    return describe(pipe, steps, strength)


def notes(upscaler) -> list[str]:
    line = notice(upscaler)
    return [line] if line else []


def label(name: str, upscaler) -> str:
    """The model's name as a result's status line gives it."""
    return f"{name} ({SHORT})" if notice(upscaler) else name
