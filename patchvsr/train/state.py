"""A training run's state: what it carries from one step to the next (`RunState`, which its
checkpoint holds) and its clock (`Clock`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from patchvsr.errors import PatchVSRError
from patchvsr.train.config import TrainConfig


@dataclass
class RunState:
    """What a run carries from one step to the next; its checkpoint's state.json holds it, so a
    resumed run continues the very loss curve and schedule an uninterrupted run would have."""

    step: int
    seed: int
    # The step the cosine schedule decays to: max_steps, or where the time budget will end the
    # run once its pace is measured (`fixed` then, and kept on resuming).
    horizon: int
    fixed: bool = False
    losses: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "step": self.step,
            "losses": self.losses,
            "seed": self.seed,
            "horizon": self.horizon,
            "fixed": self.fixed,
        }

    @classmethod
    def from_checkpoint(cls, saved: dict, cfg: TrainConfig) -> RunState:
        if saved["seed"] != cfg.run.seed:
            raise PatchVSRError(
                f"the run was started with seed {saved['seed']}, config says {cfg.run.seed}"
            )
        fixed = saved.get("fixed")
        # A horizon not yet fixed by a measured pace follows the config's max_steps.
        horizon = cfg.run.max_steps if fixed is False else saved["horizon"]
        return cls(
            step=saved["step"],
            seed=saved["seed"],
            horizon=horizon,
            fixed=fixed is not False,
            losses=list(saved["losses"]),
        )


@dataclass
class Clock:
    """The run's timing: since its start (the time budget), since the last log line (the pace
    and the wait for data), and since the horizon probe (the pace that sets the horizon)."""

    start: float = field(default_factory=time.monotonic)
    window: float = field(default_factory=time.monotonic)
    probe: float = field(default_factory=time.monotonic)
    waited: float = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def new_window(self) -> None:
        self.window, self.waited = time.monotonic(), 0.0
