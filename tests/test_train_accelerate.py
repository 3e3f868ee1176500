"""Training on several processes with accelerate (gloo on the CPU): the processes stay in
step, train as one process on the same batches would, write one checkpoint per save, and a
run resumes on another number of processes. Then the exported pipeline upscales a clip."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import av
import pytest
import torch
from conftest import write_clip
from safetensors.torch import load_file

from patchvsr.cli import main
from patchvsr.train import data_settings, load_config, train
from patchvsr.train.data import collate_scenes, make_scene, scenes_per_step
from patchvsr.train.media import load_sources
from patchvsr.train.model import build_pipeline, trainable_parameters
from patchvsr.train.step import flow_loss

pytestmark = pytest.mark.slow  # every test launches training processes

ROOT = Path(__file__).resolve().parents[1]
TINY_WAN = ROOT / "configs" / "tiny-wan.toml"


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """tiny-wan with a checkpoint every 2 steps and absolute paths; a private prompt cache."""
    root = tmp_path_factory.mktemp("accelerate")
    text = TINY_WAN.read_text()
    text = text.replace('"assets/', f'"{ROOT}/assets/').replace(
        "checkpoint_every = 20", "checkpoint_every = 2"
    )
    config = root / "tiny-wan.toml"
    config.write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATCHVSR_CACHE", str(root / "cache"))
        yield root, config


def _launch(config: Path, *args: str) -> subprocess.CompletedProcess:
    """`accelerate launch --multi_gpu --num_processes 2 -m patchvsr train CONFIG ...`: on a
    machine without GPUs, two CPU processes that talk over gloo."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch"]
    command += ["--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    command += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_port", _free_port(), "-m", "patchvsr", "train", str(config)]
    result = subprocess.run(
        command + list(args), env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def runs(setup):
    root, config = setup
    _launch(config, "--out", str(root / "two"), "--max-steps", "4")
    cfg = load_config(config)
    train(cfg, out=root / "one", max_steps=4, echo=None, export=False)
    train(load_config(config), out=root / "resumed", max_steps=2, echo=None, export=False)
    _launch(config, "--out", str(root / "resumed"), "--max-steps", "4", "--resume", "--no-export")
    return {name: root / name for name in ("one", "two", "resumed")}


def _losses(run: Path) -> list[float]:
    return json.loads((run / "checkpoint" / "state.json").read_text())["losses"]


def test_two_processes_train_as_one_process_on_the_same_batches(runs):
    """Each process trains its half of every batch; the averaged gradients make the run the
    one-process run (to float tolerance): shards differ, gradients are synchronised."""
    assert len(_losses(runs["two"])) == 4
    assert _losses(runs["two"]) == pytest.approx(_losses(runs["one"]), rel=1e-4)
    for part in ("weights", "ema"):
        a = load_file(runs["two"] / "checkpoint" / f"{part}.safetensors")
        b = load_file(runs["one"] / "checkpoint" / f"{part}.safetensors")
        for name in b:
            torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=1e-5)


def test_the_processes_hold_identical_weights_and_save_one_checkpoint_each_time(runs):
    log = (runs["two"] / "train.log").read_text()
    assert "2 process(es)" in log
    for step in (2, 4):
        assert log.count(f"checkpoint of step {step} saved") == 1
    # Before each save every process reports a fingerprint of its weights; they are equal.
    assert log.count("the 2 processes hold identical weights") == 2
    assert sorted(p.name for p in runs["two"].iterdir()) == [
        "checkpoint",
        "config.json",
        "loss.png",
        "pipeline",
        "train.log",
    ]


def test_the_logged_loss_is_the_mean_over_the_processes(setup, runs):
    """Step 0's logged loss is the mean of the two processes' losses on their halves."""
    _, config = setup
    cfg = load_config(config)
    settings, sources = data_settings(cfg), load_sources(cfg.data.sources)
    half = scenes_per_step(settings) // 2
    pipe = build_pipeline(cfg.model, cfg.run.seed)
    trainable_parameters(pipe, cfg.model.trainable)
    losses = []
    with torch.no_grad():
        for shard in (range(half), range(half, 2 * half)):
            batch = collate_scenes(
                [make_scene(sources, settings, cfg.run.seed, 0, i) for i in shard]
            )
            losses.append(float(flow_loss(pipe, batch, cfg.optim)))
    assert losses[0] != pytest.approx(losses[1], rel=1e-3)  # the halves differ
    assert _losses(runs["two"])[0] == pytest.approx(sum(losses) / 2, rel=1e-5)


def test_a_run_resumes_on_another_number_of_processes(runs):
    """Two steps on one process, then --resume on two: the same curve and weights."""
    log = (runs["resumed"] / "train.log").read_text()
    assert "from step 2" in log and "2 process(es)" in log
    assert _losses(runs["resumed"]) == pytest.approx(_losses(runs["one"]), rel=1e-4)
    a = load_file(runs["resumed"] / "checkpoint" / "ema.safetensors")
    b = load_file(runs["one"] / "checkpoint" / "ema.safetensors")
    for name in b:
        torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=1e-5)


def test_the_exported_pipeline_upscales_a_clip(runs, tmp_path):
    clip = write_clip(tmp_path / "in.mp4", frames=7, size=(48, 32), audio=False)
    out = tmp_path / "out.mp4"
    assert main(["upscale", str(clip), "-o", str(out), "--model", str(runs["two"] / "pipeline")]
                + ["--scale", "2", "--device", "cpu"]) == 0  # fmt: skip
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 7 and frames[0].shape == (64, 96, 3)
