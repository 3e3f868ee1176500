"""Which device and dtype a model runs on: CUDA first, then Apple's MPS, then the CPU.

One choice for every front end: the command line (`--device`), the demo and the notebooks all
reach it through `patchvsr.runtime.load_pipeline`. What MPS lacks falls back, and says so in
one line (`Placement.notes`):

- float64: MPS has none; float32 instead.
- bfloat16: MPS has it from macOS 14 (Sonoma) on; float32 on older systems.
- operations without an MPS kernel: with `PYTORCH_ENABLE_MPS_FALLBACK=1` they run on the CPU;
  without it they stop the run. torch reads the variable once, when it loads, so
  `python -m patchvsr` and `app.py` set it before importing torch (`enable_mps_fallback`).

docs/devices.md says what has and has not been run on a Mac.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from patchvsr.errors import PatchVSRError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cuda", "mps", "cpu")
MPS_FALLBACK = "PYTORCH_ENABLE_MPS_FALLBACK"
_MPS_MISSING = (
    "MPS is not available (it needs Apple silicon, macOS 12.3+ and a PyTorch built with MPS)"
)


def enable_mps_fallback(
    environ: MutableMapping[str, str] = os.environ, platform: str = sys.platform
) -> None:
    """On macOS, let operations MPS lacks run on the CPU instead of failing. Call it before
    torch is imported (torch reads the variable when it loads); a user's own value wins."""
    if platform == "darwin":
        environ.setdefault(MPS_FALLBACK, "1")


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def mps_available() -> bool:
    import torch

    return torch.backends.mps.is_available()


def mps_has_bf16() -> bool:
    """bfloat16 kernels on MPS arrived with macOS 14."""
    import torch

    return torch.backends.mps.is_macos_or_newer(14, 0)


def resolve_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA, then MPS, then the CPU. A device asked for by name that is not there is
    a one-line error."""
    import torch

    if name == "auto":
        if cuda_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() else "cpu")
    if name not in DEVICES:
        raise PatchVSRError(f"unknown device {name!r}; choose {', '.join(DEVICES)}")
    if name == "cuda" and not cuda_available():
        raise PatchVSRError("--device cuda was asked for, but no CUDA GPU is available")
    if name == "mps" and not mps_available():
        raise PatchVSRError(f"--device mps was asked for, but {_MPS_MISSING}")
    return torch.device(name)


def choose_dtype(
    device: torch.device, wanted: torch.dtype | None = None
) -> tuple[torch.dtype, list[str]]:
    """(dtype, notes): `wanted`, or the device's default (bf16 on CUDA and on MPS where macOS
    has it, fp32 on the CPU, where bf16 matrix products are slow), with what MPS lacks
    replaced by float32 and a note saying so."""
    import torch

    if device.type == "cuda":
        return wanted or torch.bfloat16, []
    if device.type != "mps":
        return wanted or torch.float32, []
    bf16 = mps_has_bf16()
    dtype = wanted or (torch.bfloat16 if bf16 else torch.float32)
    if dtype == torch.float64:
        return torch.float32, ["MPS has no float64: using float32"]
    if dtype == torch.bfloat16 and not bf16:
        return torch.float32, ["bfloat16 on MPS needs macOS 14 or later: using float32"]
    return dtype, []


def mps_fallback_note(environ: MutableMapping[str, str] = os.environ) -> str:
    """What happens to an operation MPS has no kernel for, in one line."""
    if environ.get(MPS_FALLBACK, "0").strip() not in ("", "0"):
        return f"operations MPS lacks run on the CPU ({MPS_FALLBACK}=1)"
    return (
        f"{MPS_FALLBACK} is not set: an operation MPS lacks stops the run (set it to 1 "
        "before starting Python to run such operations on the CPU)"
    )


@dataclass(frozen=True)
class Placement:
    """Where a model runs, in which dtype, and one line per fallback taken."""

    device: torch.device
    dtype: torch.dtype
    notes: tuple[str, ...] = ()


def place(device: str = "auto", dtype: torch.dtype | None = None) -> Placement:
    """The device for `device` (see `resolve_device`) and the dtype for `dtype` on it (see
    `choose_dtype`), with the notes a user should read."""
    dev = resolve_device(device)
    chosen, notes = choose_dtype(dev, dtype)
    if dev.type == "mps":
        notes.append(mps_fallback_note())
    return Placement(dev, chosen, tuple(notes))


__all__ = [
    "DEVICES",
    "MPS_FALLBACK",
    "Placement",
    "choose_dtype",
    "cuda_available",
    "enable_mps_fallback",
    "mps_available",
    "mps_fallback_note",
    "mps_has_bf16",
    "place",
    "resolve_device",
]
