"""What `PatchVSRPipeline.from_pretrained` reads: a saved PatchVSR pipeline, or the hub's
Wan2.1 layout, and adapter weights on their own.

- A saved PatchVSR pipeline is diffusers' own layout (`model_index.json` naming
  `PatchVSRPipeline`, one folder per component, the prompt's embedding in `prompt/`), read by
  `DiffusionPipeline.from_pretrained`.
- The hub's Wan2.1 layout (`model_index.json` naming `WanPipeline`): the base transformer, VAE
  and scheduler (the hub's is UniPC with flow shift 3); the text encoder only to compute (once)
  the fixed prompt's embedding, which is cached so later runs need no text encoder at all.
  Without adapter weights it runs training-free, with the adapter off, and says so.

The VAE loads in `vae_dtype` ("fp32" unless told, whatever the model's dtype:
`patchvsr.pipeline.codec.VAE_DTYPE_REASON` says why).

Weights load from safetensors only: a folder holding pickled weights (.bin/.pt/...) is refused
before anything in it is opened.
"""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKLWan, DiffusionPipeline, WanTransformer3DModel
from diffusers.utils import logging as diffusers_logging
from safetensors.torch import load_file, save_file

from patchvsr.errors import PatchVSRError
from patchvsr.method import training_free
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.configs import PROMPT, WAN_SETTINGS, WAN_TEXT_TOKENS
from patchvsr.models.prompt import PromptEmbedding
from patchvsr.pipeline.codec import vae_dtype as codec_vae_dtype
from patchvsr.pipeline.hub import download, prompt_cache_path
from patchvsr.pipeline.scheduling import flow_shift, wan_scheduler

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def refuse_pickles(folder: Path) -> None:
    found = [p for p in folder.rglob("*") if p.suffix.lower() in _PICKLE_SUFFIXES]
    if found:
        raise PatchVSRError(
            f"{folder} holds pickled weights ({found[0].name}); only safetensors are loaded, "
            "convert them first"
        )


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _component(cls, folder: Path, dtype: torch.dtype):
    try:
        return cls.from_pretrained(folder, dtype=dtype, use_safetensors=True).eval()
    except (OSError, ValueError) as err:
        raise PatchVSRError(
            f"cannot load {folder.name} from {folder.parent}: {_first_line(err)}"
        ) from err


def _local(source: str | Path, patterns: list[str]) -> Path:
    """A local folder as is; anything else is a hub id, fetched (these files only)."""
    if Path(source).exists():
        return Path(source)
    return download(str(source), patterns)


def load_adapter(source: str | Path, dtype: torch.dtype) -> PatchVSRAdapter:
    """Adapter weights from a folder or hub id (the adapter's own folder, or a pipeline's)."""
    path = _local(source, ["*.json", "*.safetensors"])
    refuse_pickles(path)
    if (path / "adapter").is_dir():
        path = path / "adapter"
    if not (path / "config.json").exists():
        raise PatchVSRError(f"{source} holds no adapter (no config.json)")
    return _component(PatchVSRAdapter, path, dtype)


def load(
    cls,
    source: str | Path,
    adapter: str | Path | None = None,
    dtype: torch.dtype | None = None,
    vae_dtype: str | torch.dtype | None = None,
    **kwargs,
):
    """`cls.from_pretrained`: see the module docstring. The autoencoder loads in `vae_dtype`
    ("fp32" or "bf16"; None: fp32)."""
    vae_torch_dtype = codec_vae_dtype(vae_dtype)
    folder = _local(source, ["*.json", "*.safetensors", "*.txt"])
    if not folder.is_dir():
        raise PatchVSRError(f"model folder {folder} does not exist")
    refuse_pickles(folder)
    if not (folder / "model_index.json").exists():
        raise PatchVSRError(f"{folder} is not a model folder (no model_index.json)")
    index = json.loads((folder / "model_index.json").read_text())
    dtype = dtype or kwargs.pop("torch_dtype", None) or torch.float32
    for part in ("transformer", "vae"):
        if not (folder / part).is_dir():
            raise PatchVSRError(f"{folder} has no {part}/ folder")
    if not list((folder / "transformer").glob("*.safetensors")):
        raise PatchVSRError(f"{folder / 'transformer'} holds no weights (*.safetensors)")
    if index.get("_class_name") != cls.__name__:
        pipe = load_wan(cls, folder, dtype, adapter, vae_torch_dtype)
    else:
        try:
            diffusers_logging.disable_progress_bar()  # five small folders: no bar
            pipe = DiffusionPipeline.from_pretrained.__func__(
                cls,
                folder,
                dtype={"default": dtype, "vae": vae_torch_dtype},
                use_safetensors=True,
                **kwargs,
            )
        except (OSError, ValueError, TypeError, AttributeError) as err:
            raise PatchVSRError(f"cannot load the model in {folder}: {_first_line(err)}") from err
        finally:
            diffusers_logging.enable_progress_bar()
        if adapter is not None:
            pipe.register_modules(adapter=load_adapter(adapter, dtype))
    if pipe.adapter is not None:
        try:
            pipe.adapter.check_compatible(pipe.transformer.config)
        except ValueError as err:
            raise PatchVSRError(str(err)) from None
    return pipe


