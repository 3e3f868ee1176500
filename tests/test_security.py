"""Security: weights load only from safetensors, the app serves only its own folders, limits
uploads and spawns no processes, and a seed makes a result reproducible to the byte."""

from __future__ import annotations

import ast
import os
import pickle
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from app_server import call_raw, fetch, file_data, job_folders, serve, upscale_args
from conftest import REPO_ROOT, write_clip
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from patchvsr.cli import main
from patchvsr.errors import PatchVSRError
from patchvsr.pipeline.builders import build_tiny
from patchvsr.pipeline.loading import load_adapter
from patchvsr.runtime import load_pipeline
from patchvsr.serve.config import DemoSettings

SOURCES = sorted(
    [REPO_ROOT / "app.py"]
    + [p for folder in ("patchvsr", "demo", "scripts") for p in (REPO_ROOT / folder).rglob("*.py")]
)


def calls(path: Path):
    """(dotted name, call node) of every call in a source file: `torch.load`, `os.system` ..."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            parts.append(func.id if isinstance(func, ast.Name) else "")  # "": `f().eval()`
            yield ".".join(reversed(parts)), node


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def keyword(node: ast.Call, name: str):
    for kw in node.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


# --- weights: safetensors only -------------------------------------------------------------------


def test_no_code_unpickles_anything():
    """Loading a pickle runs whatever code it names. No module imports a pickle loader, and
    `torch.load` (if ever used) must say `weights_only=True`, `np.load` never allow pickles."""
    found = []
    for path in SOURCES:
        where = path.relative_to(REPO_ROOT)
        for name in imported(path):
            if name.split(".")[0] in ("pickle", "dill", "cloudpickle", "joblib", "_pickle"):
                found.append(f"{where}: imports {name}")
            if name in ("torch.load", "torch.serialization.load"):
                found.append(f"{where}: imports {name}")
        for name, node in calls(path):
            if name.endswith("torch.load") and keyword(node, "weights_only") is not True:
                found.append(f"{where}:{node.lineno}: torch.load without weights_only=True")
            if name in ("np.load", "numpy.load") and keyword(node, "allow_pickle") is True:
                found.append(f"{where}:{node.lineno}: np.load with allow_pickle=True")
    assert found == []


class RunsCode:
    """Unpickling this makes a folder: proof that a pickle was opened."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _plant_pickle(folder: Path, name: str, marker: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(pickle.dumps(RunsCode(marker)))


