"""What a time-budgeted training run says about where it ends: a constant learning rate has no
schedule that ends, so the log names the run's end, and a cosine schedule its decay's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from patchvsr.train import train
from patchvsr.train.config import load_config

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.toml"


@pytest.mark.parametrize(
    "schedule, said",
    [("constant", "the run ends near step 16"), ("cosine", "the learning-rate schedule ends")],
)
def test_the_log_names_what_ends_at_the_estimated_step(tmp_path, schedule, said):
    media = tmp_path / "media"
    media.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        noise = rng.integers(0, 256, (96, 112, 3), dtype=np.uint8)
        Image.fromarray(noise).save(media / f"noise{i}.png")
    cfg = load_config(TINY)
    cfg.data.sources = [str(media)]
    cfg.optim.schedule = schedule
    # A budget far beyond 16 steps: the pace estimate (at step 15) says the step limit ends it.
    run = train(cfg, out=tmp_path / "run", max_steps=16, time_budget=3600.0, echo=None)
    log = (run / "train.log").read_text()
    assert said in log
    if schedule == "constant":
        assert "learning-rate schedule" not in log
