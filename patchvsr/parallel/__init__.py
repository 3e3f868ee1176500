"""Upscaling on several processes (torchrun, accelerate launch): patches of a step and
windows of a clip shared out over a torch.distributed process group.

The names of `group` and `steps` load their module (and torch) on first use, so importing
this package (which the job runner does) costs nothing where a request is only checked.
`balance` needs no torch, and is imported here: its function `balance` must win over the
submodule of that name."""

import importlib

from patchvsr.parallel.balance import Balance, balance, choose_mode, shard_by_tokens

_LAZY = {
    "Group": "group",
    "PeerLost": "group",
    "current": "group",
    "local": "group",
    "start_group": "group",
    "fuse": "steps",
    "patch_indices": "steps",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


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
