"""The device and dtype choice (patchvsr.devices): CUDA, then MPS, then the CPU, with what MPS
lacks falling back in one line. No GPU here: torch's availability flags are faked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from patchvsr import devices
from patchvsr.cli import main
from patchvsr.devices import choose_dtype, enable_mps_fallback, place, resolve_device
from patchvsr.errors import PatchVSRError


@pytest.fixture
def machine(monkeypatch):
    """`machine(cuda=..., mps=..., macos14=...)` makes torch report that hardware."""

    def fake(cuda: bool = False, mps: bool = False, macos14: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
        monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda *v: macos14)

    return fake


@pytest.mark.parametrize(
    "cuda, mps, expected",
    [(True, True, "cuda"), (True, False, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_picks_cuda_then_mps_then_the_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert resolve_device("auto") == torch.device(expected)


def test_a_device_asked_for_by_name_is_used_when_present(machine):
    machine(cuda=True, mps=True)
    assert [resolve_device(d).type for d in ("cuda", "mps", "cpu")] == ["cuda", "mps", "cpu"]


@pytest.mark.parametrize("name, words", [("mps", "MPS is not available"), ("cuda", "no CUDA")])
def test_a_missing_device_asked_for_by_name_is_a_one_line_error(machine, name, words):
    machine(cuda=False, mps=False)
    with pytest.raises(PatchVSRError, match=words) as err:
        resolve_device(name)
    assert "\n" not in str(err.value)
    with pytest.raises(PatchVSRError, match="unknown device"):
        resolve_device("tpu")


def test_the_command_line_refuses_a_missing_mps_in_one_line_before_any_work(
    machine, make_clip, tmp_path, capsys
):
    machine(cuda=False, mps=False)
    clip = make_clip(frames=2, audio=False)
    out = tmp_path / "out.mp4"
    code = main(["upscale", str(clip), "-o", str(out), "--model", "bicubic", "--device", "mps"])
    assert code == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert line.startswith("error: --device mps was asked for") and not out.exists()


@pytest.mark.parametrize(
    "device, macos14, expected",
    [
        ("cuda", True, torch.bfloat16),
        ("cpu", True, torch.float32),  # bf16 matrix products are slow on most CPUs
        ("mps", True, torch.bfloat16),
        ("mps", False, torch.float32),  # no bf16 on MPS before macOS 14
    ],
)
def test_default_dtype_per_device(machine, device, macos14, expected):
    machine(mps=True, macos14=macos14)
    assert choose_dtype(torch.device(device)) == (expected, [])


@pytest.mark.parametrize(
    "wanted, macos14, note",
    [
        (torch.float64, True, "MPS has no float64: using float32"),
        (torch.bfloat16, False, "bfloat16 on MPS needs macOS 14 or later: using float32"),
    ],
)
def test_dtypes_mps_lacks_fall_back_to_float32_with_one_line(machine, wanted, macos14, note):
    machine(mps=True, macos14=macos14)
    assert choose_dtype(torch.device("mps"), wanted) == (torch.float32, [note])
    # Elsewhere the dtype asked for is kept, silently.
    assert choose_dtype(torch.device("cpu"), wanted) == (wanted, [])


def test_mps_placement_says_what_happens_to_operations_mps_lacks(machine, monkeypatch):
    machine(mps=True, macos14=False)
    monkeypatch.setenv(devices.MPS_FALLBACK, "1")
    placement = place("auto", torch.float64)
    assert (placement.device.type, placement.dtype) == ("mps", torch.float32)
    assert placement.notes == (
        "MPS has no float64: using float32",
        "operations MPS lacks run on the CPU (PYTORCH_ENABLE_MPS_FALLBACK=1)",
    )
    monkeypatch.delenv(devices.MPS_FALLBACK)
    (note,) = place("mps").notes
    assert note.startswith("PYTORCH_ENABLE_MPS_FALLBACK is not set: an operation MPS lacks stops")
    machine(cuda=True, mps=True)
    assert place("auto").notes == ()  # nothing to say off MPS


def test_the_fallback_variable_is_set_on_macos_only_and_a_users_value_wins():
    env: dict[str, str] = {}
    enable_mps_fallback(env, platform="linux")
    assert env == {}
    enable_mps_fallback(env, platform="darwin")
    assert env == {devices.MPS_FALLBACK: "1"}
    env = {devices.MPS_FALLBACK: "0"}
    enable_mps_fallback(env, platform="darwin")
    assert env == {devices.MPS_FALLBACK: "0"}


def test_load_pipeline_uses_the_same_choice(machine, capsys):
    """The demo and the notebooks load through `load_pipeline`: its device is `place`'s."""
    from patchvsr import runtime

    machine(cuda=False, mps=False)
    pipe = runtime.load_pipeline("tiny")  # auto on a machine with neither: the CPU
    assert pipe.device.type == "cpu" and capsys.readouterr().err == ""
    with pytest.raises(PatchVSRError, match="--device mps was asked for"):
        runtime.load_pipeline("tiny", device="mps")


def test_no_front_end_pins_the_cpu():
    """The app, the demo and the notebooks leave the device to `load_pipeline`'s choice."""
    root = Path(__file__).resolve().parents[1]
    files = [root / "app.py", *root.glob("demo/*.py"), *root.glob("notebooks/*.ipynb")]
    assert len(files) > 6
    pinned = [
        f.name for f in files if re.search(r"load_pipeline\([^)]*device=\\?.cpu", f.read_text())
    ]
    assert pinned == []
