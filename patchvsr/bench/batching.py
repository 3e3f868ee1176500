"""Patch throughput against the number of patches per forward pass.

Larger batches feed the matrix units bigger products and pay the per-call costs (Python,
kernel launches, the text and timestep embeddings) once per batch; the price is working
memory, which grows with the batch. One process runs every batch size, each timed alone with
its own peak-memory section.
"""

from __future__ import annotations

from patchvsr.bench.workload import timed_upscale
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline


def measure_batching(
    pipe: PatchVSRPipeline,
    size: int,
    frames: int,
    steps: int,
    batch_sizes: tuple[int, ...],
    repeats: int = 1,
) -> dict:
    """Every batch size `repeats` times, in rounds; the fastest run of each counts."""
    runs: dict[int, list[dict]] = {b: [] for b in batch_sizes}
    for _ in range(repeats):
        for batch in batch_sizes:
            runs[batch].append(timed_upscale(pipe, size, frames, steps, False, batch))
    rows = []
    for batch in batch_sizes:
        r = min(runs[batch], key=lambda run: run["denoise_seconds"])
        patches = r["evaluations_per_step"] * steps
        rows.append(
            {
                "batch": batch,
                "denoise_seconds": r["denoise_seconds"],
                "patches_per_second": patches / r["denoise_seconds"],
                "step_peak_bytes": _largest(run["step_peak_bytes"] for run in runs[batch]),
            }
        )
    best = max(rows, key=lambda r: r["patches_per_second"])
    return {
        "size": size,
        "evaluations_per_step": patches // steps,
        "rows": rows,
        "best_batch": best["batch"],
        "speedup_over_batch_1": best["patches_per_second"] / rows[0]["patches_per_second"]
        if rows[0]["batch"] == 1
        else None,
    }


def _largest(values) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
