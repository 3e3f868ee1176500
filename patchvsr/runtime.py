"""Loading PatchVSR models by name: `tiny`, `mini`, `wan2.1-1.3b`, or a folder.

- `tiny`: random weights made at run time (tests, CI), every code path of the real model.
- `mini`: the small model trained by this project, shipped in `assets/patchvsr-mini/`.
- `wan2.1-1.3b`: the real Wan2.1 base from the hub (or a local folder with the hub's layout),
  plus adapter weights from `adapter=` (a folder or hub id); without them it runs training-free
  with the adapter off, and says so.
- a folder: our own layout (`patchvsr.json`, `transformer/`, `vae/`, `scheduler/`, optional
  `adapter/`, `prompt_embeds.safetensors`) or the hub's Wan layout (`model_index.json`, ...).

Weights load from safetensors only: a folder holding pickled weights (.bin/.pt/...) is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLWan,
    FlowMatchEulerDiscreteScheduler,
    WanTransformer3DModel,
)
from safetensors.torch import load_file, save_file

from patchvsr.errors import PatchVSRError
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.pixel_codec import PixelUnshuffleCodec
from patchvsr.pipeline import PatchVSRPipeline

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MINI_DIR = ASSETS / "patchvsr-mini"
WAN_HUB_ID = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
PROMPT = "a high quality video, sharp details, natural textures, clean edges"
BUILTIN = ("tiny", "mini", "wan2.1-1.3b")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_VAE_CLASSES = {c.__name__: c for c in (AutoencoderKLWan, AutoencoderKL, PixelUnshuffleCodec)}
_SETTINGS = ("base_size", "window", "window_overlap")


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise PatchVSRError("--device cuda was asked for, but no CUDA GPU is available")
    if device not in ("cpu", "cuda"):
        raise PatchVSRError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def default_dtype(device: torch.device) -> torch.dtype:
    """fp32 on CPU (bf16 matmuls are slow there), bf16 on CUDA."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


# -- tiny ---------------------------------------------------------------------------------

TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2),
    num_attention_heads=2,
    attention_head_dim=8,
    in_channels=4,
    out_channels=4,
    text_dim=16,
    freq_dim=16,
    ffn_dim=32,
    num_layers=2,
    rope_max_seq_len=64,
)
TINY_VAE = dict(
    base_dim=8,
    z_dim=4,
    dim_mult=[1, 1, 1, 1],
    num_res_blocks=1,
    latents_mean=[0.0] * 4,
    latents_std=[1.0] * 4,
)


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


def build_tiny(seed: int = 0, with_adapter: bool = True) -> PatchVSRPipeline:
    """A randomly initialised pipeline with every part of the real one, sized for tests.

    The adapter's zero-initialised outputs are given small random values so that each branch
    really changes the result (a zero adapter is tested separately)."""
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(**TINY_TRANSFORMER).eval()
    vae = AutoencoderKLWan(**TINY_VAE).eval()
    adapter = None
    if with_adapter:
        adapter = PatchVSRAdapter(**tiny_adapter_config(transformer.config)).eval()
        for p in adapter.parameters():
            if (p == 0).all():
                torch.nn.init.normal_(p, std=0.5)
    pipe = PatchVSRPipeline(transformer, vae, FlowMatchEulerDiscreteScheduler(shift=1.0), adapter)
    pipe.prompt_embeds = torch.randn(
        1, 8, TINY_TRANSFORMER["text_dim"], generator=torch.Generator().manual_seed(seed)
    )
    pipe.base_size, pipe.window, pipe.window_overlap = 32, 9, 4
    return pipe


# -- folders ------------------------------------------------------------------------------


def refuse_pickles(folder: Path) -> None:
    found = [p for p in folder.rglob("*") if p.suffix.lower() in _PICKLE_SUFFIXES]
    if found:
        raise PatchVSRError(
            f"{folder} holds pickled weights ({found[0].name}); only safetensors are loaded, "
            "convert them first"
        )


