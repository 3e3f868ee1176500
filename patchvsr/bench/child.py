"""One benchmark configuration in a fresh process: `python -m patchvsr.bench.child JOB`.

Peak memory is per process, so each configuration runs alone in its own interpreter: the
numbers of two configurations are then side by side and independent. The job is JSON on the
command line; the result is one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def child_env() -> dict[str, str]:
    """The environment of a timed child process: this package importable, no downloads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    # On a CPU shared with other work, OpenMP threads that spin while waiting for each other
    # lose whole scheduler slices at every parallel region (measured here: one patch-wise
    # step 6x slower with 2 threads than with 1); passive waiting keeps the timings sane.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_child(job: dict, timeout: float | None = None) -> dict:
    """Run `job` in a child interpreter; its result, or {"error": ...}."""
    cmd = [sys.executable, "-m", "patchvsr.bench.child", json.dumps(job)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env())
    except subprocess.TimeoutExpired:
        return {"error": f"took longer than {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit code {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def _pipeline(job: dict):
    """The job's model (and its description), with the job's thread count, warmed up."""
    import torch

    from patchvsr.bench.models import bench_pipeline
    from patchvsr.bench.workload import warm_up

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    pipe, description = bench_pipeline(job["model"])
    warm_up(pipe, job["frames"])
    description["threads"] = torch.get_num_threads()
    return pipe, description


def _upscale_job(job: dict) -> dict:
    from patchvsr.bench.workload import timed_upscale

    pipe, _ = _pipeline(job)
    return timed_upscale(
        pipe, job["size"], job["frames"], job["steps"], job["full_frame"], job["batch"]
    )


def _profile_job(job: dict) -> dict:
    """The breakdown, sharing and batching measurements on one warmed-up model."""
    from patchvsr.bench.batching import measure_batching
    from patchvsr.bench.breakdown import time_breakdown
    from patchvsr.bench.sharing import compare_sharing

    pipe, description = _pipeline(job)
    args = (pipe, job["size"], job["frames"], job["steps"])
    return {
        "model": description,
        "breakdown": time_breakdown(*args, job["batch"]),
        "sharing": compare_sharing(*args, job["batch"], job["repeats"]),
        "batching": measure_batching(*args, tuple(job["batch_sizes"]), job["repeats"]),
    }


JOBS = {"upscale": _upscale_job, "profile": _profile_job}


def main(argv: list[str]) -> int:
    from patchvsr.errors import PatchVSRError

    job = json.loads(argv[0])
    try:
        result = JOBS[job["job"]](job)
    except PatchVSRError as err:  # refused before any work, e.g. too large for this machine
        result = {"error": str(err)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
