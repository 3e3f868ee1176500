"""Loading PatchVSR models by name: `tiny`, `mini`, `wan2.1-1.3b`, or a folder or hub id.

- `tiny`: random weights made at run time (tests, CI), every code path of the real model.
- `mini`: the small model trained by this project, shipped in `patchvsr/models/patchvsr-mini/`.
- `wan2.1-1.3b`: the real Wan2.1 base from the hub, plus adapter weights from `adapter=` (a
  folder or hub id); without them it runs training-free with the adapter off, and says so.
  The text encoder is fetched only while the fixed prompt's embedding is not cached yet.
- a folder or hub id: whatever `PatchVSRPipeline.from_pretrained` reads.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from patchvsr.devices import place, resolve_device
from patchvsr.errors import PatchVSRError
from patchvsr.models.configs import MINI_DIR
from patchvsr.pipeline.codec import vae_dtype as vae_dtype_of
from patchvsr.pipeline.hub import download, download_wan
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

BUILTIN = ("tiny", "mini", "wan2.1-1.3b")
__all__ = [
    "BUILTIN",
    "cpu_has_native_bf16",
    "enable_native_bf16",
    "MINI_DIR",
    "download",
    "download_wan",
    "load_pipeline",
    "resolve_device",
    "use_free_cores",
]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX), where oneDNN's bf16
    matrix products beat fp32 ones; elsewhere they are emulated and slower."""
    return bool(
        torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


def enable_native_bf16(pipe: PatchVSRPipeline) -> None:
    """How mini runs: on a CPU with native bf16, its matrix products and convolutions in bf16
    (`PatchVSRPipeline.enable_bf16_matmuls`; held-out Y-PSNR within 0.002 dB of fp32:
    docs/performance.md); elsewhere as loaded."""
    pipe.enable_bf16_matmuls(pipe.device.type == "cpu" and cpu_has_native_bf16())


def busy_cores(samples: int = 9, interval: float = 0.01, stat: str = "/proc/stat") -> int:
    """How many of the other processes are running right now: the median over `samples`
    readings of the kernel's count of runnable tasks (this process is one of them). The load
    average would lag: it still counts a run that ended a minute ago."""
    counts = []
    for _ in range(samples):
        try:
            with open(stat) as lines:
                line = next(x for x in lines if x.startswith("procs_running"))
        except (OSError, StopIteration):
            return 0  # not Linux: assume an idle machine
        counts.append(int(line.split()[1]) - 1)
        time.sleep(interval)
    return max(0, sorted(counts)[len(counts) // 2])


def use_free_cores() -> int:
    """Give torch one thread per core that other work leaves free (at least one), unless the
    user set OMP_NUM_THREADS. On 2 cores with other work running, one thread upscales a mini
    clip as fast as two or faster (docs/performance.md): two threads meet at a barrier after
    every op, and each wait for a descheduled one costs a time slice. Returns the count."""
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) - busy_cores())
    torch.set_num_threads(threads)
    return threads


def load_pipeline(
    model: str = "mini",
    device: str = "auto",
    dtype: torch.dtype | None = None,
    adapter: str | None = None,
    vae_dtype: str | None = None,
) -> PatchVSRPipeline:
    """A ready pipeline for a model name, folder or hub id, on `device` (`auto`: CUDA, then
    MPS, then the CPU; fp32 on the CPU, bf16 on CUDA, unless `dtype` says otherwise; see
    `patchvsr.devices`; the Wan VAE in `vae_dtype`, "fp32" unless told:
    `patchvsr.pipeline.codec.VAE_DTYPE_REASON`). Each fallback taken on MPS is one line on
    stderr."""
    placement = place(device, dtype)
    for note in placement.notes:
        print(f"note: {note}", file=sys.stderr)
    dev, dtype = placement.device, placement.dtype
    loaded = dict(dtype=dtype, vae_dtype=vae_dtype)
    if model == "tiny":
        from patchvsr.pipeline.builders import build_tiny

        pipe = build_tiny()
        pipe.vae.to(vae_dtype_of(vae_dtype))
        return pipe.to(dev)
    if model == "mini":
        if not (MINI_DIR / "model_index.json").exists():
            raise PatchVSRError(f"the mini model is not installed ({MINI_DIR} is missing)")
        # mini is small: fp32 on every device, bf16 products where the CPU has them
        loaded["dtype"] = torch.float32
        pipe = PatchVSRPipeline.from_pretrained(MINI_DIR, adapter, **loaded).to(dev)
        enable_native_bf16(pipe)
        return pipe
    if model == "wan2.1-1.3b":
        source = download_wan()
    elif Path(model).exists() or model.count("/") == 1:
        source = model
    else:
        raise PatchVSRError(
            f"unknown model {model!r}: use one of {', '.join(BUILTIN)}, a model folder or a hub id"
        )
    return PatchVSRPipeline.from_pretrained(source, adapter, **loaded).to(dev)
