"""The pictures: real figures of a real clip, of the right size, with real content."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from patchvsr import viz
from patchvsr.io.reader import read_frame
from patchvsr.method.context import global_view_size
from patchvsr.method.grid import plan_patches
from patchvsr.method.weights import WEIGHT_MODES, patch_weights

CLIP = Path(__file__).resolve().parent.parent / "assets" / "examples" / "dove_002.mp4"


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return read_frame(CLIP, 10)  # (180, 318, 3)


@pytest.fixture(scope="module")
def plan():
    return plan_patches(720, 1272, 256)  # x4 of the clip: 8 base + 13 auxiliary patches


def png_of(fig: Figure) -> Image.Image:
    data = viz.figure_to_png(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data)).convert("RGB")


def assert_rich_picture(image: Image.Image, min_colours: int = 500) -> None:
    """Not a blank canvas: many distinct colours and real contrast."""
    pixels = np.asarray(image)
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert colours >= min_colours, colours
    assert pixels.std() > 20


def count_colour(image: Image.Image, hex_colour: str, tol: int = 30) -> int:
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(np.asarray(image).astype(int) - target).max(axis=-1) <= tol).sum())


def legend_labels(fig: Figure) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


# --- the patch grid --------------------------------------------------------------------------


def test_grid_figure_of_a_real_frame_is_a_png_of_the_figure_size(frame, plan):
    fig = viz.grid_figure(frame, plan, highlight=19)
    image = png_of(fig)
    width, height = fig.get_size_inches() * fig.dpi
    assert abs(image.width - width) <= 1 and abs(image.height - height) <= 1
    assert_rich_picture(image)
    assert count_colour(image, viz.HIGHLIGHT, tol=40) > 500  # the selected patch is marked


def test_grid_figure_tells_base_and_each_seam_kind_apart(frame, plan):
    labels = legend_labels(viz.grid_figure(frame, plan))
    for role in ("base", "v", "h", "x"):
        assert viz.STYLES[role]["label"] in labels
    styles = {(viz.STYLES[r]["color"], str(viz.STYLES[r]["ls"])) for r in ("base", "v", "h", "x")}
    assert len(styles) == 4
    tiles = legend_labels(viz.grid_figure(frame, plan_patches(720, 1272, 256, "tiles")))
    assert tiles == [viz.STYLES["base"]["label"]]
    sliding = legend_labels(viz.grid_figure(frame, plan_patches(720, 1272, 256, "sliding")))
    assert sliding == [viz.STYLES["window"]["label"]]


def test_grid_figure_labels_every_patch_with_its_index(frame, plan):
    ax = viz.grid_figure(frame, plan).axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert {str(i) for i in range(len(plan.patches))} <= texts


def test_grid_figure_draws_without_a_frame_too(plan):
    assert_rich_picture(png_of(viz.grid_figure(None, plan)), min_colours=50)


def test_out_of_range_patch_index_is_refused(frame, plan):
    with pytest.raises(IndexError, match="out of range"):
        viz.grid_figure(frame, plan, highlight=len(plan.patches))
    with pytest.raises(IndexError):
        viz.weights_figure(plan, -1)


# --- weights ---------------------------------------------------------------------------------


def test_weights_figure_of_a_real_frame_is_a_rich_picture(frame, plan):
    assert_rich_picture(png_of(viz.weights_figure(plan, 19, "paper", frame)))


def test_weights_figure_shows_the_chosen_weight_mode(plan):
    maps = {}
    for mode in WEIGHT_MODES:
        fig = viz.weights_figure(plan, 19, mode)
        panel = next(ax for ax in fig.axes if mode in ax.get_title())
        shown = np.ma.filled(panel.images[-1].get_array(), np.nan)  # the patch, NaN elsewhere
        assert np.nanmin(shown) > 0 and np.nanmax(shown) <= 1 + 1e-9
        maps[mode] = shown
    assert np.nanmax(maps["uniform"]) < 1  # shared with the overlapping patches
    for a in WEIGHT_MODES:
        for b in WEIGHT_MODES:
            if a < b:
                assert not np.allclose(np.nan_to_num(maps[a]), np.nan_to_num(maps[b]))


def test_weights_figure_profile_adds_up_to_one(plan):
    fig = viz.weights_figure(plan, 12)
    profile = next(ax for ax in fig.axes if "add up to one" in ax.get_title())
    total = next(line for line in profile.lines if line.get_label() == "sum of all weights")
    np.testing.assert_allclose(total.get_ydata(), 1.0, atol=1e-9)


def test_ownership_assigns_every_pixel_to_its_heaviest_patch(plan):
    weights = patch_weights(plan, "paper")
    owner, best = viz.ownership(plan, weights)
    assert owner.min() >= 0 and (best > 0).all() and (best <= 1 + 1e-9).all()
    p = plan.patches[0]
    assert owner[p.y0, p.x0] == 0  # a frame corner belongs to the corner base patch
    for i in (3, 10):
        y, x = np.unravel_index(np.argmax(weights[i]), weights[i].shape)
        q = plan.patches[i]
        assert best[q.y0 + y, q.x0 + x] == pytest.approx(weights[i][y, x])


# --- location and global view ----------------------------------------------------------------


def test_location_figure_shows_mask_similarity_and_encodings(plan):
    fig = viz.location_figure(plan, 19, in_size=(180, 318), out_size=(720, 1272))
    titles = " ".join(ax.get_title() for ax in fig.axes)
    assert "ROI mask" in titles and "similarity" in titles and "Encodings of all 21" in titles
    assert_rich_picture(png_of(fig))
    mask_ax = next(ax for ax in fig.axes if "ROI mask" in ax.get_title())
    gh, gw = global_view_size(180, 318, 256)
    assert mask_ax.images[0].get_array().shape == (gh, gw)


def test_location_encoding_gets_the_same_boxes_and_scale_in_viz_and_pipeline(monkeypatch):
    """A non-square resize (62x40 to 250x141: x4.03 across, x3.53 down) onto a frame the
    pipeline pads (to 256x144): the figure encodes exactly the boxes and the scale that the
    pipeline gives the model. (Small sizes keep the codec's encode quick; 250x141 to 1000x564
    is x4 on both axes and would not tell the two axes apart.)"""
    import torch

    from patchvsr.pipeline import denoising as pipeline
    from patchvsr.pipeline.builders import build_tiny

    in_hw, out_hw = (40, 62), (141, 250)
    seen = []

    def recording(boxes, scales, *args, **kwargs):
        seen.append((np.asarray(boxes, dtype=np.float32).reshape(-1, 4), scales))
        return location_encoding(boxes, scales, *args, **kwargs)

    location_encoding = pipeline.location_encoding
    monkeypatch.setattr(pipeline, "location_encoding", recording)
    video = np.random.default_rng(0).integers(0, 256, (1, *in_hw, 3), dtype=np.uint8)
    out = build_tiny()(
        video,
        size=out_hw,
        num_inference_steps=1,
        patch_size=64,
        output_type="latent",
        generator=torch.Generator().manual_seed(0),
    )
    plan = out.plan  # the plan that ran, on the padded frame
    assert (plan.height, plan.width) == (144, 256)

    boxes, scale = viz.location_inputs(plan, in_size=in_hw, out_size=out_hw)
    assert {s for _, s in seen} == {scale}
    assert scale == pytest.approx((250 / 62 + 141 / 40) / 2)  # not the width's 250 / 62
    given = sorted(map(tuple, np.concatenate([b for b, _ in seen]).tolist()))
    assert given == sorted(map(tuple, np.asarray(boxes, dtype=np.float32).tolist()))
    assert len(given) == len(plan.patches)
    # The figure shows the scale of `location_inputs`.
    fig = viz.location_figure(plan, 0, in_size=in_hw, out_size=out_hw)
    assert any(f"scale x{scale:.3g}" in ax.get_title() for ax in fig.axes)  # rounded


def test_context_figure_shows_frame_global_view_and_patch(frame, plan):
    fig = viz.context_figure(frame, plan, 19)
    arrays = [ax.images[0].get_array().shape for ax in fig.axes]
    p = plan.patches[19]
    assert arrays == [(180, 318, 3), (*global_view_size(180, 318, 256), 3), (p.height, p.width, 3)]
    assert_rich_picture(png_of(fig))


def test_global_view_image_has_the_global_view_size(frame):
    assert viz.global_view_image(frame, 512).shape == (288, 512, 3)


def test_patch_condition_is_the_crop_of_the_bicubic_upscale(frame, plan):
    full = viz.resize_rgb(frame, (plan.height, plan.width), "bicubic")
    for i in (0, 12, 19):
        p = plan.patches[i]
        crop = viz.patch_condition(frame, plan, i)
        assert crop.shape == (p.height, p.width, 3)
        diff = np.abs(crop.astype(int) - full[p.y0 : p.y1, p.x0 : p.x1].astype(int))
        assert diff[8:-8, 8:-8].mean() < 1.0  # same pixels away from the crop border


def test_figure_set_has_the_four_pictures(frame, plan):
    figures = viz.figure_set(frame, plan, 5, "linear")
    assert list(figures) == ["grid", "weights", "location", "context"]
    assert all(isinstance(f, Figure) for f in figures.values())


def test_default_patch_is_an_auxiliary_patch_near_the_centre(plan):
    index = viz.default_patch_index(plan)
    assert plan.patches[index].kind == "aux"
    tiles = plan_patches(720, 1272, 256, "tiles")
    assert tiles.patches[viz.default_patch_index(tiles)].kind == "base"


# --- comparisons -----------------------------------------------------------------------------


def test_compare_figure_places_images_of_any_size_with_zoomed_crops(frame):
    big = viz.resize_rgb(frame, (360, 636))
    fig = viz.compare_figure([frame, big, big[::-1]], ["input", "bicubic", "flipped"])
    crops = [ax for ax in fig.axes if ax.get_title().startswith("crop 1")]
    assert len(crops) == 3
    # The same region of each image: the crop of the x2 image is twice as large.
    small, large = (ax.images[0].get_array().shape for ax in crops[:2])
    assert abs(large[0] - 2 * small[0]) <= 2 and abs(large[1] - 2 * small[1]) <= 2
    assert_rich_picture(png_of(fig))


def test_auto_crop_finds_the_detailed_region():
    image = np.full((200, 300, 3), 128, np.uint8)
    image[120:170, 30:80] = (np.indices((50, 50)).sum(0) % 2 * 255)[..., None]
    y0, x0, y1, x1 = viz.auto_crop(image, fraction=0.25)
    assert y0 * 200 < 170 and y1 * 200 > 120 and x0 * 300 < 80 and x1 * 300 > 30


def test_compare_figure_needs_two_images_and_matching_titles(frame):
    with pytest.raises(ValueError):
        viz.compare_figure([frame])
    with pytest.raises(ValueError):
        viz.compare_figure([frame, frame], ["one"])


# --- output helpers --------------------------------------------------------------------------


def test_figure_to_array_matches_the_png(plan):
    fig = viz.grid_figure(None, plan)
    array = viz.figure_to_array(fig)
    assert array.dtype == np.uint8 and array.shape == (*png_of(fig).size[::-1], 3)
    assert fig._repr_png_()[:4] == b"\x89PNG"


def test_save_figure_writes_atomically(tmp_path, plan):
    fig = viz.grid_figure(None, plan)
    target = viz.save_figure(fig, tmp_path / "grid.png")
    assert Image.open(target).format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]
    (tmp_path / "plain").write_bytes(b"")  # the mode any new file gets here (umask applied)
    assert target.stat().st_mode == (tmp_path / "plain").stat().st_mode
    (tmp_path / "plain").unlink()
    with pytest.raises(ValueError):
        viz.save_figure(fig, tmp_path / "grid.txt")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    fig.savefig = broken
    with pytest.raises(RuntimeError):
        viz.save_figure(fig, tmp_path / "other.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.png"]


@pytest.mark.slow
def test_figures_never_touch_pyplot():
    code = (
        "import sys; import numpy as np; from patchvsr import viz; "
        "from patchvsr.method.grid import plan_patches; "
        "plan = plan_patches(256, 384, 64); f = np.zeros((64, 96, 3), np.uint8); "
        "[viz.figure_to_png(g) for g in viz.figure_set(f, plan).values()]; "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- live figures: a patch drawn on the kept rest of the figure ------------------------------


PARTS = {
    "grid": lambda frame, plan: viz.grid_parts(frame, plan),
    "weights": lambda frame, plan: viz.weights_parts(plan, "paper", frame),
    "location": lambda frame, plan: viz.location_parts(
        plan, in_size=frame.shape[:2], out_size=(720, 1272)
    ),
    "context": lambda frame, plan: viz.context_parts(frame, plan),
}


@pytest.mark.parametrize("name", list(PARTS))
def test_a_live_figure_draws_each_patch_as_the_whole_figure_does(frame, plan, name):
    live = viz.LiveFigure(*PARTS[name](frame, plan), 19)
    drawn = {}
    for index in (3, 12, 3):
        drawn[index] = live.render(index)
        fig, dynamic = PARTS[name](frame, plan)
        dynamic(index)
        whole = viz.figure_to_array(fig)
        assert drawn[index].shape == whole.shape
        # The same picture, up to anti-aliasing where text meets the kept background.
        assert np.abs(drawn[index].astype(int) - whole).mean() < 1.0, index
    assert np.abs(drawn[3].astype(int) - drawn[12]).mean() > 0.5  # each patch its own
