"""Training PatchVSR: `train(config)` runs a whole training run into its run folder.

    RUN/config.json        the resolved configuration
    RUN/train.log          one line per `log_every` steps
    RUN/checkpoint/        weights, EMA, optimizer (safetensors) and state (JSON): --resume
    RUN/loss.png           the loss curve
    RUN/samples.png        bicubic vs model vs ground truth on held-out media
    RUN/pipeline/          the EMA weights as a pipeline folder (`--model RUN/pipeline`)

The loop: a batch (a pure function of seed and step, prefetched by DataLoader workers on CUDA),
the rectified-flow loss under autocast (bf16 on CUDA), AdamW with warm-up and a cosine decay,
gradient clipping, an EMA of the weights. `max_steps` ends a run, and so does `time_budget`
(seconds): the run then stops after the current step, saves and exports as usual. With a time
budget and the cosine schedule, the decay's horizon is estimated from the measured pace (and
re-estimated as it settles), so the learning rate still reaches its floor when the time is up.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from safetensors.torch import load_file

from patchvsr.errors import PatchVSRError
from patchvsr.runtime import resolve_device
from patchvsr.train.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from patchvsr.train.config import TrainConfig
from patchvsr.train.data import DataSettings, batches
from patchvsr.train.media import load_sources
from patchvsr.train.model import (
    EMA,
    build_pipeline,
    export_pipeline,
    set_train_mode,
    trainable_parameters,
)
from patchvsr.train.report import plot_losses, sample_comparison
from patchvsr.train.step import flow_loss

Log = Callable[[str], None]
# With a time budget, the pace is timed from this step of a run on (the first steps are
# slower) and sets the cosine schedule's horizon.
_HORIZON_PROBE = 10


def data_settings(cfg: TrainConfig) -> DataSettings:
    d = cfg.data
    return DataSettings(
        frames=d.frames,
        scenes=tuple(tuple(s) for s in d.scenes),
        patch=d.patch,
        align=cfg.align,
        scales=tuple(d.scales),
        degradations=dict(d.degradations),
        video_fraction=d.video_fraction,
        zoom=tuple(d.zoom),
        native_fraction=d.native_fraction,
        max_pan=d.max_pan,
        batch_size=cfg.optim.batch_size,
        patches_per_scene=d.patches_per_scene,
    )


def learning_rate(cfg: TrainConfig, step: int, horizon: int) -> float:
    o = cfg.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return o.lr
    progress = min(1.0, (step - o.warmup_steps) / max(1, horizon - o.warmup_steps))
    floor = o.lr * o.min_lr_ratio
    return floor + (o.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The noise of step `step`: seeded by (seed, step) so a resumed run draws the same."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)


def make_optimizer(cfg: TrainConfig, params: dict[str, torch.nn.Parameter]) -> torch.optim.AdamW:
    # No weight decay on gains, biases and embeddings-as-vectors (1-D tensors).
    decay = [p for p in params.values() if p.ndim >= 2]
    plain = [p for p in params.values() if p.ndim < 2]
    o = cfg.optim
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": o.weight_decay}, {"params": plain, "weight_decay": 0.0}],
        lr=o.lr,
        betas=tuple(o.betas),
        foreach=True,
    )


def init_weights(params: dict[str, torch.nn.Parameter], ema: EMA, path: str | Path) -> None:
    """Load trainable weights (and start the EMA there) from a checkpoint's weights file."""
    if not Path(path).is_file():
        raise PatchVSRError(f"run.init_weights: {path} does not exist")
    weights = load_file(path)
    if set(weights) != set(params):
        raise PatchVSRError(f"run.init_weights: {path} holds the weights of another model")
    with torch.no_grad():
        for name, p in params.items():
            if weights[name].shape != p.shape:
                raise PatchVSRError(f"run.init_weights: {name} has another shape in {path}")
            p.copy_(weights[name])
            ema.shadow[name].copy_(weights[name])


def _workers(cfg: TrainConfig, device: torch.device) -> int:
    if cfg.run.workers >= 0:
        return cfg.run.workers
    return 0 if device.type == "cpu" else max(0, min(14, (os.cpu_count() or 2) - 2))


