"""Training checkpoints: tensors in safetensors, the rest in JSON, written atomically.

    RUN/checkpoint/weights.safetensors    trainable weights ("transformer.*", "adapter.*")
    RUN/checkpoint/ema.safetensors        their exponential moving average
    RUN/checkpoint/optimizer.safetensors  AdamW moments, keyed "<param index>.<name>"
    RUN/checkpoint/state.json             step, loss history, seed, schedule horizon, the
                                          optimizer's param groups, the config

The batches and noise of step n are pure functions of (seed, n), so these files are the whole
state of a run: resuming continues the very loss curve an uninterrupted run would draw.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from patchvsr.errors import PatchVSRError

FOLDER = "checkpoint"


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict, list]:
    sd = optimizer.state_dict()
    tensors = {
        f"{index}.{key}": value.detach().contiguous().cpu()
        for index, state in sd["state"].items()
        for key, value in state.items()
        if isinstance(value, torch.Tensor)
    }
    return tensors, sd["param_groups"]


def save_checkpoint(
    run_dir: Path,
    params: dict[str, torch.nn.Parameter],
    ema: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    state: dict,
) -> Path:
    """Write the checkpoint next to the old one, then swap it in (a crash never leaves a
    half-written checkpoint)."""
    final = run_dir / FOLDER
    tmp = run_dir / (FOLDER + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(
        {n: p.detach().contiguous().cpu() for n, p in params.items()}, tmp / "weights.safetensors"
    )
    save_file({n: t.contiguous().cpu() for n, t in ema.items()}, tmp / "ema.safetensors")
    tensors, groups = _optimizer_tensors(optimizer)
    save_file(tensors, tmp / "optimizer.safetensors")
    (tmp / "state.json").write_text(json.dumps(state | {"param_groups": groups}) + "\n")
    old = run_dir / (FOLDER + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / FOLDER / "state.json").exists()


def load_checkpoint(
    run_dir: Path,
    params: dict[str, torch.nn.Parameter],
    ema: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> dict:
    """Load a checkpoint into the model, EMA and optimizer; return its state dict."""
    folder = run_dir / FOLDER
    if not has_checkpoint(run_dir):
        raise PatchVSRError(f"no checkpoint to resume in {folder}")
    weights = load_file(folder / "weights.safetensors")
    if set(weights) != set(params):
        missing = sorted(set(params) - set(weights))[:3]
        raise PatchVSRError(
            f"the checkpoint in {folder} does not match this model (e.g. {missing or 'extra keys'})"
        )
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])
        # A checkpoint may travel without its EMA (to stay small): the average restarts
        # from the weights.
        has_ema = (folder / "ema.safetensors").exists()
        averaged = load_file(folder / "ema.safetensors") if has_ema else weights
        for name, t in averaged.items():
            ema[name].copy_(t)
    state = json.loads((folder / "state.json").read_text())
    groups = state.pop("param_groups")
    for group in groups:
        group["betas"] = tuple(group["betas"])
    if not (folder / "optimizer.safetensors").exists():
        # A checkpoint shipped without its optimizer moments (to stay small): AdamW restarts
        # its moments; the weights, EMA, step and loss history carry on.
        state["optimizer_restored"] = False
        return state
    per_param: dict[int, dict] = {}
    for key, value in load_file(folder / "optimizer.safetensors").items():
        index, name = key.split(".", 1)
        per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})
    state["optimizer_restored"] = True
    return state
