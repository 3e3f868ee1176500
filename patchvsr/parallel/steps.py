"""Patch-parallel denoising: the pipeline's two calls into the process group.

Inside a process group each process evaluates its share of a step's patches
(`patch_indices`, balanced by tokens) and adds their weighted predictions onto its own
canvas; `fuse` sums the canvases of all processes. The grid's weights already sum to one
at every latent cell, so the sum is the fused prediction, and every process then takes the
same scheduler step on the same canvas (same seed everywhere, so the canvases never part).
Outside a group, or inside `parallel.local()`, both calls change nothing.
"""

from __future__ import annotations

import torch

from patchvsr.method.grid import PatchPlan
from patchvsr.parallel.balance import patch_tokens, shard_by_tokens
from patchvsr.parallel.group import current, sum_across


def patch_indices(plan_latent: PatchPlan, token_hw: tuple[int, int] = (1, 1)) -> list[int]:
    """Indices of the patches of `plan_latent` this process evaluates (all when alone)."""
    group = current()
    if group is None:
        return list(range(len(plan_latent.patches)))
    return shard_by_tokens(patch_tokens(plan_latent, token_hw), group.world)[group.rank]


def fuse(fused: torch.Tensor) -> torch.Tensor:
    """The sum of every process's partial canvas (the canvas itself when alone)."""
    group = current()
    if group is None:
        return fused
    # Summed in fp32: bf16 partial sums would round differently from a single process.
    total = sum_across(fused.float(), group)
    return total.to(fused.dtype)
