"""`run_suite`: every measurement of `python -m patchvsr bench`, in one run, as one dict."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from patchvsr.bench.child import run_child
from patchvsr.bench.clip import measure_clip
from patchvsr.bench.config import BenchConfig
from patchvsr.bench.flops import real_scale_flops
from patchvsr.bench.processes import balance_table, measure_processes
from patchvsr.bench.scaling import measure_scaling


def machine() -> dict:
    """What the numbers were measured on; the load says whether the CPU was shared."""
    cpu = platform.processor() or platform.machine()
    memory = None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "torch": torch.__version__,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def run_suite(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict:
    started = time.perf_counter()
    result: dict = {"config": asdict(cfg), "machine": machine(), "model": {"name": cfg.model}}
    job = dict(model=cfg.model, frames=cfg.frames, steps=cfg.steps, threads=cfg.threads)
    size = cfg.profile_size

    result["scaling"] = measure_scaling(cfg, log)
    log("flops: the 1.3B configuration on the meta device ...")
    result["flops"] = real_scale_flops(cfg.flop_sizes, cfg.flop_frames)
    log(f"profile at {size}x{size}: where time goes, global branch sharing, batching ...")
    profile = run_child(
        dict(
            job,
            job="profile",
            size=size,
            batch=cfg.patch_batch,
            batch_sizes=list(cfg.batch_sizes),
            repeats=cfg.repeats,
        )
    )
    result["model"] = profile.pop("model", result["model"])
    for key in ("breakdown", "sharing", "batching"):
        result[key] = profile.get(key, profile)  # a failed child's error, in each section
    result["clip"] = measure_clip(cfg.model, cfg.clip_size, cfg.clip_seconds, cfg.threads, log=log)
    result["processes"] = measure_processes(
        cfg.model, cfg.clip_size, cfg.clip_seconds, cfg.threads, log=log
    )
    result["balance"] = balance_table()
    result["cuda"] = _cuda(cfg, log)
    result["machine"]["load_average_end"] = machine()["load_average"]
    result["seconds"] = time.perf_counter() - started
    return result


def _cuda(cfg: BenchConfig, log: Callable[[str], None]) -> dict:
    """The GPU script's measurements (`extras/bench_gpu.py`, in a checkout, not installed),
    when a CUDA GPU is present."""
    if not cfg.cuda:
        return {"skipped": "not asked for"}
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA GPU on this machine"}
    try:
        from extras.bench_cuda import cuda_benchmark
        from extras.bench_gpu import FRAMES, FULL_4K, HD, extrapolate, pipeline_run
    except ImportError:
        return {"skipped": "the GPU benchmark runs from a checkout: scripts/bench_gpu.sh"}

    result = cuda_benchmark(FULL_4K, FRAMES, steps=cfg.cuda_steps, log=log)
    log("cuda: 1920x1080 through the whole pipeline, VAE included ...")
    hd = pipeline_run("cuda", torch.bfloat16, HD, FRAMES, small=False)
    result["pipeline_1080p"] = hd
    result["extrapolated_4k_upscale"] = extrapolate(result, hd, FULL_4K, HD)
    return result
