"""The fixed prompt's embedding as a pipeline component.

PatchVSR always conditions the base model on one prompt ("a high quality video, ..."), so its
text-encoder output is computed once and kept as a (1, L, text_dim) tensor. Making it a
component means `save_pretrained` / `from_pretrained` carry it like any weights, and a saved
pipeline needs no text encoder at all.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from patchvsr.models.configs import PROMPT


class PromptEmbedding(ModelMixin, ConfigMixin):
    @register_to_config
    def __init__(self, num_tokens: int = 512, dim: int = 4096, prompt: str = PROMPT) -> None:
        super().__init__()
        self.embeds = torch.nn.Parameter(torch.zeros(1, num_tokens, dim), requires_grad=False)

    @classmethod
    def of(cls, embeds: torch.Tensor, prompt: str = PROMPT) -> PromptEmbedding:
        """A component holding `embeds` (1, L, D)."""
        module = cls(embeds.shape[1], embeds.shape[2], prompt)
        module.embeds.data = embeds.detach().clone()
        return module.eval()
