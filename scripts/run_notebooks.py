"""Execute the tutorials and store their outputs in place, so a reader sees every figure.

    python scripts/run_notebooks.py [NAME ...]            # refresh notebooks/ in place
    python scripts/run_notebooks.py --fast [NAME ...]     # a quick check, copies in build/notebooks/

NAME picks notebooks by a part of their file name (`04`, `training`); default: all, in order.

A refresh runs each notebook top to bottom in a fresh kernel at its tutorial size, on the CPU,
then stores it with its outputs and, in its metadata, a hash of its code cells
(`code_hash`): `tests/test_notebooks.py` fails when a code cell changed after the outputs were
stored. A notebook is stored only when it is clean: no cell raised, nothing was written to
stderr (warnings), and no output names a path of this machine (the repository or a temporary
folder). Execution timestamps are left out, so a refresh that changes nothing changes no file,
and large pictures are stored with a 256-colour palette to keep each notebook small.

`--fast` sets PATCHVSR_NOTEBOOK_FAST=1 (smaller clips, fewer steps, as the test suite runs
them) and writes executed copies to `--out` (default build/notebooks/) instead: fast outputs
are never stored in notebooks/. Other settings pass through the environment
(PATCHVSR_NOTEBOOK_MODEL, PATCHVSR_NOTEBOOK_BASE, PATCHVSR_NOTEBOOK_ADAPTER; see
notebooks/README.md).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
HASH_KEY = "code_hash"  # in the notebook's metadata, under "patchvsr"
SHRINK_ABOVE = 40_000  # bytes: larger PNGs are stored with a 256-colour palette


def notebooks(names: list[str] | None = None) -> list[Path]:
    """The tutorials in order, or those whose file name contains one of `names`."""
    paths = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if names:
        paths = [p for p in paths if any(n in p.name for n in names)]
    return paths


def code_hash(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of the code cells' sources, in order: what the stored outputs were made by."""
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def stored_hash(nb: nbformat.NotebookNode) -> str | None:
    return nb.metadata.get("patchvsr", {}).get(HASH_KEY)


def output_text(output: nbformat.NotebookNode) -> str:
    """The text of one output (stream text, or the text/plain and text/html of a result)."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return "\n".join(output.traceback)
    data = output.get("data", {})
    return "\n".join(str(data.get(k, "")) for k in ("text/plain", "text/html"))


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Why an executed notebook must not be stored: errors, stderr output, machine paths."""
    found = []
    local = {str(ROOT), tempfile.gettempdir() + os.sep, str(Path.home()) + os.sep}
    for i, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                found.append(f"cell {i} raised {output.ename}")
            elif output.output_type == "stream" and output.name == "stderr":
                found.append(f"cell {i} wrote to stderr: {output.text.strip()[:200]!r}")
            text = output_text(output)
            found += [f"cell {i} prints the path {p!r}" for p in local if p in text]
    return found


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop what changes from run to run without saying anything: execution timestamps."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)


def shrink_png(data: str) -> str:
    """A base64 PNG re-encoded with an adaptive 256-colour palette (no dithering, which would
    cost bytes on flat figure backgrounds), when that is smaller: frames and heat maps in
    full colour take 2-3 times the bytes, and a notebook should stay small enough to read
    online."""
    raw = base64.b64decode(data)
    if len(raw) <= SHRINK_ABOVE:
        return data
    with Image.open(io.BytesIO(raw)) as image:
        palette = image.convert("RGB").quantize(
            256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    out = io.BytesIO()
    palette.save(out, "PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode() if out.tell() < len(raw) else data


def shrink_pictures(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                data["image/png"] = shrink_png(data["image/png"])


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, str | None]:
    """Run a notebook in a fresh kernel started in notebooks/; the error text if a cell raised."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as err:
        return nb, str(err).splitlines()[0] if isinstance(err, CellTimeoutError) else str(err)
    return nb, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="notebooks to run (default: all)")
    parser.add_argument(
        "--fast", action="store_true", help="fast mode, copies written to --out (not stored)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "build" / "notebooks", help="where --fast writes"
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)

    paths = notebooks(args.names)
    if not paths:
        parser.error(f"no notebook matches {' '.join(args.names)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the CPU tutorials load nothing from the hub
    if args.fast:
        os.environ["PATCHVSR_NOTEBOOK_FAST"] = "1"
        args.out.mkdir(parents=True, exist_ok=True)
    else:
        os.environ.pop("PATCHVSR_NOTEBOOK_FAST", None)

    failed = 0
    total = time.perf_counter()
    for path in paths:
        started = time.perf_counter()
        nb, error = execute(path, args.timeout)
        clean(nb)
        shrink_pictures(nb)
        found = [error] if error else problems(nb)
        seconds = time.perf_counter() - started
        if args.fast:
            nbformat.write(nb, args.out / path.name)  # also when it failed: the error is in it
        elif not found:
            nb.metadata.setdefault("patchvsr", {})[HASH_KEY] = code_hash(nb)
            nbformat.write(nb, path)
        failed += bool(found)
        status = "ok" if not found else "NOT STORED\n  " + "\n  ".join(found)
        size = f", {path.stat().st_size / 1e6:.2f} MB" if not args.fast and not found else ""
        print(f"{path.name}: {seconds:.0f} s{size}, {status}", flush=True)
    where = f"copies in {args.out}" if args.fast else "stored in notebooks/"
    print(
        f"{len(paths) - failed} of {len(paths)} notebooks {where}, {time.perf_counter() - total:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
