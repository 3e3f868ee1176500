"""PatchVSR models: the adapter, the combined transformer, the pixel-space codec, the prompt
embedding, and the model configurations (`configs`).

The classes load on first use, so reading a configuration does not import diffusers."""

from __future__ import annotations

import importlib

_WHERE = {
    "GlobalKeysValues": "patchvsr.models.adapter",
    "PatchVSRAdapter": "patchvsr.models.adapter",
    "PatchVSRTransformer": "patchvsr.models.transformer",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'patchvsr.models' has no attribute {name!r}")
