"""Tests of the overlays, the mask image and colour/style parsing."""

from __future__ import annotations

import numpy as np
import pytest

from imgdiff_widget import ParameterError, compare
from imgdiff_widget._regions import find_regions
from imgdiff_widget._render import (
    STYLES,
    box_geometry,
    mask_image,
    parse_color,
    parse_style,
    render_overlay,
)

RED = (1.0, 0.0, 0.0)


@pytest.fixture
def scene():
    base = np.full((120, 160, 3), 100, np.uint8)
    mask = np.zeros((120, 160), bool)
    mask[40:60, 50:80] = True
    score = np.where(mask, 0.8, 0.0).astype(np.float32)
    return base, mask, score, find_regions(mask, score)


def _draw(scene, style, **kwargs):
    base, mask, score, regions = scene
    options = {"color": RED, "alpha": 0.5, "score": score, "threshold": 0.4}
    options.update(kwargs)
    return render_overlay(base, mask, regions, style=style, **options)


def _is_red(pixels):
    return (pixels[..., 0] == 255) & (pixels[..., 1] == 0) & (pixels[..., 2] == 0)


def test_fill_blends_the_colour_into_the_marked_pixels_only(scene):
    base, mask, _, _ = scene
    before = base.copy()
    out = _draw(scene, ("fill",))
    np.testing.assert_array_equal(base, before)  # not modified
    assert out.dtype == np.uint8
    assert out.shape == base.shape
    np.testing.assert_array_equal(out[mask], [[178, 50, 50]] * int(mask.sum()))
    np.testing.assert_array_equal(out[~mask], base[~mask])
    opaque = _draw(scene, ("fill",), alpha=1.0)
    assert _is_red(opaque[mask]).all()
    invisible = _draw(scene, ("fill",), alpha=0.0)
    np.testing.assert_array_equal(invisible, base)


def test_outline_surrounds_the_region_in_the_colour(scene):
    base, mask, _, _ = scene
    out = _draw(scene, ("outline",))
    changed = np.any(out != base, axis=-1)
    assert _is_red(out[changed]).all()  # opaque, in the colour
    np.testing.assert_array_equal(out[mask], base[mask])  # the region itself is left visible
    assert changed[38:40, 60].all()  # just above
    assert changed[60:62, 60].all()  # just below
    assert changed[50, 48:50].all()  # just left
    assert not changed[:30].any()  # nothing far away


def test_boxes_are_drawn_around_the_bbox(scene):
    base, _, _, regions = scene
    out = _draw(scene, ("boxes",))
    row0, col0, row1, col1 = box_geometry(regions[0].bbox, base.shape[:2])
    assert row0 < 40
    assert row1 > 60
    assert col0 < 50
    assert col1 > 80
    assert _is_red(out[row0, col0:col1]).all()
    assert _is_red(out[row1 - 1, col0:col1]).all()
    assert _is_red(out[row0:row1, col0]).all()
    assert _is_red(out[row0:row1, col1 - 1]).all()
    np.testing.assert_array_equal(out[50, 60], base[50, 60])  # inside left alone
    changed = np.any(out != base, axis=-1)
    assert changed.sum() == _is_red(out).sum()


@pytest.mark.parametrize(
    "bbox", [(0, 0, 1, 1), (299, 399, 300, 400), (0, 200, 1, 201), (150, 0, 151, 3), (0, 0, 5, 5)]
)
def test_a_box_at_the_edge_keeps_the_minimum_size(bbox):
    # Grown inwards where the image ends, not cut to a smaller box.
    row0, col0, row1, col1 = box_geometry(bbox, (300, 400))
    assert row1 - row0 >= 12
    assert col1 - col0 >= 12
    assert 0 <= row0 <= bbox[0] < bbox[2] <= row1 <= 300
    assert 0 <= col0 <= bbox[1] < bbox[3] <= col1 <= 400


def test_a_box_never_outgrows_a_small_image():
    assert box_geometry((0, 0, 2, 3), (5, 8)) == (0, 0, 5, 8)


def test_a_one_pixel_region_gets_a_visible_box_and_outline():
    base = np.full((300, 400, 3), 100, np.uint8)
    mask = np.zeros((300, 400), bool)
    mask[150, 200] = True
    regions = find_regions(mask, mask.astype(np.float32))
    row0, col0, row1, col1 = box_geometry(regions[0].bbox, mask.shape)
    assert row1 - row0 >= 12
    assert col1 - col0 >= 12
    assert row0 <= 150 < row1
    assert col0 <= 200 < col1
    for style in (("boxes",), ("outline",)):
        out = render_overlay(base, mask, regions, color=RED, alpha=0.5, style=style)
        rows, cols = np.nonzero(_is_red(out))
        assert rows.max() - rows.min() + 1 >= 5, style  # several pixels across, not one
        assert cols.max() - cols.min() + 1 >= 5, style


