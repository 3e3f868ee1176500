"""PatchVSR models: the adapter, the combined transformer, and the pixel-space codec."""

from patchvsr.models.adapter import GlobalContext, PatchVSRAdapter
from patchvsr.models.transformer import PatchVSRTransformer

__all__ = ["GlobalContext", "PatchVSRAdapter", "PatchVSRTransformer"]
