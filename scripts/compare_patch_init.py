"""Measure `model.init_patch_blocks`: the same run with the patch branch started at random and
as copies of the base blocks it mirrors (same data, noise and seed), loss curves side by side.

    python scripts/compare_patch_init.py [CONFIG] [--steps 300] [--out runs/patch-init]

Writes OUT/random/, OUT/copy/ (run folders) and OUT/patch-init.png, and prints the mean loss
of the first and last tenth of each run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from patchvsr.train import load_config, train  # noqa: E402
from patchvsr.train.report import smooth  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default="configs/tiny-wan.toml")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="runs/patch-init")
    args = parser.parse_args()
    out = Path(args.out)
    curves = {}
    for init in ("random", "copy"):
        cfg = load_config(args.config)
        cfg.model.init_patch_blocks = init
        cfg.run.log_every = 25
        cfg.run.checkpoint_every = args.steps
        run = train(cfg, out=out / init, max_steps=args.steps, echo=None, export=False)
        curves[init] = json.loads((run / "checkpoint" / "state.json").read_text())["losses"]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    tenth = max(1, args.steps // 10)
    for init, losses in curves.items():
        ax.plot(np.arange(tenth, len(losses) + 1), smooth(losses, tenth), label=init)
        first, last = np.mean(losses[:tenth]), np.mean(losses[-tenth:])
        print(f"{init:6s}: mean loss, first {tenth} steps {first:.4f}, last {tenth} {last:.4f}")
    ax.set_xlabel("step")
    ax.set_ylabel(f"training loss (mean of {tenth})")
    ax.set_title(f"{Path(args.config).stem}: patch branch from random vs copied base blocks")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "patch-init.png")
    print(out / "patch-init.png")


if __name__ == "__main__":
    main()
