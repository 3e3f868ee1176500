"""The model configurations in one place: `tiny` (tests), `mini` (its weights shipped
in the package, `patchvsr/models/patchvsr-mini/`), and the
real Wan2.1-T2V-1.3B base, plus what a patch plan needs to know of each (`PlanGeometry`).

A plan depends on two numbers of a model: its base size (patches and the global view) and the
pixels per transformer token (the codec's spatial factor times the transformer's patch), to
which patch edges and the padded frame are aligned. `geometry_for` reads them from the
configuration alone, without weights, so `plan` and the demo show the plan the loaded pipeline
runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Mini's weights travel with the package (package data), so an installed copy runs it too.
MINI_DIR = Path(__file__).resolve().parent / "patchvsr-mini"
PROMPT = "a high quality video, sharp details, natural textures, clean edges"

# -- Wan2.1-T2V-1.3B: the real base (diffusers' config.json of the hub folder) -----------------

WAN_HUB_ID = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
WAN_T2V_1_3B = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=12,
    attention_head_dim=128,
    in_channels=16,
    out_channels=16,
    text_dim=4096,
    freq_dim=256,
    ffn_dim=8960,
    num_layers=30,
    cross_attn_norm=True,
    qk_norm="rms_norm_across_heads",
    eps=1e-6,
)
WAN_TEXT_TOKENS = 512  # the fixed prompt is padded to 512 tokens, as the Wan pipeline does
# Wan2.1 uses flow matching with a timestep shift (3.0 at 480p, 5.0 at 720p); patches are 512,
# close to 480p.
WAN_FLOW_SHIFT = 3.0
# The Wan VAE's precision unless told: `patchvsr.pipeline.codec.VAE_DTYPE_REASON` says why fp32.
VAE_DTYPE = "fp32"
VAE_DTYPE_NAMES = ("fp32", "bf16")
WAN_SETTINGS = dict(
    base_size=512, window=33, window_overlap=8, default_steps=8, default_strength=0.6
)


# -- tiny: random weights, every code path of the real model, sized for tests ------------------

TINY_VAE = dict(
    base_dim=8,
    z_dim=4,
    dim_mult=[1, 1, 1, 1],
    num_res_blocks=1,
    latents_mean=[0.0] * 4,
    latents_std=[1.0] * 4,
)
# The 1.3B's architecture at a toy size (the keys the two do not share are diffusers' defaults).
_TINY_BLOCKS = dict(num_attention_heads=2, attention_head_dim=8, ffn_dim=32, num_layers=2)
_TINY_IO = dict(in_channels=4, out_channels=4, text_dim=16, freq_dim=16, rope_max_seq_len=64)
TINY_TRANSFORMER = WAN_T2V_1_3B | _TINY_BLOCKS | _TINY_IO
TINY_TEXT_TOKENS = 8
# The pipeline's registered settings for tiny.
TINY_SETTINGS = dict(base_size=32, window=9, window_overlap=4)


def tiny_adapter_config(transformer_config) -> dict:
    """An adapter config that fits a base config: the base's sizes, a small branch."""
    c = transformer_config
    return dict(
        dim=c.num_attention_heads * c.attention_head_dim,
        num_heads=c.num_attention_heads,
        ffn_dim=c.ffn_dim,
        num_base_layers=c.num_layers,
        latent_channels=c.in_channels,
        patch_size=tuple(c.patch_size),
        num_patch_layers=1,
        num_global_layers=1,
    )


# -- what a plan needs ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanGeometry:
    """What a patch plan needs to know of a model: its base size (pixels), the pixels per
    transformer token (`align`: patch edges and the padded frame sit on that lattice) and the
    patch size it runs when not told (`patch_size`; None: the base size)."""

    base_size: int
    align: int
    patch_size: int | None = None

    @property
    def default_patch(self) -> int:
        return self.patch_size or self.base_size


# Each autoencoder's spatial factor, from its config: a config.json as saved (with diffusers'
# defaults for the keys it may leave out) or a built model's. `plan` reads the file instead of
# building the model, which keeps diffusers' imports (seconds) out of it; `LatentCodec` reads
# the built model's through the same function, and tests/test_runtime.py holds the two equal.
_SPATIAL_FACTOR = {
    "AutoencoderKLWan": lambda c: int(c.get("scale_factor_spatial", 8)),
    "AutoencoderKL": lambda c: 2 ** (len(c.get("block_out_channels", (64,))) - 1),
    "PixelUnshuffleCodec": lambda c: int(c.get("factor", 4)),
}


def vae_spatial(vae_config, name: str | None = None) -> int:
    """The codec's spatial factor, from an autoencoder's config (no weights); `name` is its
    class (None: the config's `_class_name`, as in a saved config.json)."""
    name = name or vae_config.get("_class_name", "AutoencoderKLWan")
    if name not in _SPATIAL_FACTOR:
        from patchvsr.errors import PatchVSRError

        raise PatchVSRError(f"unsupported autoencoder {name!r}")
    return _SPATIAL_FACTOR[name](vae_config)


def geometry_from_configs(
    transformer: dict, vae: dict, base_size: int, patch_size: int | None = None
) -> PlanGeometry:
    align = vae_spatial(vae) * int(transformer.get("patch_size")[1])
    return PlanGeometry(base_size, align, patch_size)


def geometry_for(model: str) -> PlanGeometry:
    """The plan geometry of a model name (`tiny`, `mini`, `wan2.1-1.3b`) or model folder,
    read from its configuration files only."""
    if model == "tiny":
        return geometry_from_configs(TINY_TRANSFORMER, TINY_VAE, TINY_SETTINGS["base_size"])
    if model == "wan2.1-1.3b":
        return geometry_from_configs(WAN_T2V_1_3B, {}, WAN_SETTINGS["base_size"])
    folder = MINI_DIR if model == "mini" else Path(model)

    def read(name: str) -> dict:
        try:
            return json.loads((folder / name).read_text())
        except (OSError, ValueError) as err:
            from patchvsr.errors import PatchVSRError

            raise PatchVSRError(f"cannot read {name} of the model {model!r}") from err

    index = read("model_index.json")
    base = index.get("base_size", WAN_SETTINGS["base_size"])  # a hub Wan folder: the 1.3B's
    transformer, vae = read("transformer/config.json"), read("vae/config.json")
    return geometry_from_configs(transformer, vae, base, index.get("default_patch_size"))
