"""Degradations, training media and batches: shapes, determinism, pan/zoom clips, packs,
exclusions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from patchvsr.errors import PatchVSRError
from patchvsr.train import degrade as D
from patchvsr.train.data import DataSettings, make_batch, still_clip, video_clip
from patchvsr.train.graded import degrade_with_level
from patchvsr.train.media import Source, load_sources, read_pack, write_pack


def _textured(height=96, width=128, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack(
        [128 + 90 * np.sin(x / 5.0), 128 + 90 * np.cos(y / 4.0), 128 + 60 * np.sin((x + y) / 7.0)],
        -1,
    )
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


def _clip(frames=4, height=64, width=64):
    return D.from_uint8(np.stack([_textured(height, width, i) for i in range(frames)]))


# -- degradations ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", D.KINDS)
def test_every_degradation_gives_the_lr_size_in_range(kind):
    lr, _ = degrade_with_level(_clip(), 4, kind, np.random.default_rng(0))
    assert lr.shape == (3, 4, 16, 16)
    assert lr.min() >= -1 and lr.max() <= 1


def test_bilinear_is_the_antialiased_bilinear_downscale():
    clip = _clip()
    expected = F.interpolate(clip.transpose(0, 1), size=(32, 32), mode="bilinear", antialias=True)
    torch.testing.assert_close(D.degrade(clip, 2, "bilinear", None), expected.transpose(0, 1))


def test_realistic_chain_is_a_function_of_the_seed():
    clip = _clip()
    a = D.degrade(clip, 2, "realistic", np.random.default_rng(5))
    b = D.degrade(clip, 2, "realistic", np.random.default_rng(5))
    c = D.degrade(clip, 2, "realistic", np.random.default_rng(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_realistic_chain_degrades_every_frame_alike():
    """Blur, resizes and compression are drawn once per clip (RealBasicVSR): a static clip
    stays static when no noise is added."""
    frame = _clip(1)
    clip = frame.expand(-1, 5, -1, -1).clone()
    settings = D.RealisticSettings(noise_prob=0.0, h264_prob=0.0)
    lr = D.realistic(clip, 2, np.random.default_rng(1), settings)
    for i in range(1, 5):
        assert torch.equal(lr[:, i], lr[:, 0])


def test_jpeg_changes_pixels_but_not_shape():
    clip = _clip(2)
    out = D.jpeg(clip, 30)
    assert out.shape == clip.shape
    assert 0 < (out - clip).abs().mean() < 0.2


def test_h264_round_trip_keeps_frames():
    pytest.importorskip("av")
    clip = _clip(6)
    out = D.h264(clip, 23)
    assert out is not None and out.shape == clip.shape
    assert (out - clip).abs().mean() < 0.15


@pytest.mark.parametrize("kind", ["codec", "realistic2"])
def test_video_degradations_are_functions_of_the_seed(kind):
    pytest.importorskip("av")
    clip = _clip(5)
    a = D.degrade(clip, 2, kind, np.random.default_rng(3))
    b = D.degrade(clip, 2, kind, np.random.default_rng(3))
    assert a.shape == (3, 5, 32, 32)
    assert torch.equal(a, b)
    assert not torch.equal(a, D.degrade(clip, 2, kind, np.random.default_rng(4)))


def test_codec_degradation_compresses_the_downscaled_clip():
    """H.264 at CRF 35 visibly changes the clean downscale; the shape and frame count stay."""
    pytest.importorskip("av")
    clip = _clip(6)
    s = D.CodecSettings(mpeg4_prob=0.0, h264_crf=(35, 35))
    rng = np.random.default_rng(0)
    lr = D.compress_video(D.downscale(clip, 2, "bicubic"), rng, s)
    clean = D.downscale(clip, 2, "bicubic")
    assert lr.shape == clean.shape == (3, 6, 32, 32)
    assert 0.01 < (lr - clean).abs().mean() < 0.3


def test_mpeg4_quality_follows_the_bit_rate():
    pytest.importorskip("av")
    clip = _clip(6)
    low, high = D.mpeg4(clip, 0.05), D.mpeg4(clip, 2.0)
    assert low.shape == high.shape == clip.shape
    assert (high - clip).abs().mean() < (low - clip).abs().mean()


def test_codec_degrades_a_static_clip_without_flicker_in_the_settings():
    """One CRF for the whole clip: a static clip's frames stay close to one another (only the
    codec's own frame types differ), far closer than to another CRF's."""
    pytest.importorskip("av")
    clip = _clip(1).expand(-1, 6, -1, -1).clone()
    out = D.h264(clip, 30)
    assert out is not None and out.shape == clip.shape
    spread = (out - out[:, :1]).abs().mean()
    assert spread < (out - D.h264(clip, 45)).abs().mean()
    # compress_video encodes the whole clip once, at the one CRF it draws
    settings = D.CodecSettings(mpeg4_prob=0.0)
    drawn = D.compress_video(clip, np.random.default_rng(3), settings)
    replay = np.random.default_rng(3)
    replay.random()  # the codec choice
    once = D.h264(clip, D.draw_int(replay, settings.h264_crf))
    assert (drawn - once).abs().mean() < 1e-3


def test_gaussian_kernel_is_normalised_and_anisotropic():
    k = D.gaussian_kernel(3.0, 0.5, 0.0, 13)
    assert abs(float(k.sum()) - 1) < 1e-6
    assert k[6, :].sum() > 2 * k[:, 6].sum()  # wide along x, narrow along y


def test_pick_follows_the_weights():
    rng = np.random.default_rng(0)
    draws = [D.pick({"bicubic": 3.0, "realistic": 1.0, "bilinear": 0.0}, rng) for _ in range(400)]
    assert "bilinear" not in draws
    assert 0.65 < draws.count("bicubic") / 400 < 0.85


# -- clips ----------------------------------------------------------------------------------


def test_still_clip_pans_across_the_image():
    s = DataSettings(frames=6, max_pan=3.0, zoom=(1.0, 1.0), native_fraction=0.0)
    image = _textured(200, 240)
    moved = 0
    for seed in range(5):
        clip = still_clip(image, 6, (64, 64), np.random.default_rng(seed), s)
        assert clip.shape == (6, 64, 64, 3) and clip.dtype == np.uint8
        moved += not np.array_equal(clip[0], clip[-1])
    assert moved >= 3


def test_native_clips_are_plain_crops_of_the_source():
    s = DataSettings(frames=3, max_pan=0.0, native_fraction=1.0)
    image = _textured(100, 120)
    clip = still_clip(image, 3, (64, 64), np.random.default_rng(0), s)
    found = [
        (y, x)
        for y in range(100 - 63)
        for x in range(120 - 63)
        if np.array_equal(image[y : y + 64, x : x + 64], clip[0])
    ]
    assert found


def test_video_clip_takes_consecutive_frames():
    # Frame i is filled with the value i: the clip's values are a run of indices.
    video = np.stack([np.full((80, 80, 3), i, np.uint8) for i in range(30)])
    s = DataSettings(frames=5, native_fraction=1.0)
    clip = video_clip(video, 5, (64, 64), np.random.default_rng(0), s)
    steps = np.diff(clip[:, 0, 0, 0].astype(int))
    assert len(set(steps.tolist())) == 1 and steps[0] in (1, 2)


def test_small_source_is_upscaled_to_the_scene():
    clip = still_clip(_textured(40, 50), 2, (64, 64), np.random.default_rng(0), DataSettings())
    assert clip.shape == (2, 64, 64, 3)


# -- batches --------------------------------------------------------------------------------


def _sources():
    video = np.stack([np.roll(_textured(96, 128, 0), 2 * i, axis=1) for i in range(12)])
    return [Source("still", _textured(120, 150, 1)[None]), Source("video", video)]


def _settings(**kw):
    base = dict(
        frames=3,
        scenes=((64, 64), (48, 80)),
        patch=32,
        align=16,
        scales=(2, 4),
        degradations={"bilinear": 1.0, "realistic": 1.0},
        batch_size=3,
    )
    return DataSettings(**(base | kw))


def test_batch_is_a_function_of_seed_and_step():
    a, b = make_batch(_sources(), _settings(), 0, 7), make_batch(_sources(), _settings(), 0, 7)
    c = make_batch(_sources(), _settings(), 0, 8)
    assert torch.equal(a.hr, b.hr) and torch.equal(a.lr, b.lr) and torch.equal(a.boxes, b.boxes)
    assert not (a.hr.shape == c.hr.shape and torch.equal(a.hr, c.hr))


def test_batch_shapes_boxes_and_scale():
    for step in range(6):
        batch = make_batch(_sources(), _settings(patches_per_scene=2), 1, step)
        s, c, f, h, w = batch.hr.shape
        assert (s, c, f) == (2, 3, 3) and (h, w) in ((64, 64), (48, 80))
        assert batch.hr.dtype == batch.lr.dtype == torch.uint8
        assert batch.lr.shape == (2, 3, 3, h // batch.scale, w // batch.scale)
        assert batch.scene.tolist() == [0, 0, 1]  # 3 patches, 2 per scene
        y0, x0, y1, x1 = batch.boxes.T
        assert ((y0 % 16 == 0) & (x0 % 16 == 0)).all()
        assert ((y1 - y0 == 32) & (x1 - x0 == 32) & (y1 <= h) & (x1 <= w)).all()


def test_one_frame_batches_of_flipped_clips():
    """Image-only training (frames = 1): flipped one-frame clips must still become tensors."""
    for step in range(8):  # flips are random: some of these steps flip
        batch = make_batch(_sources(), _settings(frames=1), 2, step)
        assert batch.hr.shape[:3] == (3, 3, 1)


# -- sources and packs ----------------------------------------------------------------------


def test_pack_round_trip(tmp_path):
    still = _textured(40, 50)
    clip = np.stack([_textured(32, 48, i) for i in range(4)])
    path = write_pack(tmp_path / "media.npz", [Source("s", still[None]), Source("c", clip)])
    loaded = {s.name: s.frames for s in read_pack(path)}
    assert np.array_equal(loaded["s"][0], still)  # stills are lossless
    assert loaded["c"].shape == clip.shape
    assert np.abs(loaded["c"].astype(int) - clip).mean() < 4  # clip frames: JPEG 95


def test_folders_are_read_and_benchmarks_left_out(tmp_path):
    Image.fromarray(_textured(40, 40)).save(tmp_path / "texture.png")
    Image.fromarray(_textured(40, 40, 3)).save(tmp_path / "baboon.png")
    sources = load_sources([tmp_path])
    assert [s.name for s in sources] == ["texture"]


def test_missing_or_empty_sources_are_errors(tmp_path):
    with pytest.raises(PatchVSRError, match="does not exist"):
        load_sources([tmp_path / "nope"])
    with pytest.raises(PatchVSRError, match="no training media"):
        load_sources([tmp_path])


def test_worker_processes_prefetch_the_same_batches():
    from itertools import islice

    from patchvsr.train.data import batch_loader

    inline = list(islice(batch_loader(_sources(), _settings(), 4, start=5, workers=0), 3))
    workers = list(islice(batch_loader(_sources(), _settings(), 4, start=5, workers=2), 3))
    for step, (a, b) in enumerate(zip(inline, workers, strict=True)):
        assert torch.equal(a.hr, b.hr) and torch.equal(a.lr, b.lr) and a.scale == b.scale
        assert torch.equal(a.seeds, make_batch(_sources(), _settings(), 4, 5 + step).seeds)


def test_any_share_of_a_batchs_scenes_is_made_alone():
    """A process makes only its share of a step's scenes, and gets exactly those scenes."""
    from patchvsr.train.data import collate_scenes, make_scene

    settings = _settings(batch_size=4, patches_per_scene=1)
    whole = make_batch(_sources(), settings, 2, 6)
    share = collate_scenes([make_scene(_sources(), settings, 2, 6, i) for i in (2, 3)])
    assert torch.equal(share.hr, whole.hr[2:]) and torch.equal(share.lr, whole.lr[2:])
    assert torch.equal(share.boxes, whole.boxes[2:]) and torch.equal(share.seeds, whole.seeds[2:])
    assert len(set(whole.seeds.tolist())) == 4
