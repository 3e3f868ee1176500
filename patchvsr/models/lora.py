"""LoRA on the base transformer's attention (the paper's base tuning), with peft.

Only the base's self- and text cross-attention projections are adapted; the adapter is a
separate model, so its own layers are never wrapped and train in full.
"""

from __future__ import annotations

from diffusers import WanTransformer3DModel
from peft import LoraConfig

ADAPTER_NAME = "patchvsr"
# Attention projections of the base blocks only: not the FFNs, not the embeddings.
TARGET_MODULES = r".*blocks\.\d+\.attn[12]\.(to_q|to_k|to_v|to_out\.0)"


def add_base_lora(
    transformer: WanTransformer3DModel, rank: int = 16, alpha: int | None = None
) -> None:
    """Wrap the base attention projections with LoRA of the given rank (B zero-initialised,
    so the model's output is unchanged until it trains)."""
    config = LoraConfig(
        r=rank, lora_alpha=alpha or rank, target_modules=TARGET_MODULES, init_lora_weights=True
    )
    transformer.add_adapter(config, adapter_name=ADAPTER_NAME)


def lora_parameter_names(transformer: WanTransformer3DModel) -> list[str]:
    return [n for n, _ in transformer.named_parameters() if "lora_" in n]
