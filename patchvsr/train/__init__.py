"""Training PatchVSR, one file per job.

config.py      the TOML config: dataclasses with defaults, checked key by key
media.py       training media: videos, images, folders, media packs
degrade.py     HR clip -> LR input (bilinear, bicubic, a realistic chain)
data.py        clips and batches, each a pure function of (seed, step)
model.py       building the model from a config, what trains, EMA, export
step.py        one step's rectified-flow loss, through the pipeline's own methods
checkpoint.py  checkpoints (safetensors + JSON), written atomically
report.py      the loss curve and sample comparisons
loop.py        `train(config)`: the whole run, on one process or many (accelerate)
state.py       the run's state from step to step (what its checkpoint holds) and its clock
processes.py   the run's processes: the Accelerator, and their weights checked alike
"""

from patchvsr.train.config import TrainConfig, load_config
from patchvsr.train.loop import data_settings, train

__all__ = ["TrainConfig", "data_settings", "load_config", "train"]