@pytest.mark.parametrize("name", ["diffusion_pytorch_model.bin", "adapter.pt"])
def test_a_model_folder_holding_a_pickle_is_refused_unopened(name, tmp_path, capsys):
    model = tmp_path / "model"
    build_tiny().save_pretrained(model)
    marker = tmp_path / "the pickle ran"
    _plant_pickle(model / ("transformer" if name.endswith(".bin") else "adapter"), name, marker)
    clip = write_clip(tmp_path / "clip.mp4", frames=2, size=(16, 16), audio=False)
    out = tmp_path / "out.mp4"
    assert main(["upscale", str(clip), "-o", str(out), "--model", str(model), "-q"]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "holds pickled weights" in line and name in line
    assert "only safetensors are loaded" in line
    assert not marker.exists() and not out.exists()


def _hub_cache(root: Path, repo_id: str) -> Path:
    """The local hub cache's layout for `repo_id`, as a download would leave it; returns the
    snapshot folder. Offline, the hub client answers from it."""
    storage = root / f"models--{repo_id.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True)
    commit = "0123456789abcdef0123456789abcdef01234567"
    (storage / "refs" / "main").write_text(commit)
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    return snapshot


def test_a_hub_model_or_adapter_holding_a_pickle_is_refused_unopened(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    marker = tmp_path / "the pickle ran"

    base = _hub_cache(tmp_path / "hub", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    (base / "model_index.json").write_text("{}")
    _plant_pickle(base / "transformer", "diffusion_pytorch_model.bin", marker)
    with pytest.raises(PatchVSRError, match=r"holds pickled weights \(diffusion_pytorch_model"):
        load_pipeline("wan2.1-1.3b", device="cpu")

    adapter = _hub_cache(tmp_path / "hub", "someone/patchvsr-adapter")
    (adapter / "config.json").write_text("{}")
    _plant_pickle(adapter, "pytorch_model.bin", marker)
    with pytest.raises(PatchVSRError, match=r"holds pickled weights \(pytorch_model\.bin\)"):
        load_adapter("someone/patchvsr-adapter", dtype=None)
    assert not marker.exists()


# --- the app: its own folders only, bounded uploads, no processes ---------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A server whose uploads are limited to 50 kB, with a secret beside its output folder,
    a job folder inside it, and a link in it that leads out."""
    root = tmp_path_factory.mktemp("server")
    outputs = root / "outputs"
    outputs.mkdir()
    (root / "secret.txt").write_text("TOP SECRET")
    (outputs / "job-0-test").mkdir()
    (outputs / "job-0-test" / "result.txt").write_text("a result")
    (outputs / "leak.txt").symlink_to(root / "secret.txt")
    env = {
        "PATCHVSR_MODELS": "bicubic",
        "PATCHVSR_OUTPUT_DIR": str(outputs),
        "PATCHVSR_MAX_UPLOAD_MB": "0.05",
    }
    demo, url = serve(DemoSettings.from_env(env))
    try:
        yield url, root
    finally:
        demo.close()


@pytest.mark.slow
def test_files_are_served_only_from_the_output_and_example_folders(app):
    url, root = app
    outputs, secret = root / "outputs", root / "secret.txt"
    example = REPO_ROOT / "assets" / "examples" / "dove_002.mp4"
    assert fetch(f"{url}gradio_api/file={outputs}/job-0-test/result.txt") == (200, b"a result")
    assert fetch(f"{url}gradio_api/file={example}")[0] == 200
    attempts = [
        str(secret),
        "/etc/passwd",
        str(REPO_ROOT / "README.md"),
        str(REPO_ROOT / "patchvsr" / "serve" / "config.py"),
        f"{outputs}/../secret.txt",
        f"{outputs}/job-0-test/../../secret.txt",
        f"{outputs}/job-0-test/%2e%2e/%2e%2e/secret.txt",
        f"{outputs}/job-0-test/%252e%252e/%252e%252e/secret.txt",
        f"{outputs}%2F..%2Fsecret.txt",
        f"{outputs}/job-0-test/..\\..\\secret.txt",
        f"{example.parent}/../../README.md",
        f"{outputs}/leak.txt",  # a link inside the folder that leads out of it
        "../secret.txt",
        f"//{secret}",
    ]
    for path in attempts:
        for route in ("gradio_api/file=", "file="):
            status, body = fetch(f"{url}{route}{path}")
            assert status in (403, 404), (route, path, status)
            assert b"TOP SECRET" not in body and b"root:" not in body


@pytest.mark.slow
def test_the_api_takes_only_uploaded_files_as_inputs(app):
    """A client that names a server path instead of uploading a file gets an error, never
    the file."""
    url, root = app
    jobs = job_folders(root / "outputs")
    for path in [root / "secret.txt", Path("/etc/passwd"), root / "outputs" / "leak.txt"]:
        for endpoint, data in [
            ("upscale", list(upscale_args(file_data(path)))),
            ("explore", [file_data(path), 0, 4, "", 256, "paper", 0.25, "paper", 0]),
        ]:
            events = call_raw(url, endpoint, data)
            assert "event: error" in events and "TOP SECRET" not in events
    assert job_folders(root / "outputs") == jobs
    assert fetch(url)[0] == 200


def _post_upload(url: str, size: int) -> tuple[int, bytes]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    )
    body = head.encode() + bytes(size) + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{url}gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.slow
def test_uploads_over_the_limit_are_refused(app, tmp_path):
    url, _ = app
    status, body = _post_upload(url, 80_000)  # the limit is 50 kB (PATCHVSR_MAX_UPLOAD_MB)
    assert status == 413 and b"maximum allowed size of 50000 bytes" in body
    assert _post_upload(url, 20_000)[0] == 200
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(80_000))
    with pytest.raises((AppError, ValueError), match="exceeds the maximum file size"):
        Client(url, verbose=False).predict(
            *upscale_args(handle_file(str(big))), api_name="/upscale"
        )
    small = write_clip(tmp_path / "small.mp4", frames=2, size=(32, 32), audio=False)
    status, *_ = Client(url, verbose=False).predict(
        *upscale_args(handle_file(str(small))), api_name="/upscale"
    )
    assert status.startswith("**Done.**")


def _repo_module(name: str) -> Path | None:
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def app_sources() -> list[Path]:
    """Every source file of this repository that the app can run: app.py and what it imports,
    transitively, lazy imports inside functions included."""
    todo = [REPO_ROOT / "app.py"]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported(path):
            if name.split(".")[0] in ("patchvsr", "demo"):
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # the package __init__s too
                    module = _repo_module(".".join(parts[:i]))
                    if module is not None:
                        todo.append(module)
    return sorted(seen)


SPAWNING = ("os.system", "os.popen", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "pty.")


def test_the_app_runs_no_shell_commands_or_processes():
    """No code the app runs starts a process or a shell, or evaluates a string as code, so no
    user input can become a command."""
    sources = app_sources()
    assert REPO_ROOT / "patchvsr" / "serve" / "jobs.py" in sources  # the walk reaches the core
    assert REPO_ROOT / "patchvsr" / "runtime.py" in sources  # and its lazy imports
    found = []
    for path in sources:
        where = path.relative_to(REPO_ROOT)
        for name in imported(path):
            if name.split(".")[0] in ("subprocess", "pty", "multiprocessing"):
                found.append(f"{where}: imports {name}")
        for name, node in calls(path):
            if name.startswith(SPAWNING) or name in ("eval", "exec") or "subprocess" in name:
                found.append(f"{where}:{node.lineno}: calls {name}")
            if keyword(node, "shell") is True:
                found.append(f"{where}:{node.lineno}: shell=True")
    assert found == []


# --- seeds ----------------------------------------------------------------------------------------


def test_the_same_input_model_and_seed_give_byte_identical_output(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", frames=3, size=(16, 16), audio=True)

    def run(seed: int, name: str) -> bytes:
        out = tmp_path / name
        args = ["upscale", str(clip), "-o", str(out), "--model", "tiny", "--steps", "2"]
        assert main([*args, "--seed", str(seed), "--scale", "2", "--device", "cpu", "-q"]) == 0
        return out.read_bytes()

    first, again, other = run(7, "a.mp4"), run(7, "b.mp4"), run(8, "c.mp4")
    assert first == again
    assert other != first  # the seed does matter