def test_box_geometry_stays_inside_the_image():
    for bbox in [(0, 0, 1, 1), (99, 149, 100, 150), (0, 140, 3, 150)]:
        row0, col0, row1, col1 = box_geometry(bbox, (100, 150))
        assert 0 <= row0 < row1 <= 100
        assert 0 <= col0 < col1 <= 150


def test_fill_and_boxes_combine(scene):
    _base, mask, _, _ = scene
    both = _draw(scene, ("fill", "boxes"))
    fill = _draw(scene, ("fill",))
    boxes = _draw(scene, ("boxes",))
    np.testing.assert_array_equal(both[mask], fill[mask])
    box_pixels = _is_red(boxes)
    np.testing.assert_array_equal(both[box_pixels], boxes[box_pixels])


def test_heatmap_shows_the_score(scene):
    base, _mask, score, _ = scene
    out = _draw(scene, ("heatmap",))
    changed = np.any(out != base, axis=-1)
    np.testing.assert_array_equal(changed, score > 0)


def test_excluded_pixels_are_hatched(scene):
    base, _, _, _ = scene
    excluded = np.zeros(base.shape[:2], bool)
    excluded[:, :20] = True
    out = _draw(scene, ("fill",), excluded=excluded)
    hatched = out[excluded].astype(int)
    assert np.any(hatched != 100)
    # Grey stripes: two distinct grey levels, equal channels.
    assert len(np.unique(hatched[:, 0])) == 2
    np.testing.assert_array_equal(hatched[:, 0], hatched[:, 1])
    plain = _draw(scene, ("fill",))
    np.testing.assert_array_equal(out[~excluded], plain[~excluded])


def test_mask_image_is_0_or_255(scene):
    _, mask, _, _ = scene
    image = mask_image(mask)
    assert image.dtype == np.uint8
    assert image.shape == mask.shape
    assert set(np.unique(image).tolist()) == {0, 255}
    np.testing.assert_array_equal(image == 255, mask)


def test_result_overlays_use_the_colour(make_texture):
    a = make_texture((60, 80), 0)
    b = a.copy()
    b[20:35, 20:40] = (0, 0, 255)
    result = compare(a, b, color="lime", style="boxes")
    assert _is_red(result.overlay_a[..., [1, 0, 2]]).any()  # pure green present
    assert result.overlay_a.dtype == np.uint8
    assert result.overlay_b.shape == (60, 80, 3)
    assert set(np.unique(result.mask_image).tolist()) <= {0, 255}


@pytest.mark.parametrize(
    ("spec", "rgb"),
    [
        ("red", (1, 0, 0)),
        ("magenta", (1, 0, 1)),
        ("#00ff00", (0, 1, 0)),
        ("#00F", (0, 0, 1)),
        ((1, 0, 0), (1, 0, 0)),
        ([0.0, 0.5, 1.0], (0, 0.5, 1)),
        ((1, 0, 0, 0.5), (1, 0, 0)),
        ("0.5", (0.5, 0.5, 0.5)),
        ("C0", (0.12156862745098039, 0.4666666666666667, 0.7058823529411765)),
        ("tab:orange", (1.0, 0.4980392156862745, 0.054901960784313725)),
        ("xkcd:sky blue", (0.4588235294117647, 0.7333333333333333, 0.9921568627450981)),
    ],
)
def test_parse_color_accepts_matplotlib_colours(spec, rgb):
    parsed = parse_color(spec)
    assert parsed == pytest.approx(rgb)
    assert all(isinstance(c, float) for c in parsed)


@pytest.mark.parametrize(
    "spec", ["notacolour", "#12345", "#gggggg", (2, 0, 0), (1, 0), (-0.1, 0, 0), None, 12, "", []]
)
def test_parse_color_rejects_bad_specs(spec):
    with pytest.raises(ParameterError, match="color"):
        parse_color(spec)


@pytest.mark.parametrize(
    ("spec", "parts"),
    [
        ("fill", ("fill",)),
        ("outline", ("outline",)),
        ("boxes", ("boxes",)),
        ("heatmap", ("heatmap",)),
        ("fill+boxes", ("fill", "boxes")),
        (" fill + outline ", ("fill", "outline")),
        ("heatmap+boxes", ("heatmap", "boxes")),
        ("fill+outline+boxes", ("fill", "outline", "boxes")),
    ],
)
def test_parse_style_combinations(spec, parts):
    assert parse_style(spec) == parts


@pytest.mark.parametrize("spec", ["", "+", "glow", "fill+glow", "fill,boxes", "Fill", None])
def test_parse_style_rejects_bad_styles(spec):
    with pytest.raises(ParameterError, match="style") as info:
        parse_style(spec)
    for name in STYLES:
        assert name in str(info.value)
