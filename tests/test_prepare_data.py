"""`prepare-data`: clips of the configured length and size from real videos, scene cuts,
static clips and small sources dropped, unreadable files skipped with one line, a manifest
of sources, reruns that add only what is new; the result trains the tiny-wan recipe."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, clip_frame
from PIL import Image

from patchvsr.cli import main
from patchvsr.io.probe import probe
from patchvsr.io.writer import VideoWriter
from patchvsr.train.prepare import PrepareSettings, prepare_data

ROOT = Path(__file__).resolve().parents[1]
DOVE = SHARED_DATA / "dove_demo"


def _video(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, rate=16, crf=10) as writer:
        for rgb in frames:
            writer.write(rgb)
    return path


@pytest.fixture
def media(tmp_path) -> Path:
    """A moving clip with a scene cut after frame 9, a static clip, a too-small clip, an
    image and a file that is not a video."""
    folder = tmp_path / "media"
    folder.mkdir()
    moving = [clip_frame(i, 96, 64) for i in range(10)]
    other = [255 - clip_frame(i, 96, 64)[::-1] for i in range(10, 20)]
    _video(folder / "cut.mp4", moving + other)
    _video(folder / "static.mp4", [clip_frame(0, 96, 64)] * 10)
    _video(folder / "small.mp4", [clip_frame(i, 32, 16) for i in range(10)])
    Image.fromarray(clip_frame(3, 80, 72)).save(folder / "still.png")
    (folder / "broken.mp4").write_bytes(b"not a video at all" * 50)
    return folder


SETTINGS = PrepareSettings(frames=4, size=48, min_size=40)


def test_clips_are_cut_and_bad_sources_dropped_or_skipped(media, tmp_path):
    said = []
    counts = prepare_data([media], tmp_path / "set", SETTINGS, say=said.append, progress=False)
    # cut.mp4: frames 0-3, 4-7 kept; 8-9 end at the cut (dropped); 10-13, 14-17 kept.
    assert counts["clips"] == 4 and counts["clips with a scene cut"] == 1
    assert counts["static clips"] == 2 and counts["too small"] == 1 and counts["stills"] == 1
    assert counts["unreadable"] == 1
    assert len(said) == 1 and "broken.mp4" in said[0] and "\n" not in said[0]
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    starts = sorted(i["start"] for i in manifest["items"] if "start" in i)
    assert starts == [0, 4, 10, 14]
    for item in manifest["items"]:
        assert Path(item["source"]).parent == media.resolve()
        if item["file"].endswith(".mp4"):
            info = probe(tmp_path / "set" / item["file"])
            assert (info.num_frames, info.height, info.width) == (4, 48, 72)
        else:
            assert Image.open(tmp_path / "set" / item["file"]).size == (52, 48)


def test_running_again_adds_only_what_is_new(media, tmp_path):
    out = tmp_path / "set"
    prepare_data([media], out, SETTINGS, say=lambda line: None, progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if p.name != "manifest.json"}
    again = prepare_data([media], out, SETTINGS, say=lambda line: None, progress=False)
    assert again["already there"] == 4 and again["clips"] == 0  # broken.mp4 is tried again
    Image.fromarray(clip_frame(5, 64, 64)).save(media / "new.png")
    third = prepare_data([media], out, SETTINGS, say=lambda line: None, progress=False)
    assert third["stills"] == 1 and third["already there"] == 4
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    assert len(json.loads((out / "manifest.json").read_text())["items"]) == 6


@pytest.mark.skipif(not DOVE.is_dir(), reason="../shared/data is not here")
def test_a_set_from_real_videos_trains_the_tiny_wan_recipe(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PATCHVSR_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "dove"
    args = ["prepare-data", str(DOVE), "-o", str(out), "--config", "configs/tiny-wan.toml"]
    assert main([*args, "-q"]) == 0
    assert "clips" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["items"]) >= 20
    assert {Path(i["source"]).name for i in manifest["items"]} >= {"001.mp4", "005.mp4"}
    info = probe(out / manifest["items"][0]["file"])
    assert info.num_frames == 5 and min(info.width, info.height) == 64
    run = ["train", "configs/tiny-wan.toml", "--data", str(out), "--out", str(tmp_path / "run")]
    assert main([*run, "--max-steps", "2", "--no-export", "-q"]) == 0
    assert "sources" in (tmp_path / "run" / "train.log").read_text()
