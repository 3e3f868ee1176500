"""Training PatchVSR: `train(config)` runs a whole training run into its run folder.

    RUN/config.json        the resolved configuration
    RUN/train.log          one line per `log_every` steps
    RUN/checkpoint/        weights, EMA, optimizer (safetensors) and state (JSON): --resume
    RUN/loss.png           the loss curve
    RUN/samples.png        bicubic vs model vs ground truth on held-out media
    RUN/pipeline/          the EMA weights as a pipeline folder (`--model RUN/pipeline`)

The loop: a batch (a pure function of seed and step, prefetched by DataLoader workers on CUDA),
the rectified-flow loss (bf16 autocast on CUDA), AdamW with warm-up and a cosine decay,
gradient clipping, an EMA of the weights. `max_steps` ends a run, and so does `time_budget`
(seconds): the run then stops after the current step, saves and exports as usual. With a time
budget and the cosine schedule, the decay's horizon is estimated from the measured pace (and
re-estimated as it settles), so the learning rate still reaches its floor when the time is up.

One process or many, on one machine or several: the same code under accelerate,

    accelerate launch [--multi_gpu --num_processes N | --num_machines M ...] -m patchvsr train CONFIG

`accelerator.prepare` wraps the model (DDP: gradients are averaged over the processes), the
optimizer, the LR schedule and the data loader. Each step's batch is the same whatever the
number of processes, and each process makes and trains its own share of its scenes
(`data.BatchIndices`). Only the main process writes the run folder; the checkpoint holds whole
weights, EMA and optimizer moments, so `--resume` works with any number of processes.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from patchvsr.errors import PatchVSRError
from patchvsr.train.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from patchvsr.train.config import TrainConfig
from patchvsr.train.data import DataSettings, batch_loader, scenes_per_step
from patchvsr.train.media import load_sources
from patchvsr.train.model import (
    EMA,
    build_pipeline,
    export_pipeline,
    named_weights,
    set_train_mode,
    silence_transformer,
    trainable_parameters,
)
from patchvsr.train.processes import Log, check_in_step, make_accelerator, single_process_note
from patchvsr.train.report import plot_losses, sample_comparison
from patchvsr.train.state import Clock, RunState
from patchvsr.train.step import TrainStep

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
        clean_input=d.clean_input,
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


def init_weights(
    pipe, params: dict[str, torch.nn.Parameter], ema: EMA, path: str | Path, trainable: bool = True
) -> None:
    """Load weights from a checkpoint's weights file (or one `scripts/mini_weights.py init`
    wrote): it must hold every trainable parameter (the EMA starts there), and the frozen
    parts it also holds are loaded too. `trainable=False` loads only those frozen parts (a
    resumed run's checkpoint has the rest)."""
    if not Path(path).is_file():
        raise PatchVSRError(f"run.init_weights: {path} does not exist")
    weights = load_file(path)
    every = named_weights(pipe)
    if not set(params) <= set(weights) <= set(every):
        raise PatchVSRError(f"run.init_weights: {path} holds the weights of another model")
    with torch.no_grad():
        for name, value in weights.items():
            if value.shape != every[name].shape:
                raise PatchVSRError(f"run.init_weights: {name} has another shape in {path}")
            if name in params and not trainable:
                continue  # a resumed run's checkpoint holds it
            every[name].copy_(value)
            if name in params:
                ema.shadow[name].copy_(value)


def _workers(cfg: TrainConfig, device: torch.device) -> int:
    if cfg.run.workers >= 0:
        return cfg.run.workers
    return 0 if device.type == "cpu" else max(0, min(14, (os.cpu_count() or 2) - 2))


def _printer(log_file: Path | None, echo: Log | None) -> Log:
    """A log line into train.log and onto the console; on other than the main process, none."""

    def log(line: str) -> None:
        if log_file is None:
            return
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
    _check_run_folder(run_dir, resume)

    accelerator = make_accelerator(cfg, device)
    main = accelerator.is_main_process
    _check_scenes_split(cfg, accelerator.num_processes)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    log = _printer(run_dir / "train.log" if main else None, echo)
    dev = accelerator.device
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    # 1. Data
    sources = load_sources(cfg.data.sources, cfg.data.max_video_frames)
    holdout = []
    if cfg.run.holdout and main:
        holdout = load_sources(cfg.run.holdout, cfg.data.max_video_frames)

    # 2. Model, optimizer, EMA, state: the same on every process (seeded; the same files)
    with accelerator.main_process_first():  # the main process fills the prompt cache first
        pipe = build_pipeline(cfg.model, cfg.run.seed, dev.type).to(dev)
    params = trainable_parameters(pipe, cfg.model.trainable)
    set_train_mode(pipe, True, cfg.optim.gradient_checkpointing)
    optimizer = make_optimizer(cfg, params)
    ema = EMA(params, cfg.optim.ema_decay)
    state = _start_state(cfg, resume, run_dir, pipe, params, ema, optimizer, log)
    start_step = state.step
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = cfg.optim.lr
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: learning_rate(cfg, start_step + i, state.horizon) / cfg.optim.lr
    )
    loader = batch_loader(
        sources,
        data_settings(cfg),
        cfg.run.seed,
        start_step * cfg.optim.gradient_accumulation,
        _workers(cfg, dev),
        dev.type == "cuda",
    )
    model, optimizer, loader, schedule = accelerator.prepare(
        TrainStep(
            pipe,
            cfg.optim,
            head_only=cfg.model.trainable == "detail",
            under_transformer=cfg.model.keep_transformer,
        ),
        optimizer,
        loader,
        schedule,
    )
    note = single_process_note(accelerator)
    if note:
        log(note)
    n_params = sum(p.numel() for p in params.values())
    log(
        f"run {cfg.run.name}: {n_params / 1e6:.2f}M trainable parameters, {len(sources)} sources, "
        f"{accelerator.num_processes} process(es) on {dev}, "
        f"precision {accelerator.mixed_precision}, from step {start_step}"
    )

    # 3. The loop
    clock = Clock()
    budget = cfg.run.time_budget
    data = iter(loader)
    saved = None  # the step of the last checkpoint written by this run
    while state.step < cfg.run.max_steps:
        # The main process's clock decides, and every process stops at the same step.
        if budget and main and clock.elapsed() >= budget:
            accelerator.set_trigger()
        if budget and accelerator.check_trigger():
            log(f"time budget of {budget:.0f} s reached at step {state.step}")
            break
        loss = _optimizer_step(accelerator, model, optimizer, schedule, data, cfg, clock)
        ema.update(params, state.step)
        # The logged loss is the step's: the mean over micro-batches and processes.
        state.losses.append(float(accelerator.reduce(loss, "mean")))
        state.step += 1

        done_here = state.step - start_step
        if done_here == _HORIZON_PROBE:
            clock.probe = time.monotonic()  # timing starts after the first (slower) steps
        if (
            budget
            and done_here > _HORIZON_PROBE
            and (state.step % cfg.run.log_every == 0 or done_here == 2 * _HORIZON_PROBE)
        ):
            _estimate_horizon(accelerator, cfg, state, clock, done_here, log)
        if state.step % cfg.run.log_every == 0:
            _log_progress(cfg, state, optimizer, clock, log)
        if state.step % cfg.run.checkpoint_every == 0:
            _save(accelerator, run_dir, params, ema, optimizer, state, log)
            saved = state.step
        if cfg.run.sample_every and state.step % cfg.run.sample_every == 0 and holdout:
            _samples(pipe, params, ema, holdout, cfg, run_dir, log)
    log(f"trained {state.step - start_step} steps in {clock.elapsed():.0f} s")
    if dev.type == "cuda":
        log(f"peak memory {torch.cuda.max_memory_allocated(dev) / 2**30:.1f} GiB")

    # 4. Save (unless this step just was), draw, export (the main process)
    if saved != state.step:
        _save(accelerator, run_dir, params, ema, optimizer, state, log)
    if main:
        plot_losses(state.losses, run_dir / "loss.png", f"{cfg.run.name}: rectified-flow loss")
    if holdout:
        _samples(pipe, params, ema, holdout, cfg, run_dir, log)
    if export and main:
        set_train_mode(pipe, False)
        with ema.applied(params):
            export_pipeline(pipe, run_dir / "pipeline", cfg.model)
        log(f"exported the EMA pipeline to {run_dir / 'pipeline'}")
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return run_dir


