"""A tiny, random base in the hub's exact Wan2.1-T2V layout, for the full-size recipe on a CPU.

`configs/tiny-wan.toml` trains on it with every setting of `configs/wan2.1-1.3b.toml` (the
pretrained kind, LoRA on a frozen base, the Wan VAE, a text encoder run once, gradient
checkpointing), so the 1.3B route is exercised end to end in seconds. The folder ships in
`assets/tiny-wan/` (about 0.3 MB); `python -m patchvsr.train.tiny_wan DIR` writes it again.

    DIR/model_index.json
    DIR/transformer/   WanTransformer3DModel       (config.json, safetensors)
    DIR/vae/           AutoencoderKLWan
    DIR/scheduler/     UniPCMultistepScheduler     (as the hub's; PatchVSR uses flow matching)
    DIR/text_encoder/  UMT5EncoderModel
    DIR/tokenizer/     a word-level tokenizer that knows the fixed prompt's words
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from patchvsr.models.configs import TINY_TRANSFORMER, TINY_VAE

# The tiny test model's sizes (patchvsr.models.configs), a little wider.
TRANSFORMER = TINY_TRANSFORMER | dict(attention_head_dim=16, ffn_dim=64)
MODEL_INDEX = {
    "_class_name": "WanPipeline",
    "_diffusers_version": "0.42.1",
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
}


def _write_tokenizer(folder: Path) -> int:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from patchvsr.models.configs import PROMPT

    special = ["<pad>", "</s>", "<unk>"]
    words = sorted(set(PROMPT.replace(",", " ").split()))
    vocab = {token: i for i, token in enumerate(special + words)}
    model = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    model.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=model, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(folder)
    return len(vocab)


def write_tiny_wan(folder: str | Path, seed: int = 0, transformer: dict | None = None) -> Path:
    """Write the tiny base (random weights, deterministic in `seed`) into `folder`;
    `transformer` overrides the transformer's configuration."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    folder = Path(folder)
    torch.manual_seed(seed)
    transformer = transformer or TRANSFORMER
    WanTransformer3DModel(**transformer).save_pretrained(folder / "transformer")
    AutoencoderKLWan(**TINY_VAE).save_pretrained(folder / "vae")
    UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
    ).save_pretrained(folder / "scheduler")
    vocab = _write_tokenizer(folder / "tokenizer")
    text = UMT5Config(
        vocab_size=vocab,
        d_model=transformer["text_dim"],
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
    )
    UMT5EncoderModel(text).save_pretrained(folder / "text_encoder")
    (folder / "model_index.json").write_text(json.dumps(MODEL_INDEX, indent=2) + "\n")
    return folder


if __name__ == "__main__":
    print(write_tiny_wan(sys.argv[1] if len(sys.argv) > 1 else "assets/tiny-wan"))
