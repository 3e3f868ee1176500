"""Upscaling on several processes (torchrun, accelerate launch): patches of a step and
windows of a clip shared out over a torch.distributed process group."""

from patchvsr.parallel.balance import Balance, balance, choose_mode, shard_by_tokens
from patchvsr.parallel.group import Group, PeerLost, current, local, start_group
from patchvsr.parallel.steps import fuse, patch_indices

__all__ = [
    "Balance",
    "Group",
    "PeerLost",
    "balance",
    "choose_mode",
    "current",
    "fuse",
    "local",
    "patch_indices",
    "shard_by_tokens",
    "start_group",
]
