import os

# Idle OpenMP threads sleep instead of spinning. On a CPU shared with other work, spinning
# threads burn the time slices the working ones wait for, at every parallel region (measured
# on 2 busy cores: one mini window 88 s with libgomp's default spin, 14 s passive). Set before
# torch loads its OpenMP runtime; a user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from patchvsr.devices import enable_mps_fallback  # noqa: E402

enable_mps_fallback()  # on a Mac, before torch loads: operations MPS lacks run on the CPU

from patchvsr.cli import main  # noqa: E402

raise SystemExit(main())