def _printer(log_file: Path, echo: Log | None) -> Log:
    def log(line: str) -> None:
        with log_file.open("a") as f:
            f.write(line + "\n")
        if echo is not None:
            echo(line)

    return log


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    out: str | Path | None = None,
    max_steps: int | None = None,
    time_budget: float | None = None,
    device: str | None = None,
    echo: Log | None = print,
    export: bool = True,
) -> Path:
    """Run (or resume) a training run; return its run folder."""
    if max_steps is not None:
        cfg.run.max_steps = max_steps
    if time_budget is not None:
        cfg.run.time_budget = time_budget
    run_dir = Path(out) if out is not None else cfg.run_dir()
    if has_checkpoint(run_dir) and not resume:
        raise PatchVSRError(f"{run_dir} already holds a run: pass --resume, or choose --out")
    if resume and not has_checkpoint(run_dir):
        raise PatchVSRError(f"nothing to resume: {run_dir} holds no checkpoint")
    run_dir.mkdir(parents=True, exist_ok=True)
    log = _printer(run_dir / "train.log", echo)

    dev = resolve_device(device or cfg.run.device)
    precision = cfg.run.mixed_precision
    if precision == "auto":
        precision = "bf16" if dev.type == "cuda" else "no"
    # Accelerate keeps one process-wide state; a new run in the same process (a notebook,
    # the tests) may want another precision, so start from a clean state.
    AcceleratorState._reset_state(reset_partial_state=True)
    accelerator = Accelerator(cpu=dev.type == "cpu", mixed_precision=precision)
    dev = accelerator.device
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    # 1. Data
    sources = load_sources(cfg.data.sources, cfg.data.max_video_frames)
    holdout = load_sources(cfg.run.holdout, cfg.data.max_video_frames) if cfg.run.holdout else []
    settings = data_settings(cfg)

    # 2. Model, optimizer, EMA, state
    seed = cfg.run.seed
    pipe = build_pipeline(cfg.model, seed, str(dev)).to(dev)
    params = trainable_parameters(pipe, cfg.model.trainable)
    set_train_mode(pipe, True, cfg.optim.gradient_checkpointing)
    optimizer = make_optimizer(cfg, params)
    ema = EMA(params, cfg.optim.ema_decay)
    state = {"step": 0, "losses": [], "seed": seed, "horizon": cfg.run.max_steps, "fixed": False}
    if cfg.run.init_weights and not resume:
        init_weights(params, ema, cfg.run.init_weights)
        log(f"weights from {cfg.run.init_weights}")
    if resume:
        state = load_checkpoint(run_dir, params, ema.shadow, optimizer)
        if state["seed"] != seed:
            raise PatchVSRError(
                f"the run was started with seed {state['seed']}, config says {seed}"
            )
        if state.get("fixed") is False:
            state["horizon"] = cfg.run.max_steps
        if not state.pop("optimizer_restored"):
            log("the checkpoint holds no optimizer moments: AdamW starts them afresh")
    n_params = sum(p.numel() for p in params.values())
    log(
        f"run {cfg.run.name}: {n_params / 1e6:.2f}M trainable parameters, {len(sources)} sources, "
        f"device {dev}, precision {precision}, from step {state['step']}"
    )

    # 3. The loop
    step = state["step"]
    start_step, t0 = step, time.monotonic()
    budget = cfg.run.time_budget
    data = batches(sources, settings, seed, step, _workers(cfg, dev), dev.type == "cuda")
    window_start, waited, t_probe = time.monotonic(), 0.0, t0
    while step < cfg.run.max_steps:
        if budget and time.monotonic() - t0 >= budget:
            log(f"time budget of {budget:.0f} s reached at step {step}")
            break
        t_data = time.monotonic()
        batch = next(data).to(dev, non_blocking=True)
        waited += time.monotonic() - t_data
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step, state["horizon"])
        with accelerator.autocast():
            loss = flow_loss(pipe, batch, cfg.optim, step_generator(seed, step, dev))
        accelerator.backward(loss)
        if cfg.optim.grad_clip > 0:
            accelerator.clip_grad_norm_(list(params.values()), cfg.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update(params, step)
        state["losses"].append(float(loss.detach()))
        step += 1
        state["step"] = step

        done_here = step - start_step
        if done_here == _HORIZON_PROBE:
            t_probe = time.monotonic()  # timing starts after the first (slower) steps
        if (
            budget
            and done_here > _HORIZON_PROBE
            and (step % cfg.run.log_every == 0 or done_here == 2 * _HORIZON_PROBE)
        ):
            # Where the time budget will end the run, from the pace since the probe began;
            # re-estimated as the pace settles (prefetched batches first, then steady state).
            per_step = (time.monotonic() - t_probe) / (done_here - _HORIZON_PROBE)
            fits = int((budget - (time.monotonic() - t0)) / per_step)
            horizon = min(cfg.run.max_steps, step + max(0, fits))
            if not state["fixed"]:
                log(f"{per_step:.3f} s/step: the learning-rate schedule ends near step {horizon}")
            state["horizon"], state["fixed"] = horizon, True
        if step % cfg.run.log_every == 0:
            recent = state["losses"][-cfg.run.log_every :]
            per_step = (time.monotonic() - window_start) / cfg.run.log_every
            log(
                f"step {step:6d}  loss {sum(recent) / len(recent):.5f}  "
                f"lr {optimizer.param_groups[0]['lr']:.2e}  {per_step:.3f} s/step "
                f"(waiting for data {waited / cfg.run.log_every:.3f})"
            )
            window_start, waited = time.monotonic(), 0.0
        if step % cfg.run.checkpoint_every == 0:
            save_checkpoint(run_dir, params, ema.shadow, optimizer, state)
        if cfg.run.sample_every and step % cfg.run.sample_every == 0 and holdout:
            _samples(pipe, params, ema, holdout, cfg, run_dir, log)
    data.close()  # stops the DataLoader workers
    log(f"trained {step - start_step} steps in {time.monotonic() - t0:.0f} s")

    # 4. Save, draw, export
    save_checkpoint(run_dir, params, ema.shadow, optimizer, state)
    plot_losses(state["losses"], run_dir / "loss.png", f"{cfg.run.name}: rectified-flow loss")
    if holdout:
        _samples(pipe, params, ema, holdout, cfg, run_dir, log)
    if export:
        set_train_mode(pipe, False)
        with ema.applied(params):
            export_pipeline(pipe, run_dir / "pipeline", cfg.model)
        log(f"exported the EMA pipeline to {run_dir / 'pipeline'}")
    return run_dir


def _samples(pipe, params, ema, holdout, cfg: TrainConfig, run_dir: Path, log: Log) -> None:
    clips = [(s.name, s.frames) for s in holdout[:4]]
    set_train_mode(pipe, False)
    try:
        with ema.applied(params):
            scores = sample_comparison(
                pipe,
                clips,
                run_dir / "samples.png",
                scale=max(cfg.data.scales),
                steps=cfg.model.steps,
                strength=cfg.model.strength,
            )
    finally:
        set_train_mode(pipe, True)
    for s in scores:
        log(f"sample {s['name']}: bicubic {s['bicubic']:.2f} dB, model {s['model']:.2f} dB (Y)")