def _check_run_folder(run_dir: Path, resume: bool) -> None:
    if has_checkpoint(run_dir) and not resume:
        raise PatchVSRError(f"{run_dir} already holds a run: pass --resume, or choose --out")
    if resume and not has_checkpoint(run_dir):
        raise PatchVSRError(f"nothing to resume: {run_dir} holds no checkpoint")


def _check_scenes_split(cfg: TrainConfig, processes: int) -> None:
    per_step = scenes_per_step(data_settings(cfg))
    if per_step % processes:
        raise PatchVSRError(
            f"a step's {per_step} scenes (optim.batch_size / data.patches_per_scene) do not "
            f"split evenly over {processes} processes"
        )


def _start_state(cfg: TrainConfig, resume, run_dir, pipe, params, ema, optimizer, log) -> RunState:
    """Initial weights (`run.init_weights`), then on resuming the checkpoint's weights, EMA,
    optimizer moments and state; a fresh run starts at step 0."""
    state = RunState(step=0, seed=cfg.run.seed, horizon=cfg.run.max_steps)
    if cfg.run.init_weights:
        init_weights(pipe, params, ema, cfg.run.init_weights, trainable=not resume)
        log(f"weights from {cfg.run.init_weights}")
    if cfg.model.trainable == "detail" and not cfg.model.keep_transformer:
        silence_transformer(pipe)
    if resume:
        saved = load_checkpoint(run_dir, params, ema.shadow, optimizer)
        state = RunState.from_checkpoint(saved, cfg)
        if not saved["optimizer_restored"]:
            log("the checkpoint holds no optimizer moments: AdamW starts them afresh")
    return state


