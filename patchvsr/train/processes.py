"""The processes of a training run: the Accelerator that `accelerate launch` (or a plain run)
gives, the note when `--cpu` started fewer processes than asked, and the check that every
process holds the same weights before a checkpoint."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.state import AcceleratorState

from patchvsr.errors import PatchVSRError
from patchvsr.runtime import resolve_device
from patchvsr.train.config import TrainConfig

Log = Callable[[str], None]


def make_accelerator(cfg: TrainConfig, device: str | None) -> Accelerator:
    """The run's Accelerator: processes and devices from `accelerate launch` (or one process
    when run plainly), precision from the config (bf16 on CUDA by default)."""
    wanted = device or cfg.run.device
    if wanted == "cuda":
        resolve_device("cuda")  # a clear error when there is none
    cuda = wanted != "cpu" and torch.cuda.is_available()
    precision = cfg.run.mixed_precision
    if precision == "auto":
        precision = "bf16" if cuda else "no"
    # Accelerate keeps one process-wide state; a new run in the same process (a notebook,
    # the tests) may want another precision, so start from a clean state.
    AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(
        # Without CUDA, processes (under any launcher) run on the CPU and talk over gloo.
        cpu=not cuda,
        mixed_precision=precision,
        gradient_accumulation_steps=cfg.optim.gradient_accumulation,
        # Each step's batch is split between the processes, not multiplied by their number.
        dataloader_config=DataLoaderConfiguration(split_batches=True),
    )


def single_process_note(accelerator: Accelerator) -> str | None:
    """`accelerate launch --cpu --num_processes N` starts N processes only through MPI (an
    mpirun hostfile); without it, it starts one and gives no sign. Say so, and how to get N."""
    asked = (
        os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true" and "MASTER_ADDR" in os.environ
    )
    if accelerator.num_processes == 1 and asked and "WORLD_SIZE" not in os.environ:
        return (
            "accelerate launch --cpu started one process (it starts several only through MPI); "
            "for N processes on CPUs (gloo) use: accelerate launch --multi_gpu --num_processes N"
        )
    return None


def weights_fingerprint(params: dict[str, torch.nn.Parameter]) -> torch.Tensor:
    """(2,) float64: the sum and the sum of squares of every trainable weight."""
    total = torch.zeros(2, dtype=torch.float64, device=next(iter(params.values())).device)
    for p in params.values():
        v = p.detach().double()
        total += torch.stack([v.sum(), (v * v).sum()])
    return total


def check_in_step(
    accelerator: Accelerator, params: dict[str, torch.nn.Parameter], log: Log
) -> None:
    """Every process must hold the same weights (DDP keeps them so); say so, or stop."""
    if accelerator.num_processes == 1:
        return
    prints = accelerator.gather(weights_fingerprint(params)[None])  # (N, 2)
    if not bool((prints == prints[0]).all()):
        raise PatchVSRError("the training processes hold different weights: they have diverged")
    log(f"the {accelerator.num_processes} processes hold identical weights")
