"""The server's jobs share glibc's heaps: each job runs in a thread of its own, and a thread
with a heap of its own kept what its job freed where the next job did not look (the soak's
slow creep of resident memory with the model's jobs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from patchvsr.serve.background import ARENAS

pytestmark = pytest.mark.slow  # jobs in a child process

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import ctypes, os, re, tempfile
    import numpy as np
    from patchvsr.serve.background import BackgroundJob

    def heaps() -> int:
        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        path = tempfile.mktemp()
        stream = ctypes.c_void_p(libc.fopen(path.encode(), b"w"))
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        with open(path) as file:
            text = file.read()
        os.unlink(path)
        return len(re.findall('<heap nr="', text))

    def work(report):
        for _ in range(50):
            report(0.5, "working")
            blocks = [np.ones(50_000) for _ in range(20)]  # 400 kB each: from the heap
        return len(blocks)

    jobs = [BackgroundJob(work).start() for _ in range(6)]  # waiting for each other, too
    for job in jobs:
        job.wait()
        assert job.result() == 20
    print(heaps())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heaps")
def test_jobs_in_threads_of_their_own_share_two_heaps():
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # Without the limit each of the six threads had a heap of its own: 7 with the main one.
    assert int(done.stdout) <= ARENAS