def _optimizer_step(accelerator, model, optimizer, schedule, data, cfg, clock) -> torch.Tensor:
    """One step of `optim.gradient_accumulation` micro-batches; the loss is their mean."""
    accumulate = cfg.optim.gradient_accumulation
    total = torch.zeros((), device=accelerator.device)
    for _ in range(accumulate):
        t_data = time.monotonic()
        batch = next(data)
        clock.waited += time.monotonic() - t_data
        with accelerator.accumulate(model):
            loss = model(batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients and cfg.optim.grad_clip > 0:
                accelerator.clip_grad_norm_(model.parameters(), cfg.optim.grad_clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
        total += loss.detach().float() / accumulate
    return total


def _estimate_horizon(accelerator, cfg, state: RunState, clock: Clock, done_here, log) -> None:
    """Where the time budget will end the run, from the pace since the probe began;
    re-estimated as the pace settles (prefetched batches first, then steady state). The main
    process's estimate is every process's."""
    pace = (time.monotonic() - clock.probe) / (done_here - _HORIZON_PROBE)
    fits = int((cfg.run.time_budget - clock.elapsed()) / pace)
    horizon = torch.tensor(
        min(cfg.run.max_steps, state.step + max(0, fits)), device=accelerator.device
    )
    horizon = int(accelerator.reduce(horizon * int(accelerator.is_main_process), "sum"))
    if not state.fixed:
        what = "run" if cfg.optim.schedule == "constant" else "learning-rate schedule"
        log(f"{pace:.3f} s/step: the {what} ends near step {horizon}")
    state.horizon, state.fixed = horizon, True


def _log_progress(cfg, state: RunState, optimizer, clock: Clock, log: Log) -> None:
    every = cfg.run.log_every
    recent = state.losses[-every:]
    pace = (time.monotonic() - clock.window) / every
    log(
        f"step {state.step:6d}  loss {sum(recent) / len(recent):.5f}  "
        f"lr {optimizer.param_groups[0]['lr']:.2e}  {pace:.3f} s/step "
        f"(waiting for data {clock.waited / every:.3f})"
    )
    clock.new_window()


def _save(accelerator, run_dir, params, ema, optimizer, state: RunState, log: Log) -> None:
    """One checkpoint, written by the main process once every process has checked in."""
    check_in_step(accelerator, params, log)
    if accelerator.is_main_process:
        save_checkpoint(run_dir, params, ema.shadow, optimizer, state.to_json())
        log(f"checkpoint of step {state.step} saved")
    accelerator.wait_for_everyone()


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
