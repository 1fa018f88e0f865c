"""Tests of thresholding, clean-up, the automatic minimum area and ignore areas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from imgdiff_widget import compare
from imgdiff_widget._mask import (
    auto_min_area,
    clean_mask,
    combine_components,
    estimate_noise,
    ignore_mask,
    threshold_mask,
)

FLOORS = {"structure": 0.12, "color": 0.08}


def test_identical_images_have_nothing_above_the_floor():
    zeros = {name: np.zeros((30, 40), np.float32) for name in FLOORS}
    valid = np.ones((30, 40), bool)
    levels = estimate_noise(zeros, valid)
    for name in FLOORS:
        assert levels[name] > 0.0  # never a cut at zero
    score = combine_components(zeros, levels)
    threshold = levels["structure"]
    assert not threshold_mask(score, threshold, valid).any()


def test_noise_floor_rises_with_the_noise():
    rng = np.random.default_rng(0)
    valid = np.ones((100, 100), bool)
    quiet = {"structure": rng.normal(0.02, 0.005, (100, 100)).astype(np.float32)}
    loud = {"structure": rng.normal(0.1, 0.03, (100, 100)).astype(np.float32)}
    assert estimate_noise(loud, valid)["structure"] > estimate_noise(quiet, valid)["structure"]


@pytest.mark.parametrize("changed", [0.15, 0.3, 0.45])
def test_a_large_change_does_not_lift_the_noise_cut(changed):
    # Noise |N(0, 0.01)| with a share of pixels changed by 0.1-0.5: the first
    # median + 8 MAD estimate lands at the ceiling (0.3) from 30 % changed,
    # which hid a clearly visible colour change elsewhere.
    rng = np.random.default_rng(1)
    values = np.abs(rng.normal(0, 0.01, (200, 300))).astype(np.float32)
    block = int(changed * values.shape[1])
    values[:, :block] = rng.uniform(0.1, 0.5, (200, block))
    valid = np.ones(values.shape, bool)
    quiet = estimate_noise({"color": values[:, block:]}, valid[:, block:])["color"]
    assert estimate_noise({"color": values}, valid)["color"] == pytest.approx(quiet, abs=0.01)


def test_combined_cut_is_the_union_of_component_cuts():
    rng = np.random.default_rng(1)
    comps = {
        "structure": rng.random((20, 20)).astype(np.float32) * 0.3,
        "color": rng.random((20, 20)).astype(np.float32) * 0.3,
    }
    levels = {"structure": 0.2, "color": 0.1}
    score = combine_components(comps, levels)
    union = (comps["structure"] > 0.2) | (comps["color"] > 0.1)
    np.testing.assert_array_equal(score > 0.2, union)


def test_threshold_hysteresis_grows_a_region():
    score = np.zeros((20, 40), np.float32)
    score[5:15, 5:15] = 0.3  # above half the cut, touching a strong pixel
    score[10, 10] = 0.9  # above the cut
    score[5:15, 25:35] = 0.3  # as strong, but no pixel above the cut
    score[0, 39] = 0.2  # below half the cut
    valid = np.ones(score.shape, bool)
    mask = threshold_mask(score, 0.5, valid)
    expected = np.zeros(score.shape, bool)
    expected[5:15, 5:15] = True
    np.testing.assert_array_equal(mask, expected)
    # Pixels outside `valid` are never marked.
    valid[5:10] = False
    assert not threshold_mask(score, 0.5, valid)[5:10].any()


def _clean(mask, **overrides):
    kwargs = {"min_area": 1, "morphology_radius": 0, "fill_holes": False, "padding": 0}
    kwargs.update(overrides)
    return clean_mask(mask, **kwargs)


def test_clean_removes_specks_below_min_area():
    mask = np.zeros((30, 30), bool)
    mask[2:4, 2:4] = True  # 4 px speck
    mask[10:15, 10:15] = True  # 25 px region
    before = mask.copy()
    out = _clean(mask, min_area=10)
    np.testing.assert_array_equal(mask, before)  # input untouched
    assert not out[2:4, 2:4].any()
    assert out[10:15, 10:15].all()
    assert out.sum() == 25
    # A region of exactly min_area is kept.
    assert _clean(mask, min_area=25).sum() == 25
    assert _clean(mask, min_area=26).sum() == 0


def test_clean_fills_holes():
    ring = np.zeros((20, 20), bool)
    ring[4:16, 4:16] = True
    ring[8:12, 8:12] = False
    assert _clean(ring, fill_holes=True)[8:12, 8:12].all()
    assert not _clean(ring, fill_holes=False)[8:12, 8:12].any()


def test_clean_pads():
    mask = np.zeros((30, 30), bool)
    mask[14:16, 14:16] = True
    out = _clean(mask, padding=3)
    rows, cols = np.nonzero(out)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (11, 18, 11, 18)
    assert out[mask].all()


def test_morphology_removes_thin_speckle_and_joins_fragments():
    mask = np.zeros((40, 40), bool)
    mask[20, 0:40] = True  # a 1-px line of ringing: opened away
    mask[5:12, 5:12] = True
    mask[5:12, 13:20] = True  # a fragment 1 px away: closed onto the first
    out = _clean(mask, morphology_radius=1)
    assert not out[20].any()
    assert out[7:10, 5:20].all()  # one object now (its corners rounded by the disk)
    assert not mask[6:11, 12].any()


def test_auto_min_area_grows_with_the_image():
    sizes = [(8, 8), (200, 300), (1000, 1000), (2000, 3000), (4000, 6000)]
    areas = [auto_min_area(s) for s in sizes]
    assert areas[0] == 16
    assert areas == sorted(areas)
    assert areas[-1] > 10 * areas[1]


def test_ignore_mask_from_rectangles_is_half_open():
    mask = ignore_mask(((1, 2, 3, 5), (-4, -4, 1, 1)), (6, 8))
    expected = np.zeros((6, 8), bool)
    expected[1:3, 2:5] = True
    expected[0:1, 0:1] = True
    np.testing.assert_array_equal(mask, expected)
    assert not ignore_mask(None, (3, 3)).any()


def test_ignore_mask_from_a_bool_mask_is_a_copy():
    given = np.zeros((5, 5), bool)
    given[1, 1] = True
    out = ignore_mask(given, (5, 5))
    np.testing.assert_array_equal(out, given)
    assert not np.shares_memory(out, given)


@pytest.fixture
def edited(make_texture):
    a = make_texture((60, 80), 0)
    b = a.copy()
    b[10:25, 10:25] = (255, 0, 0)
    b[35:50, 50:70] = (0, 255, 0)
    return a, b


def test_ignore_rectangle_and_mask_in_the_pipeline(edited):
    a, b = edited
    assert len(compare(a, b).regions) == 2
    by_rect = compare(a, b, ignore=[(5, 5, 30, 30)])
    assert len(by_rect.regions) == 1
    assert not by_rect.mask[5:30, 5:30].any()
    assert not by_rect.compared[5:30, 5:30].any()
    assert (by_rect.score_map[5:30, 5:30] == 0).all()
    ignore = np.zeros(a.shape[:2], bool)
    ignore[30:55, 45:75] = True
    by_mask = compare(a, b, ignore=ignore)
    assert len(by_mask.regions) == 1
    assert not by_mask.mask[ignore].any()


def test_ignore_mask_of_the_wrong_shape_is_a_parameter_error(edited):
    from imgdiff_widget import ParameterError

    a, b = edited
    with pytest.raises(ParameterError, match="ignore mask is 10x10 but image A is 80x60"):
        compare(a, b, ignore=np.zeros((10, 10), bool))


@pytest.mark.parametrize("policy", ["crop", "pad"])
def test_ignore_mask_of_a_size_goes_with_a_when_the_sizes_differ(edited, policy):
    # A sits at the compared frame's top left; so does a mask of A's size.
    a, b = edited
    b = b[:50, :70] if policy == "crop" else np.pad(b, ((0, 6), (0, 9), (0, 0)), mode="edge")
    ignore = np.zeros(a.shape[:2], bool)
    ignore[5:30, 5:30] = True
    result = compare(a, b, size_mismatch=policy, ignore=ignore)
    assert not result.compared[5:30, 5:30].any()
    assert result.compared[40:45, 10:20].all()
    assert not result.mask[5:30, 5:30].any()
    assert result.mask[35:50, 50:70].any()  # the change left in view is still found


def test_threshold_and_min_area_parameters(edited):
    a, b = edited
    loose = compare(a, b, threshold=0.05)
    strict = compare(a, b, threshold=0.9)
    assert loose.threshold == pytest.approx(0.05)
    assert loose.mask.sum() >= strict.mask.sum()
    big = compare(a, b, min_area=10_000)
    assert big.min_area == 10_000
    assert big.regions == []
    assert compare(a, b).min_area == auto_min_area(a.shape[:2])


@pytest.mark.parametrize("seed", range(6))
def test_fill_holes_is_scipys(seed):
    from imgdiff_widget._mask import _fill_holes

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 60)), int(rng.integers(1, 60)))
    # Blobs with holes of every size, some touching the border.
    mask = ndi.gaussian_filter(rng.random(shape), 1.5) > 0.5
    mask ^= rng.random(shape) > 0.9
    np.testing.assert_array_equal(_fill_holes(mask), ndi.binary_fill_holes(mask))


def test_fill_holes_fills_enclosed_background_only():
    from imgdiff_widget._mask import _fill_holes

    ring = np.zeros((7, 9), bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False  # a hole
    ring[3, 6:] = True
    ring[0:3, 7] = True  # a pocket open to the border
    filled = _fill_holes(ring)
    assert filled[2:5, 2:5].all()
    assert not filled[0:3, 8].any()
    np.testing.assert_array_equal(filled, ndi.binary_fill_holes(ring))
    assert _fill_holes(np.zeros((0, 3), bool)).shape == (0, 3)
    # Nothing to fill (no hole; no background at all): the mask, as a new array.
    for mask in (ring & (np.arange(9) > 5), np.ones((4, 5), bool), np.zeros((4, 5), bool)):
        filled = _fill_holes(mask)
        np.testing.assert_array_equal(filled, ndi.binary_fill_holes(mask))
        assert filled is not mask


def test_combine_and_cell_maxima_in_strips_are_the_plain_computation():
    from imgdiff_widget._mask import cell_maxima, combine_components

    rng = np.random.default_rng(4)
    shape = (1500, 700)  # several row strips; last cells cut by the edges
    components = {
        "structure": rng.random(shape, dtype=np.float32),
        "color": rng.random(shape, dtype=np.float32) * np.float32(1.5),
    }
    levels = {"structure": 0.12, "color": 0.08}
    score = combine_components(components, levels)
    expected = np.clip(
        np.maximum(components["structure"], components["color"] * np.float32(0.12 / 0.08)), 0, 1
    )
    np.testing.assert_array_equal(score, expected)
    rows, cols = np.arange(0, shape[0], 16), np.arange(0, shape[1], 16)
    np.testing.assert_array_equal(
        cell_maxima(score),
        np.maximum.reduceat(np.maximum.reduceat(score, rows, axis=0), cols, axis=1),
    )


def test_changes_at_the_image_edge_are_marked_to_the_edge():
    # The clean-up's closing and the trim's closing never erode from outside
    # the image: a change touching the edge is marked up to it.
    from skimage import data

    a = data.coffee()
    b = a.copy()
    b[100:160, 0:40] = (220, 30, 30)  # on the left edge
    b[0:30, 250:300] = (20, 200, 40)  # on the top edge
    b[300:340, 300:340] = (220, 30, 30)  # inside, for comparison
    found = sorted((r.bbox, r.area) for r in compare(a, b).regions)
    assert found == [
        ((0, 250, 30, 300), 1500),
        ((100, 0, 160, 40), 2400),
        ((300, 300, 340, 340), 1600),
    ]


@pytest.mark.parametrize("shape", [(1, 40), (3, 3), (40, 1)])
def test_a_tiny_image_that_changed_everywhere_is_marked_everywhere(shape):
    a, b = np.zeros((*shape, 3)), np.ones((*shape, 3))
    result = compare(a, b, metric="absdiff", morphology=0, min_area=1)
    assert result.mask.all()


@pytest.mark.parametrize("change", [25, 40, 100])
@pytest.mark.parametrize("min_area", ["auto", 1])
def test_a_change_of_a_few_pixels_is_found(change, min_area):
    # A region trimmed to a speck stays when the speck passed the cut itself
    # (only a speck that the region's halo lifted over it goes).
    from skimage import data

    a = data.astronaut()[::2, ::2]
    b = a.astype(int)
    b[100:102, 100:102] += change
    b = np.clip(b, 0, 255).astype(np.uint8)
    result = compare(a, b, min_area=min_area)
    assert [(r.bbox, r.area) for r in result.regions] == [((100, 100, 102, 102), 4)]


def test_a_clear_change_of_a_few_pixels_is_found_through_jpeg():
    # Smoothed by the score, its own pixels stay under the cut; it is kept
    # because it changed clearly (the dark-edge noise speck changed 23/255).
    import io

    from PIL import Image
    from skimage import data

    def jpeg(image):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=90)
        return np.asarray(Image.open(buffer))

    a = data.coffee()[::2, ::2]
    b = a.astype(int)
    b[139:142, 50] += 65
    b = np.clip(b, 0, 255).astype(np.uint8)
    a, b = jpeg(a), jpeg(b)
    cut = compare(a, b).threshold
    for min_area in ("auto", 1):
        result = compare(a, b, min_area=min_area)
        assert result.score_map[139:142, 50].max() < cut  # (what makes it a hard case)
        assert result.mask[139:142, 50].any()
        assert len(result.regions) == 1