def load_wan(
    cls,
    folder: Path,
    dtype: torch.dtype,
    adapter: str | Path | None = None,
    vae_dtype: torch.dtype = torch.float32,
):
    """The hub's Wan2.1 diffusers layout, as a PatchVSR pipeline with the 1.3B's settings and
    the folder's own scheduler."""
    transformer = _component(WanTransformer3DModel, folder / "transformer", dtype)
    vae = _component(AutoencoderKLWan, folder / "vae", vae_dtype)
    adapter_model = load_adapter(adapter, dtype) if adapter else None
    scheduler = folder_scheduler(folder)
    settings = dict(WAN_SETTINGS)
    if adapter_model is None:  # the front ends say what runs (patchvsr.method.training_free)
        settings |= training_free.defaults(flow_shift(scheduler))
    device = torch.device(
        "cuda" if dtype == torch.bfloat16 and torch.cuda.is_available() else "cpu"
    )
    embeds = prompt_embedding(folder, device).to(dtype)
    pipe = cls(
        transformer,
        vae,
        scheduler,
        adapter_model,
        PromptEmbedding.of(embeds),
        **settings,
    )
    pipe.text_encoder_path = folder
    return pipe


def folder_scheduler(folder: Path):
    """The scheduler a Wan folder ships (`scheduler/`, the class its model_index.json names);
    the hub's own (UniPC, flow shift 3) when it has none."""
    index = json.loads((folder / "model_index.json").read_text())
    name = (index.get("scheduler") or [None, None])[1]
    cls = getattr(diffusers, name, None) if name else None
    if cls is None or not (folder / "scheduler").is_dir():
        return wan_scheduler()
    try:
        return cls.from_pretrained(folder / "scheduler")
    except (OSError, ValueError) as err:
        raise PatchVSRError(f"cannot load the scheduler of {folder}: {_first_line(err)}") from err


def prompt_embedding(
    folder: Path,
    device: torch.device | str = "cpu",
    max_length: int = WAN_TEXT_TOKENS,
    text: str = PROMPT,
) -> torch.Tensor:
    """The embedding (1, max_length, text_dim) of `text` (default: the fixed prompt), fp32 on
    the CPU: from the cache, else computed with the folder's text encoder (bf16 on CUDA) and
    cached. Padded with zeros to `max_length` tokens as the Wan pipeline does."""
    cache = prompt_cache_path(folder, text)
    if cache.exists():
        return load_file(cache)["prompt_embeds"]
    if not (folder / "text_encoder").is_dir() or not (folder / "tokenizer").is_dir():
        raise PatchVSRError(
            f"{folder} has no text_encoder/tokenizer and no cached prompt embedding at {cache}"
        )
    from transformers import AutoTokenizer, UMT5EncoderModel

    device = torch.device(device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    encoder = UMT5EncoderModel.from_pretrained(
        folder / "text_encoder", torch_dtype=dtype, use_safetensors=True
    )
    encoder = encoder.to(device).eval()
    ids = tokenizer(
        text, padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
    ).to(device)
    with torch.no_grad():
        hidden = encoder(ids.input_ids, attention_mask=ids.attention_mask).last_hidden_state
    length = int(ids.attention_mask.sum())
    embeds = torch.zeros_like(hidden, dtype=torch.float32, device="cpu")
    embeds[:, :length] = hidden[:, :length].float().cpu()
    del encoder
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    save_file({"prompt_embeds": embeds.contiguous()}, tmp)
    tmp.replace(cache)
    return embeds
