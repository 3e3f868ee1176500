"""The base blocks' text cross-attention, extended with the global branch's keys/values.

Installed on every `attn2` of the base. With no global context set it *is* the stock Wan
processor (so the base behaves exactly as before); with one, the same query also attends to
the global tokens (K_g, V_g) and the two results are summed, as Wan's image-to-video
cross-attention does, but with explicit lengths instead of its hard-coded 512 text tokens.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.transformers.transformer_wan import WanAttnProcessor, _get_qkv_projections


class GlobalState:
    """What the processors of one model read while one base block runs.

    `key_value` is set by `PatchVSRTransformer` around each block call, inside the function
    that gradient checkpointing recomputes: a recomputed block sees the same keys/values as
    the first pass (they are that function's inputs), never a context already cleared."""

    def __init__(self) -> None:
        self.key_value: tuple[torch.Tensor, torch.Tensor] | None = None  # (B, Ng, dim) each


class GlobalCrossAttnProcessor(WanAttnProcessor):
    def __init__(self, state: GlobalState) -> None:
        super().__init__()
        self.state = state

    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None
    ):
        if self.state.key_value is None:
            return super().__call__(
                attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb
            )

        query, key, value = _get_qkv_projections(attn, hidden_states, encoder_hidden_states)
        query = attn.norm_q(query).unflatten(2, (attn.heads, -1))  # (B, N, heads, d)
        key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))

        key_g, value_g = self.state.key_value
        key_g = key_g.to(query.dtype).unflatten(2, (attn.heads, -1))  # (B, Ng, heads, d)
        value_g = value_g.to(query.dtype).unflatten(2, (attn.heads, -1))

        out_g = dispatch_attention_fn(
            query, key_g, value_g, attn_mask=None, dropout_p=0.0, is_causal=False
        )
        out_g = out_g.flatten(2, 3).type_as(query)
        out = dispatch_attention_fn(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False
        )
        out = out.flatten(2, 3).type_as(query) + out_g
        out = attn.to_out[0](out)
        return attn.to_out[1](out)
