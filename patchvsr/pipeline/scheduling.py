"""Timesteps and noise as diffusers' video-to-video pipelines take them from a scheduler.

The pipeline runs the scheduler it holds: the model folder's (the hub's Wan2.1 folder ships
UniPC with flow shift 3), or one a user sets, as in diffusers:

    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config)

`num_inference_steps` and `strength` mean what they mean in `WanVideoToVideoPipeline`: the
scheduler's own `set_timesteps(num_inference_steps)`, of which the last
`int(num_inference_steps * strength)` run; the start latent is the clean one noised at the first
of them with the scheduler's `add_noise` (or `scale_noise`, flow matching's Euler).

`scheduler_named` builds the flow-matching schedulers diffusers ships for Wan by a short name
(the command line's `--scheduler`), carrying the flow shift across from the one held.
"""

from __future__ import annotations

import copy

import torch
from diffusers import (
    DPMSolverMultistepScheduler,
    FlowMatchEulerDiscreteScheduler,
    UniPCMultistepScheduler,
)

from patchvsr.errors import PatchVSRError
from patchvsr.models.configs import WAN_FLOW_SHIFT

# name -> (class, what makes it a flow-matching sampler, as diffusers configures it for Wan)
SCHEDULERS = {
    "unipc": (
        UniPCMultistepScheduler,
        dict(prediction_type="flow_prediction", use_flow_sigmas=True),
    ),
    "euler": (FlowMatchEulerDiscreteScheduler, {}),
    "dpm++": (
        DPMSolverMultistepScheduler,
        dict(prediction_type="flow_prediction", use_flow_sigmas=True, algorithm_type="dpmsolver++"),
    ),
}


def wan_scheduler(shift: float = WAN_FLOW_SHIFT) -> UniPCMultistepScheduler:
    """The scheduler the hub's Wan2.1 folder ships: UniPC on flow sigmas, shift 3."""
    cls, flow = SCHEDULERS["unipc"]
    return cls(flow_shift=shift, **flow)


def flow_shift(scheduler) -> float:
    """The timestep shift of a flow-matching scheduler (`shift` for Euler, `flow_shift` for the
    multistep solvers with flow sigmas); 1.0 when it has none."""
    config = scheduler.config
    if config.get("use_flow_sigmas"):
        return float(config.get("flow_shift", 1.0))
    return float(config.get("shift", 1.0))


def scheduler_named(name: str, current) -> object:
    """The scheduler called `name` (unipc, euler, dpm++) with `current`'s flow shift and
    training timesteps."""
    key = name.strip().lower()
    if key not in SCHEDULERS:
        raise PatchVSRError(f"unknown scheduler {name!r}; choose {', '.join(SCHEDULERS)}")
    cls, flow = SCHEDULERS[key]
    shift = flow_shift(current)
    steps = current.config.get("num_train_timesteps", 1000)
    if cls is FlowMatchEulerDiscreteScheduler:
        return cls(num_train_timesteps=steps, shift=shift)
    return cls(num_train_timesteps=steps, flow_shift=shift, **flow)


def steps_run(num_inference_steps: int, strength: float) -> int:
    """How many of the scheduler's steps a run at `strength` takes (`int(N * strength)`, as
    `WanVideoToVideoPipeline.get_timesteps`)."""
    return min(int(num_inference_steps * strength), num_inference_steps)


def get_timesteps(
    scheduler, num_inference_steps: int, strength: float, device: torch.device | str
) -> torch.Tensor:
    """Set the scheduler's timesteps (which also restarts a multistep solver) and return the
    last `steps_run` of them, as `WanVideoToVideoPipeline` runs them."""
    scheduler.set_timesteps(num_inference_steps, device=device)
    start = num_inference_steps - steps_run(num_inference_steps, strength)
    return scheduler.timesteps[start * scheduler.order :]


def add_noise(
    scheduler, sample: torch.Tensor, noise: torch.Tensor, timestep: torch.Tensor
) -> torch.Tensor:
    """`sample` noised to the level of `timestep` by the scheduler's own forward process."""
    t = timestep.reshape(1).expand(sample.shape[0])
    if hasattr(scheduler, "add_noise"):
        return scheduler.add_noise(sample, noise, t)
    return scheduler.scale_noise(sample, t, noise)


def start_sigma(scheduler, num_inference_steps: int, strength: float) -> float:
    """The noise level a run starts from (read on a copy: the scheduler is left as it was)."""
    probe = copy.deepcopy(scheduler)
    timesteps = get_timesteps(probe, num_inference_steps, strength, "cpu")
    if len(timesteps) == 0:
        return 0.0
    clean, noise = torch.zeros(1), torch.ones(1)
    return float(add_noise(probe, clean, noise, timesteps[0]))
