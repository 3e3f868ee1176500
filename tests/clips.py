"""Clips the tests make: real structure for a model to work on, no file needed.

The benchmarks' clip (`patchvsr.bench.workload.bench_clip`) is the one maker: tests and
benchmarks run the model on the same kind of picture."""

from __future__ import annotations

from patchvsr.bench.workload import bench_clip as synthetic_clip

__all__ = ["synthetic_clip"]
