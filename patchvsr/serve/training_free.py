"""How front ends word training-free mode (`patchvsr.method.training_free`): the CLI's note,
the demo's model choice and a result's status line say what runs and from which noise level;
a model with adapter weights never shows these words."""

from __future__ import annotations

import json
from pathlib import Path

from patchvsr.method.training_free import is_training_free

SHORT = "training-free: no adapter weights"
WHAT_RUNS = (
    "the base model refines the bicubic upscale patch by patch with joint modulation; "
    "patch condition, global view and location encoding are off (no adapter weights)"
)


def describe(pipe, steps: int, strength: float) -> str:
    """One line for a pipeline in training-free mode: what runs, and from which noise."""
    from patchvsr.pipeline.scheduling import start_sigma, steps_run  # loads diffusers: models only

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