def save_pipeline(pipe: PatchVSRPipeline, folder: str | Path, defaults: dict | None = None) -> Path:
    """Write a pipeline in PatchVSR's folder layout (safetensors only)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.transformer.save_pretrained(folder / "transformer", safe_serialization=True)
    pipe.vae.save_pretrained(folder / "vae", safe_serialization=True)
    pipe.scheduler.save_pretrained(folder / "scheduler")
    if pipe.adapter is not None:
        pipe.adapter.save_pretrained(folder / "adapter", safe_serialization=True)
    save_file(
        {"prompt_embeds": pipe.prompt_embeds.contiguous().float().cpu()},
        folder / "prompt_embeds.safetensors",
    )
    settings = {k: getattr(pipe, k) for k in _SETTINGS} | {
        "prompt": PROMPT,
        "defaults": defaults or {},
    }
    (folder / "patchvsr.json").write_text(json.dumps(settings, indent=2) + "\n")
    return folder


def _load_component(cls, folder: Path, dtype: torch.dtype):
    try:
        return cls.from_pretrained(folder, torch_dtype=dtype, use_safetensors=True)
    except (OSError, ValueError) as err:
        raise PatchVSRError(
            f"cannot load {folder.name} from {folder.parent}: {str(err).splitlines()[0]}"
        ) from err


def load_adapter(source: str | Path, dtype: torch.dtype) -> PatchVSRAdapter:
    path = Path(source)
    if not path.exists():
        path = _download(str(source), ["*.json", "*.safetensors"])
    refuse_pickles(path)
    if (path / "adapter").is_dir():
        path = path / "adapter"
    if not (path / "config.json").exists():
        raise PatchVSRError(f"{source} holds no adapter (no config.json)")
    return _load_component(PatchVSRAdapter, path, dtype)


def load_folder(
    folder: str | Path, device: torch.device, dtype: torch.dtype, adapter: str | None = None
) -> PatchVSRPipeline:
    folder = Path(folder)
    if not folder.is_dir():
        raise PatchVSRError(f"model folder {folder} does not exist")
    refuse_pickles(folder)
    if (folder / "patchvsr.json").exists():
        pipe = _load_own_layout(folder, dtype, adapter)
    elif (folder / "model_index.json").exists():
        pipe = _load_wan_layout(folder, dtype, adapter)
    else:
        raise PatchVSRError(
            f"{folder} is not a model folder (no patchvsr.json or model_index.json)"
        )
    if pipe.adapter is not None:
        try:
            pipe.adapter.check_compatible(pipe.transformer.config)
        except ValueError as err:
            raise PatchVSRError(str(err)) from err
    return pipe.to(device)


def _load_own_layout(folder: Path, dtype: torch.dtype, adapter: str | None) -> PatchVSRPipeline:
    settings = json.loads((folder / "patchvsr.json").read_text())
    for part in ("transformer", "vae", "scheduler"):
        if not (folder / part).is_dir():
            raise PatchVSRError(f"{folder} has no {part}/ folder")
    if not list((folder / "transformer").glob("*.safetensors")):
        raise PatchVSRError(f"{folder / 'transformer'} holds no weights (*.safetensors)")
    vae_class = json.loads((folder / "vae" / "config.json").read_text()).get("_class_name")
    if vae_class not in _VAE_CLASSES:
        raise PatchVSRError(f"unsupported autoencoder {vae_class!r} in {folder / 'vae'}")
    transformer = _load_component(WanTransformer3DModel, folder / "transformer", dtype)
    vae = _load_component(
        _VAE_CLASSES[vae_class],
        folder / "vae",
        torch.float32 if vae_class != "AutoencoderKLWan" else dtype,
    )
    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(folder / "scheduler")
    adapter_model = None
    if adapter is not None:
        adapter_model = load_adapter(adapter, dtype)
    elif (folder / "adapter").is_dir():
        adapter_model = _load_component(PatchVSRAdapter, folder / "adapter", dtype)
    pipe = PatchVSRPipeline(
        transformer.eval(), vae.eval(), scheduler, adapter_model.eval() if adapter_model else None
    )
    pipe.prompt_embeds = load_file(folder / "prompt_embeds.safetensors")["prompt_embeds"].to(dtype)
    for key in _SETTINGS:
        setattr(pipe, key, settings.get(key, getattr(pipe, key)))
    pipe.defaults = settings.get("defaults", {})
    return pipe


def _load_wan_layout(folder: Path, dtype: torch.dtype, adapter: str | None) -> PatchVSRPipeline:
    """The hub's Wan2.1 diffusers layout: base transformer and VAE, the text encoder only to
    compute (once) the fixed prompt's embedding."""
    for part in ("transformer", "vae"):
        if not (folder / part).is_dir():
            raise PatchVSRError(f"{folder} has no {part}/ folder")
    transformer = _load_component(WanTransformer3DModel, folder / "transformer", dtype)
    vae = _load_component(AutoencoderKLWan, folder / "vae", torch.float32)
    # Wan2.1 uses flow matching with a timestep shift (3.0 at 480p, 5.0 at 720p); patches are
    # 512, close to 480p.
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    adapter_model = load_adapter(adapter, dtype) if adapter else None
    if adapter_model is None:
        logger.warning("no adapter weights given: running training-free, adapter off")
    pipe = PatchVSRPipeline(
        transformer.eval(), vae.eval(), scheduler, adapter_model.eval() if adapter_model else None
    )
    pipe.prompt_embeds = prompt_embedding(folder, dtype)
    pipe.defaults = {"steps": 8, "strength": 0.6}
    return pipe


