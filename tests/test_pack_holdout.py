"""The media pack's held-out video set: wholly unseen videos, never a clip of a trained one."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import pack_training_data as pack  # noqa: E402

from patchvsr.train.media import Source  # noqa: E402


def _clip(name: str, frames: int = 3) -> Source:
    return Source(name, np.zeros((frames, 8, 8, 3), np.uint8))


def test_a_held_out_clip_of_a_trained_video_is_an_overlap():
    train = [_clip("world-0"), _clip("world-1"), _clip("tree-0"), _clip("astronaut", 1)]
    assert pack.overlap(train, [_clip("bikes-held8"), _clip("chelsea", 1)]) == set()
    assert pack.overlap(train, [_clip("world-held220")]) == {"world"}
    assert pack.overlap(train, [_clip("astronaut", 1)]) == {"astronaut"}
