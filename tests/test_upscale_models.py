"""`upscale` with PatchVSR models on real files: right size, fps and frame count for odd sizes
and frame counts that are not 4n+1, and one-line refusals of bad models."""

import pytest

from patchvsr.cli import main
from patchvsr.io.probe import probe
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.configs import tiny_adapter_config
from patchvsr.pipeline.builders import build_tiny


def _run(capsys, *argv):
    code = main(list(map(str, argv)))
    return code, capsys.readouterr()


@pytest.mark.parametrize(("frames", "size"), [(10, (37, 21)), (7, (40, 24))])
def test_tiny_model_keeps_fps_and_frame_count_at_odd_sizes(
    make_clip, tmp_path, capsys, frames, size
):
    clip = make_clip(frames=frames, size=size, fps=25, audio=False)
    out = tmp_path / "out.mp4"
    code, io = _run(
        capsys, "upscale", clip, "-o", out, "--scale", 2, "--model", "tiny", "--steps", 1, "-q"
    )
    assert code == 0, io.err
    info = probe(out)
    assert (info.width, info.height) == (2 * size[0], 2 * size[1])
    assert info.num_frames == frames
    assert info.fps == pytest.approx(25.0)


def test_same_seed_gives_identical_files(make_clip, tmp_path, capsys):
    clip = make_clip(frames=6, size=(24, 16), audio=False)
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}.mp4"
        code, io = _run(
            capsys,
            "upscale",
            clip,
            "-o",
            out,
            "--scale",
            2,
            "--model",
            "tiny",
            "--steps",
            2,
            "--seed",
            7,
            "-q",
        )
        assert code == 0, io.err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def _refused(capsys, tmp_path, argv, needle):
    out = tmp_path / "refused.mp4"
    code, io = _run(capsys, *argv, "-o", out, "-q")
    lines = io.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and needle in lines[0], io.err
    assert "Traceback" not in io.err
    assert not out.exists()


def test_unknown_model_is_refused(make_clip, tmp_path, capsys):
    clip = make_clip(frames=3, size=(16, 16), audio=False)
    _refused(
        capsys,
        tmp_path,
        ["upscale", clip, "--scale", 2, "--model", "no-such-model"],
        "unknown model",
    )


def test_folder_without_weights_is_refused(make_clip, tmp_path, capsys):
    clip = make_clip(frames=3, size=(16, 16), audio=False)
    folder = tmp_path / "model"
    build_tiny().save_pretrained(folder)
    (folder / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    _refused(capsys, tmp_path, ["upscale", clip, "--scale", 2, "--model", folder], "no weights")


def test_adapter_for_another_base_is_refused(make_clip, tmp_path, capsys):
    clip = make_clip(frames=3, size=(16, 16), audio=False)
    folder = tmp_path / "model"
    build_tiny(with_adapter=False).save_pretrained(folder)
    base = build_tiny().transformer
    config = tiny_adapter_config(base.config) | {"num_base_layers": 9}
    PatchVSRAdapter(**config).save_pretrained(tmp_path / "adapter")
    argv = ["upscale", clip, "--scale", 2, "--model", folder, "--adapter", tmp_path / "adapter"]
    _refused(capsys, tmp_path, argv, "does not match the base")


def test_size_too_large_for_memory_is_refused(make_clip, tmp_path, capsys, monkeypatch):
    clip = make_clip(frames=3, size=(16, 16), audio=False)
    monkeypatch.setattr("patchvsr.pipeline.memory.available_bytes", lambda device: 1024**2)
    _refused(capsys, tmp_path, ["upscale", clip, "--size", "1024x1024", "--model", "tiny"], "GiB")
