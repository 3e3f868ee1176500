"""Fuzz the reading path: mutated MP4, MOV, MKV, WebM, MPEG-TS, raw H.264/HEVC, GIF, PNG, JPEG
and PNG-in-MOV files through probe, validation and the decoding of the first window.

    python scripts/fuzz.py --cases 50            # cases 0..49 of every seed, then stop
    python scripts/fuzz.py --long --seconds 900  # new cases until the time is up

Every failure (another exception than PatchVSRError, a refusal on several lines, a crash, a
hang, memory over the budget) is printed and, with --long or --keep, written into
tests/fuzz_regressions/ as `<case id><ext>` (plus a `.json` note), which the test suite
replays. The figures at the end are the ones docs/reliability.md quotes.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extras.fuzz.mutate import Case  # noqa: E402
from extras.fuzz.runner import (  # noqa: E402
    CASE_TIMEOUT,
    MEMORY_BUDGET,
    Worker,
    run_cases,
    write_regression,
)
from extras.fuzz.seeds import build_seeds  # noqa: E402

REGRESSIONS = ROOT / "tests" / "fuzz_regressions"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="cases per seed (without --long)")
    parser.add_argument("--long", action="store_true", help="run until --seconds have passed")
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--first", type=int, default=0, help="number of the first case")
    parser.add_argument("--keep", action="store_true", help="write failures as regressions")
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT)
    args = parser.parse_args(argv)

    seeds = {seed.name: seed for seed in build_seeds()}
    numbers = (
        itertools.count(args.first) if args.long else range(args.first, args.first + args.cases)
    )
    deadline = time.monotonic() + args.seconds
    outcomes, failures = Counter(), []
    slowest = peak = 0.0
    last = "none"
    start = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="patchvsr-fuzz-") as folder,
        Worker(args.timeout) as worker,
    ):
        cases = (Case(name, number) for number in numbers for name in seeds)
        for result, data in run_cases(cases, seeds, Path(folder), worker):
            outcomes[result.outcome] += 1
            last = result.id
            slowest, peak = max(slowest, result.seconds), max(peak, result.peak_growth)
            why = result.failure()
            if why:
                failures.append(result.id)
                print(f"FAIL {result.id}: {why} ({'; '.join(result.steps)})", flush=True)
                if args.long or args.keep:
                    write_regression(
                        REGRESSIONS, result, data, seeds[result.id.rsplit("-", 1)[0]].suffix
                    )
            if args.long and time.monotonic() > deadline:
                break
        start_rss, end_rss = worker.start_rss, worker.last_rss
    total = sum(outcomes.values())
    print(
        f"{total} cases in {time.monotonic() - start:.0f} s over {len(seeds)} seeds "
        f"(the last {last}): "
        + ", ".join(f"{n} {k}" for k, n in outcomes.most_common())
        + f"; {len(failures)} failures; slowest case {slowest:.2f} s; largest peak "
        f"{peak / 1e6:.0f} MB (budget {MEMORY_BUDGET / 1e6:.0f} MB); worker memory "
        f"{start_rss / 1e6:.0f} MB after the first case, {end_rss / 1e6:.0f} MB after the last"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
