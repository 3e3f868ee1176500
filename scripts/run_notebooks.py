"""Execute the tutorials and write executed copies, outputs included, to build/notebooks/.

    python scripts/run_notebooks.py [--fast] [--out build/notebooks] [NAME ...]

The notebooks in notebooks/ are stored without outputs (they would go stale); this is the one
command that regenerates them, for reading on a machine without a kernel or for publishing.
NAME picks notebooks by a part of their file name (`04`, `training`); default: all, in order.
`--fast` sets PATCHVSR_NOTEBOOK_FAST=1 (smaller clips, fewer steps), as the test suite does.
Other settings pass through the environment (PATCHVSR_NOTEBOOK_MODEL, PATCHVSR_NOTEBOOK_BASE,
PATCHVSR_NOTEBOOK_ADAPTER; see notebooks/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="notebooks to run (default: all)")
    parser.add_argument("--fast", action="store_true", help="set PATCHVSR_NOTEBOOK_FAST=1")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "notebooks")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)

    paths = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(n in p.name for n in args.names)]
        if not paths:
            parser.error(f"no notebook matches {' '.join(args.names)}")
    if args.fast:
        os.environ["PATCHVSR_NOTEBOOK_FAST"] = "1"
    args.out.mkdir(parents=True, exist_ok=True)

    failed = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=args.timeout,
            resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        )
        started = time.perf_counter()
        try:
            client.execute()
            status = "ok"
        except CellExecutionError as err:
            failed += 1
            status = f"FAILED\n{err}"
        nbformat.write(nb, args.out / path.name)  # also when it failed: the error is in it
        print(f"{path.name}: {time.perf_counter() - started:.0f} s, {status}", flush=True)
    print(f"executed copies in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
