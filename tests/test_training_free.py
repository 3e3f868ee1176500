"""Training-free mode: a model without adapter weights says what runs (the base refining the
bicubic upscale patch by patch, adapter off) in the CLI and the demo, starts at noise level
sigma 0.3, and a model with adapter weights never says so."""

from pathlib import Path

import pytest
from conftest import write_clip
from diffusers import WanTransformer3DModel

from patchvsr.cli import main
from patchvsr.method import training_free
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.configs import tiny_adapter_config
from patchvsr.pipeline.builders import build_tiny
from patchvsr.serve import training_free as wording
from patchvsr.serve.config import DemoSettings, Limits
from patchvsr.serve.jobs import DemoRequest, check_request, run_request

ROOT = Path(__file__).resolve().parents[1]
TINY_WAN = ROOT / "assets" / "tiny-wan"  # the hub's Wan layout: a base without adapter


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHVSR_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def clip(tmp_path) -> Path:
    return write_clip(tmp_path / "in.mp4", frames=5, size=(48, 32), audio=False)


def test_the_default_start_is_a_noise_level_not_a_share_of_the_steps():
    # With Wan's shift 3 the old default (strength 0.6) started at sigma 0.82.
    assert training_free.sigma_for_strength(0.6, 3.0) == pytest.approx(0.818, abs=1e-3)
    defaults = training_free.defaults(3.0)
    start = training_free.sigma_for_strength(defaults["default_strength"], 3.0)
    assert start == pytest.approx(training_free.SIGMA)
    assert (
        round(defaults["default_steps"] * defaults["default_strength"]) >= 2
    )  # several refinement steps


def _upscale(clip: Path, out: Path, *extra: str) -> int:
    args = ["upscale", str(clip), "-o", str(out), "--scale", "2", "--device", "cpu", "-q"]
    return main(args + ["--patch", "32", *extra])


def test_the_cli_says_what_runs_without_adapter_weights(clip, tmp_path, capsys):
    assert _upscale(clip, tmp_path / "out.mp4", "--model", str(TINY_WAN)) == 0
    err = capsys.readouterr().err
    assert "training-free mode" in err and wording.WHAT_RUNS in err
    assert "4 of 32 steps from noise level sigma 0.30 (strength 0.125)" in err
    assert (tmp_path / "out.mp4").exists()


def test_a_model_with_adapter_weights_never_shows_the_warning(clip, tmp_path, capsys):
    base = WanTransformer3DModel.from_pretrained(TINY_WAN / "transformer")
    PatchVSRAdapter(**tiny_adapter_config(base.config)).save_pretrained(tmp_path / "adapter")
    adapter = ["--adapter", str(tmp_path / "adapter")]
    assert _upscale(clip, tmp_path / "a.mp4", "--model", str(TINY_WAN), *adapter) == 0
    assert _upscale(clip, tmp_path / "b.mp4", "--model", "tiny") == 0
    captured = capsys.readouterr()
    assert "training-free" not in captured.err + captured.out


@pytest.fixture
def bare_tiny(tmp_path) -> str:
    """The tiny model saved without its adapter: a base alone, in PatchVSR's layout."""
    build_tiny(with_adapter=False).save_pretrained(tmp_path / "tiny-base")
    return str(tmp_path / "tiny-base")


def test_the_demo_labels_the_model_choice_and_the_result(bare_tiny, clip, tmp_path):
    import gradio as gr

    from demo.upscale import layout

    with gr.Blocks():
        ui = layout(DemoSettings(models=["tiny", bare_tiny, "bicubic"], default_model="tiny"))
    assert f"{bare_tiny}: {wording.SHORT}" in ui.model.info
    assert "tiny:" not in ui.model.info.replace(bare_tiny, "")

    for model, free in ((bare_tiny, True), ("tiny", False)):
        checked = check_request(DemoRequest(clip, model, frames=5, scale=2), Limits())
        result = run_request(checked, tmp_path / "jobs")
        status = "\n".join([result.summary, *result.notes])
        assert ("training-free" in status) is free, status
        if free:
            assert f"({wording.SHORT})" in result.summary
            assert any(wording.WHAT_RUNS in n for n in result.notes)
