"""Soak the demo: `python app.py` in a process of its own, hundreds of small jobs through
gradio_client (good clips and images, bad inputs, cancellations), the server's memory, open
files, threads and job folders checked every 50 jobs.

    python scripts/soak.py --jobs 300 --max-age 60

The figures at the end are the ones docs/reliability.md quotes: among them the server's memory after
the first checkpoint (job 50) and after the last (job 300). The exit status is 1 if a job
broke a promise, anything was left behind, or the memory grew by more than --max-growth
between those two checkpoints. `--jobs 20 --every 10` is a quick run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extras.soak import soak  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--every", type=int, default=50, help="jobs between two checkpoints")
    parser.add_argument("--max-age", type=float, default=60.0, help="PATCHVSR_OUTPUT_MAX_AGE")
    parser.add_argument(
        "--max-growth",
        type=float,
        default=0.05,
        help="largest growth of resident memory from the first checkpoint to the last (0.05: 5%%)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="patchvsr-soak-") as root:
        report = soak(Path(root), args.jobs, every=args.every, max_age=args.max_age)
    print(report.summary())
    problems = report.wrong + report.leftovers
    if report.growth() > args.max_growth:
        problems.append(f"memory grew {report.growth():.1%}, over {args.max_growth:.0%}")
    for problem in problems:
        print("PROBLEM", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
