"""Training configuration: a TOML file with four tables, checked key by key.

    [run]    name, out, seed, max_steps, time_budget, log_every, checkpoint_every, sample_every,
             holdout, workers, device, mixed_precision
    [model]  what to train: a model from scratch sized here ("scratch": the mini and tiny
             models) or a pre-trained base plus adapter ("pretrained"), and which parts train
    [data]   sources, clip length, scenes, patch size, scales, degradations, zoom, pan
    [optim]  batch size, gradient accumulation, AdamW, schedule, EMA, timestep sampler,
             gradient checkpointing

Every default lives in the dataclasses below; a config only says what differs. A bad key or
value is one line naming it (`optim.lr must be a positive number, got -1`), raised as
`PatchVSRError`, so `python -m patchvsr train` prints it and exits with code 2.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from patchvsr.errors import PatchVSRError
from patchvsr.method.grid import SCHEMES
from patchvsr.train.degrade import KINDS


@dataclass
class RunConfig:
    name: str = "run"
    out: str = "runs/{name}"  # run folder; "{name}" is replaced by the run name
    seed: int = 0
    max_steps: int = 1000
    time_budget: float = 0.0  # seconds of training, 0 for none; stops cleanly and saves
    log_every: int = 10
    checkpoint_every: int = 500
    sample_every: int = 0  # sample-comparison PNG every N steps (0: only at the end)
    holdout: list[str] = field(default_factory=list)  # media for the sample comparison
    # Start a new run from these weights (a checkpoint's weights.safetensors): fine-tuning, or
    # going on with another recipe; schedule, EMA and optimizer start afresh.
    init_weights: str = ""
    workers: int = -1  # DataLoader processes; -1: automatic (0 on CPU, up to 14 on CUDA)
    device: str = "auto"
    mixed_precision: str = "auto"  # "auto" (bf16 on CUDA, fp32 on CPU) | "bf16" | "no"


@dataclass
class ModelConfig:
    kind: str = "scratch"  # "scratch": random init, sized below | "pretrained": `base`
    base: str = ""  # pretrained base: "wan2.1-1.3b" or a model folder
    # "all" | "adapter+lora" (base frozen, the paper's recipe) | "detail" (the detail head
    # alone, the transformer silenced: the first stage of a model with a head) |
    # "detail+output" (the head and the transformer's last layer: the second stage)
    trainable: str = "all"
    lora_rank: int = 16
    # Base transformer (scratch only): a WanTransformer3DModel of these sizes.
    dim: int = 128
    num_heads: int = 4
    num_layers: int = 4
    ffn_dim: int = 384
    text_dim: int = 64
    freq_dim: int = 64
    text_tokens: int = 8  # length of the fixed (learned-through) prompt embedding
    patch_size: list[int] = field(default_factory=lambda: [1, 2, 2])
    # Autoencoder (scratch only): "pixel" (PixelUnshuffleCodec) or "wan" (a small, random Wan VAE).
    codec: str = "pixel"
    codec_factor: int = 4
    # Adapter.
    num_patch_layers: int = 1
    num_global_layers: int = 1
    # How the patch branch's blocks start: "random", or "copy" of the base block each one
    # mirrors (the first base block it feeds; ControlNet/VACE practice). Pretrained bases.
    init_patch_blocks: str = "random"
    cond_noise_timestep: float = 250.0
    predict_residual: bool = True
    prediction_type: str = "velocity"  # "velocity" (Wan's) | "sample" (x0; for small models)
    # A convolutional detail head that sharpens the residual's base (models/detail.py):
    # channels (0: none) and residual blocks.
    detail_channels: int = 0
    detail_blocks: int = 2
    # The head takes a denoise level, trained with each item's degradation level (FiLM).
    detail_levels: bool = False
    # The head's correction loses any pattern of this period (the codec's factor; 0: off).
    detail_pitch: int = 0
    # trainable = "detail" sets the transformer's last layer to zero (the head alone is the
    # model) unless this keeps it as run.init_weights gives it: the head is then fine-tuned
    # under it, its target what the frozen transformer's one-step output leaves.
    keep_transformer: bool = False
    # Pipeline settings saved with the model (a pretrained base's too: set them to its own).
    base_size: int = 128
    window: int = 8
    window_overlap: int = 2
    scheduler_shift: float = 1.0
    steps: int = 2  # inference defaults written to the pipeline config
    strength: float = 0.5
    clip_noise: bool = False  # one noise field per clip at inference (temporal_detail.clip_noise)
    steady_detail: bool = False  # detail averaged over still frames (temporal_detail.steady_detail)
    clean_input: bool = False  # the denoise control's input filter (method.clean_input)
    flat_guard: float = 0.0  # the denoise control's flat-area guard, levels (method.flat_guard)
    inference_patch: int = 0  # patch size at inference when not told (0: base_size)
    scheme: str = ""  # grid at inference when not told ("": grid.default_scheme of the steps)


@dataclass
class DataConfig:
    sources: list[str] = field(default_factory=list)
    frames: int = 8
    scenes: list[list[int]] = field(default_factory=lambda: [[256, 256]])
    patch: int = 128
    scales: list[int] = field(default_factory=lambda: [4])
    degradations: dict[str, float] = field(default_factory=lambda: {"bilinear": 1.0})
    video_fraction: float = 0.5
    zoom: list[float] = field(default_factory=lambda: [1.0, 2.0])
    native_fraction: float = 0.5  # clips cut at zoom 1 (plain crops, no resampling)
    max_pan: float = 3.0
    patches_per_scene: int = 1  # patches cut from each scene (cheaper batches)
    max_video_frames: int = 600
    clean_input: float = 0.0  # the denoise filter's level on every input (0: off)


@dataclass
class OptimConfig:
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    warmup_steps: int = 100
    schedule: str = "cosine"  # "cosine" (to min_lr_ratio at the horizon) | "constant"
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    timestep_sampler: str = "uniform"  # "uniform" | "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    timestep_shift: float = 1.0  # > 1 draws more high-noise samples (SD3's shift)
    gradient_checkpointing: bool = False
    # Micro-batches per optimizer step; the effective batch is batch_size x this.
    gradient_accumulation: int = 1


@dataclass
class TrainConfig:
    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    path: str = ""  # the file it was read from (for messages and relative paths)

    @property
    def align(self) -> int:
        """Output pixels per token of the model being trained (scratch sizes)."""
        m = self.model
        factor = m.codec_factor if m.kind == "scratch" and m.codec == "pixel" else 8
        return factor * m.patch_size[1]

    def run_dir(self) -> Path:
        return Path(self.run.out.replace("{name}", self.run.name))

    def to_dict(self) -> dict:
        return {k: dataclasses.asdict(getattr(self, k)) for k in ("run", "model", "data", "optim")}


_SECTIONS = {"run": RunConfig, "model": ModelConfig, "data": DataConfig, "optim": OptimConfig}


def _fail(key: str, why: str) -> PatchVSRError:
    return PatchVSRError(f"config: {key} {why}")


def _coerce(key: str, value: Any, default: Any) -> Any:
    """`value` as the type of `default`, or a one-line error naming `key`."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _fail(key, f"must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(key, f"must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _fail(key, f"must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise _fail(key, f"must be a string, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise _fail(key, f"must be a list, got {value!r}")
        return value
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise _fail(key, f"must be a table, got {value!r}")
        return value
    return value


def _section(name: str, table: Any) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(table, dict):
        raise _fail(f"[{name}]", "must be a table")
    obj = cls()
    known = {f.name for f in dataclasses.fields(cls)}
    for key, value in table.items():
        if key not in known:
            raise _fail(f"{name}.{key}", f"is not a known key (known: {', '.join(sorted(known))})")
        setattr(obj, key, _coerce(f"{name}.{key}", value, getattr(obj, key)))
    return obj


def _positive(key: str, value: float, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        raise _fail(key, f"must be {'non-negative' if zero_ok else 'positive'}, got {value}")


def _choice(key: str, value: str, choices) -> None:
    if value not in choices:
        raise _fail(key, f"must be one of {', '.join(choices)}, got {value!r}")


def validate(cfg: TrainConfig) -> TrainConfig:
    r, m, d, o = cfg.run, cfg.model, cfg.data, cfg.optim
    _positive("run.max_steps", r.max_steps)
    _positive("run.time_budget", r.time_budget, zero_ok=True)
    _positive("run.log_every", r.log_every)
    _positive("run.checkpoint_every", r.checkpoint_every)
    _positive("run.sample_every", r.sample_every, zero_ok=True)
    _choice("run.device", r.device, ("auto", "cpu", "cuda"))
    _choice("run.mixed_precision", r.mixed_precision, ("auto", "bf16", "no"))
    if not r.name or "/" in r.name:
        raise _fail("run.name", f"must be a plain non-empty name, got {r.name!r}")

    _choice("model.kind", m.kind, ("scratch", "pretrained"))
    _choice("model.trainable", m.trainable, ("all", "adapter+lora", "detail", "detail+output"))
    if m.trainable.startswith("detail") and not m.detail_channels:
        raise _fail(
            "model.trainable", f"'{m.trainable}' trains the detail head: set model.detail_channels"
        )
    _choice("model.codec", m.codec, ("pixel", "wan"))
    _choice("model.prediction_type", m.prediction_type, ("velocity", "sample"))
    _choice("model.init_patch_blocks", m.init_patch_blocks, ("random", "copy"))
    if m.detail_channels < 0 or m.detail_blocks < 0:
        raise _fail("model.detail_channels", "and model.detail_blocks must not be negative")
    if m.detail_levels and not m.detail_channels:
        raise _fail("model.detail_levels", "needs a detail head: set model.detail_channels")
    if m.detail_channels and not m.predict_residual:
        raise _fail("model.detail_channels", "a detail head needs model.predict_residual = true")
    if m.init_patch_blocks == "copy" and m.kind != "pretrained":
        raise _fail("model.init_patch_blocks", "'copy' needs a pretrained base (model.kind)")
    if m.kind == "pretrained" and not m.base:
        raise _fail("model.base", "must name the pre-trained base (wan2.1-1.3b or a folder)")
    for key in ("dim", "num_heads", "num_layers", "ffn_dim", "text_dim", "freq_dim"):
        _positive(f"model.{key}", getattr(m, key))
    for key in ("text_tokens", "codec_factor", "lora_rank", "base_size", "window", "steps"):
        _positive(f"model.{key}", getattr(m, key))
    if m.dim % m.num_heads:
        raise _fail("model.dim", f"({m.dim}) must be a multiple of model.num_heads ({m.num_heads})")
    if len(m.patch_size) != 3 or not all(isinstance(p, int) and p > 0 for p in m.patch_size):
        raise _fail("model.patch_size", f"must be three positive integers, got {m.patch_size}")
    if not 0 <= m.window_overlap < m.window:
        raise _fail("model.window_overlap", f"must be in [0, model.window), got {m.window_overlap}")
    if not 0 < m.strength <= 1:
        raise _fail("model.strength", f"must be in (0, 1], got {m.strength}")
    if m.scheme:
        _choice("model.scheme", m.scheme, SCHEMES)
    if not 0 <= m.cond_noise_timestep < 1000:
        raise _fail(
            "model.cond_noise_timestep", f"must be in [0, 1000), got {m.cond_noise_timestep}"
        )

    if not d.sources:
        raise _fail("data.sources", "must list at least one video, image folder or media pack")
    if not all(isinstance(s, str) for s in d.sources):
        raise _fail("data.sources", f"must be a list of paths, got {d.sources}")
    _positive("data.frames", d.frames)
    _positive("data.patch", d.patch)
    align = cfg.align
    if d.patch % align:
        raise _fail(
            "data.patch", f"({d.patch}) must be a multiple of the model's token size {align}"
        )
    if m.inference_patch < 0 or m.inference_patch % align:
        raise _fail(
            "model.inference_patch",
            f"({m.inference_patch}) must be 0 or a multiple of the model's token size {align}",
        )
    if m.flat_guard < 0:
        raise _fail(
            "model.flat_guard", f"must be 0 (off) or a strength in levels, got {m.flat_guard}"
        )
    if not d.scales or not all(isinstance(k, int) and k >= 1 for k in d.scales):
        raise _fail("data.scales", f"must be a list of integer scale factors >= 1, got {d.scales}")
    if not d.scenes:
        raise _fail("data.scenes", "must list at least one [height, width]")
    for scene in d.scenes:
        if not (
            isinstance(scene, list) and len(scene) == 2 and all(isinstance(v, int) for v in scene)
        ):
            raise _fail("data.scenes", f"entries must be [height, width] integers, got {scene!r}")
        for v in scene:
            if v < d.patch or v % align or any(v % k for k in d.scales):
                raise _fail(
                    "data.scenes",
                    f"sizes must be >= data.patch ({d.patch}), multiples of {align} and of every "
                    f"scale in data.scales, got {scene}",
                )
    if not d.degradations:
        raise _fail("data.degradations", "must give at least one degradation weight")
    for kind, weight in d.degradations.items():
        _choice("data.degradations", kind, KINDS)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise _fail(
                f"data.degradations.{kind}", f"must be a non-negative weight, got {weight!r}"
            )
    if sum(d.degradations.values()) <= 0:
        raise _fail("data.degradations", "weights must not all be zero")
    if not 0 <= d.video_fraction <= 1:
        raise _fail("data.video_fraction", f"must be in [0, 1], got {d.video_fraction}")
    if not 0 <= d.native_fraction <= 1:
        raise _fail("data.native_fraction", f"must be in [0, 1], got {d.native_fraction}")
    if not 0 <= d.clean_input <= 1:
        raise _fail("data.clean_input", f"must be a denoise level in [0, 1], got {d.clean_input}")
    if len(d.zoom) != 2 or not 0 < d.zoom[0] <= d.zoom[1]:
        raise _fail("data.zoom", f"must be [min, max] with 0 < min <= max, got {d.zoom}")
    _positive("data.max_pan", d.max_pan, zero_ok=True)
    _positive("data.patches_per_scene", d.patches_per_scene)
    _positive("data.max_video_frames", d.max_video_frames)

    _positive("optim.batch_size", o.batch_size)
    _positive("optim.gradient_accumulation", o.gradient_accumulation)
    _positive("optim.lr", o.lr)
    _positive("optim.weight_decay", o.weight_decay, zero_ok=True)
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise _fail("optim.betas", f"must be two numbers in [0, 1), got {o.betas}")
    _positive("optim.warmup_steps", o.warmup_steps, zero_ok=True)
    _choice("optim.schedule", o.schedule, ("cosine", "constant"))
    _positive("optim.grad_clip", o.grad_clip, zero_ok=True)
    if not 0 <= o.ema_decay < 1:
        raise _fail("optim.ema_decay", f"must be in [0, 1), got {o.ema_decay}")
    _choice("optim.timestep_sampler", o.timestep_sampler, ("uniform", "logit_normal"))
    _positive("optim.logit_std", o.logit_std)
    _positive("optim.timestep_shift", o.timestep_shift)
    return cfg


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a TOML training config."""
    path = Path(path)
    if not path.is_file():
        raise PatchVSRError(f"config file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise PatchVSRError(f"config {path} is not valid TOML: {err}") from None
    for key in raw:
        if key not in _SECTIONS:
            raise _fail(f"[{key}]", f"is not a known table (known: {', '.join(_SECTIONS)})")
    cfg = TrainConfig(
        **{name: _section(name, raw.get(name, {})) for name in _SECTIONS}, path=str(path)
    )
    return validate(cfg)