def prompt_cache_path(folder: Path) -> Path:
    config = (
        (folder / "text_encoder" / "config.json").read_bytes()
        if (folder / "text_encoder" / "config.json").exists()
        else b""
    )
    key = hashlib.sha256(config + PROMPT.encode()).hexdigest()[:16]
    root = Path(os.environ.get("PATCHVSR_CACHE", Path.home() / ".cache" / "patchvsr"))
    return root / f"prompt-{key}.safetensors"


def prompt_embedding(folder: Path, dtype: torch.dtype, max_length: int = 512) -> torch.Tensor:
    """The fixed prompt's embedding, computed with the folder's text encoder once and cached,
    so later runs need no text encoder at all. Padded with zeros to `max_length` tokens as
    the Wan pipeline does."""
    cache = prompt_cache_path(folder)
    if cache.exists():
        return load_file(cache)["prompt_embeds"].to(dtype)
    if not (folder / "text_encoder").is_dir() or not (folder / "tokenizer").is_dir():
        raise PatchVSRError(
            f"{folder} has no text_encoder/tokenizer and no cached prompt embedding at {cache}"
        )
    from transformers import AutoTokenizer, UMT5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    encoder = UMT5EncoderModel.from_pretrained(folder / "text_encoder", use_safetensors=True).eval()
    ids = tokenizer(
        PROMPT, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = encoder(ids.input_ids, attention_mask=ids.attention_mask).last_hidden_state
    length = int(ids.attention_mask.sum())
    embeds = torch.zeros_like(hidden)
    embeds[:, :length] = hidden[:, :length]
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    save_file({"prompt_embeds": embeds.contiguous().float()}, tmp)
    tmp.replace(cache)
    return embeds.to(dtype)


def _download(repo_id: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as err:  # offline, unknown id, no network: one line for the user
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise PatchVSRError(
            f"cannot fetch {repo_id} from the model hub{offline}: {type(err).__name__}"
        ) from err


# -- by name ------------------------------------------------------------------------------


def load_pipeline(
    model: str = "mini",
    device: str = "auto",
    dtype: torch.dtype | None = None,
    adapter: str | None = None,
) -> PatchVSRPipeline:
    """A ready pipeline for a model name or folder, on `device`."""
    dev = resolve_device(device)
    dtype = dtype or default_dtype(dev)
    if model == "tiny":
        return build_tiny().to(dev)
    if model == "mini":
        if not (MINI_DIR / "patchvsr.json").exists():
            raise PatchVSRError(f"the mini model is not installed ({MINI_DIR} is missing)")
        return load_folder(MINI_DIR, dev, torch.float32 if dev.type == "cpu" else dtype, adapter)
    if model == "wan2.1-1.3b":
        folder = _download(
            WAN_HUB_ID,
            ["model_index.json", "transformer/*", "vae/*", "text_encoder/*", "tokenizer/*"],
        )
        return load_folder(folder, dev, dtype, adapter)
    if Path(model).exists():
        return load_folder(model, dev, dtype, adapter)
    raise PatchVSRError(
        f"unknown model {model!r}: use one of {', '.join(BUILTIN)} or a model folder"
    )


# -- as a pluggable upscaler for the job runner ---------------------------------------------


class PatchVSRUpscaler:
    """A loaded pipeline behind the job runner's `Upscaler` interface."""

    def __init__(
        self,
        pipe: PatchVSRPipeline,
        name: str,
        steps: int | None = None,
        strength: float | None = None,
        patch_size: int | None = None,
        colour: bool = True,
        batch_size: int | None = None,
    ) -> None:
        defaults = getattr(pipe, "defaults", {}) or {}
        self.pipe = pipe
        self.name = name
        self.steps = steps or defaults.get("steps", 4)
        self.strength = strength or defaults.get("strength", 1.0)
        self.patch_size = patch_size
        self.colour = "wavelet" if colour else "none"
        self.batch_size = batch_size
        self.window = pipe.window
        self.overlap = pipe.window_overlap

    def upscale(self, frames, out_size, *, seed: int = 0, progress=None):
        out = self.pipe(
            frames,
            size=tuple(out_size),
            num_inference_steps=self.steps,
            strength=self.strength,
            patch_size=self.patch_size,
            generator=torch.Generator().manual_seed(seed),
            colour_correction=self.colour,
            batch_size=self.batch_size,
            progress=progress,
        )
        return out.frames


def load_upscaler(
    name: str,
    steps: int | None = None,
    strength: float | None = None,
    patch_size: int | None = None,
    device: str = "auto",
    colour: bool = True,
    batch_size: int | None = None,
    adapter: str | None = None,
    **_ignored,
) -> PatchVSRUpscaler:
    pipe = load_pipeline(name, device=device, adapter=adapter)
    if patch_size is not None and patch_size % pipe.align:
        raise PatchVSRError(
            f"--patch must be a multiple of {pipe.align} for this model, got {patch_size}"
        )
    return PatchVSRUpscaler(pipe, name, steps, strength, patch_size, colour, batch_size)
