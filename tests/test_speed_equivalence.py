"""The fast paths give the results of the straightforward whole-image code they replace.

Each reference below is the previous implementation (whole-image scipy /
scikit-image calls), kept here so that a speed-up can never drift from it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from imgdiff_widget._regions import find_regions


def _regions_reference(labels: np.ndarray, score: np.ndarray) -> list[tuple]:
    """The whole-image scipy.ndimage statistics find_regions used to make."""
    slices = ndi.find_objects(labels)
    index = np.array([i + 1 for i, box in enumerate(slices) if box is not None])
    if index.size == 0:
        return []
    present = labels > 0
    areas = ndi.sum_labels(present, labels, index)
    peaks = ndi.maximum(score, labels, index)
    means = ndi.mean(score, labels, index)
    centroids = ndi.center_of_mass(present, labels, index)
    found = []
    for i, label in enumerate(index):
        box = slices[label - 1]
        bbox = (box[0].start, box[1].start, box[0].stop, box[1].stop)
        centroid = (float(centroids[i][0]), float(centroids[i][1]))
        found.append((bbox, int(areas[i]), centroid, float(peaks[i]), float(means[i])))
    found.sort(key=lambda item: item[0])
    return found


def _random_labels(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    blobs = ndi.gaussian_filter(rng.random(shape), 2) > 0.53
    labels, _ = ndi.label(blobs, structure=np.ones((3, 3), bool))
    # Gaps in the numbering and regions that are not connected, as refine_to_support
    # and expand_labels leave them.
    labels[labels % 5 == 0] = 0
    labels[rng.random(shape) < 0.01] = 7
    return labels


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (37, 1), (64, 80), (203, 157)])
def test_find_regions_matches_whole_image_statistics(seed, shape):
    rng = np.random.default_rng(seed)
    labels = _random_labels(rng, shape)
    score = rng.random(shape, dtype=np.float32)
    got = [(r.bbox, r.area, r.centroid, r.peak, r.mean_score) for r in find_regions(labels, score)]
    assert got == _regions_reference(labels, score)  # exactly, not approximately
    # A bool mask: its 8-connected components.
    mask = labels > 0
    eight, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
    got = [(r.bbox, r.area, r.centroid, r.peak, r.mean_score) for r in find_regions(mask, score)]
    assert got == _regions_reference(eight, score)


def test_find_regions_on_an_empty_mask():
    assert find_regions(np.zeros((5, 6), bool), np.ones((5, 6), np.float32)) == []
    assert find_regions(np.zeros((5, 6), np.int32), np.ones((5, 6), np.float32)) == []


def _match_exposure_reference(a, b, valid):
    """match_exposure's application as it was: channel by channel, with boolean indexing."""
    from imgdiff_widget._metrics import _CLIP_HIGH, _CLIP_LOW, fit_exposure

    exposure = fit_exposure(a, b, valid)
    if exposure is None:
        return b.copy()
    out = np.empty_like(b)
    for channel in range(3):
        gain, offset = exposure[0][channel], exposure[1][channel]
        matched = out[..., channel]
        np.multiply(b[..., channel], np.float32(gain), out=matched)
        matched += np.float32(offset)
        high = b[..., channel] >= _CLIP_HIGH
        matched[high] = np.maximum(matched[high], a[..., channel][high])
        low = b[..., channel] <= _CLIP_LOW
        matched[low] = np.minimum(matched[low], a[..., channel][low])
    return out


@pytest.mark.parametrize("shape", [(3, 4), (50, 70), (700, 610)])
def test_match_exposure_matches_the_per_channel_code(shape):
    from imgdiff_widget._metrics import match_exposure

    rng = np.random.default_rng(1)
    a = rng.random((*shape, 3), dtype=np.float32)
    b = np.clip(a * 1.1 - 0.03 + rng.normal(0, 0.02, a.shape), 0, 1).astype(np.float32)
    b[: shape[0] // 3] = 1.0  # clipped white and black in B
    b[-(shape[0] // 4) :, : shape[1] // 2] = 0.0
    valid = rng.random(shape) > 0.2
    got = match_exposure(a, b, valid)
    np.testing.assert_array_equal(got, _match_exposure_reference(a, b, valid))


def test_color_difference_without_reduction_is_the_plain_computation():
    from skimage.color import deltaE_ciede2000, rgb2lab

    from imgdiff_widget._metrics import _smooth, color_difference

    rng = np.random.default_rng(2)
    a = rng.random((90, 130, 3), dtype=np.float32)
    b = rng.random((90, 130, 3), dtype=np.float32)
    for smoothing in (0.0, 1.0, 2.0):
        plain = deltaE_ciede2000(
            rgb2lab(_smooth(a, smoothing)), rgb2lab(_smooth(b, smoothing)), channel_axis=-1
        )
        expected = np.clip(plain / np.float32(100), 0, 1).astype(np.float32)
        got = color_difference(a, b, smoothing)
        assert got.dtype == np.float32
        assert got.shape == (90, 130)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape", [(37, 53), (38, 54), (64, 33), (1, 5)])
@pytest.mark.parametrize("smoothing", [3.0, 4.5])
def test_reduced_color_difference_is_close_to_the_full_resolution_one(shape, smoothing):
    """Smooth images, so the reduced computation is close to the plain one everywhere."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    from imgdiff_widget._metrics import _color_factor, _smooth, color_difference

    assert _color_factor(smoothing) > 1
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    a = np.stack([0.5 + 0.3 * np.sin(rows / 9 + k) * np.cos(cols / 11) for k in range(3)], -1)
    a = (a + rng.normal(0, 0.03, a.shape)).astype(np.float32)
    b = a.copy()
    b[shape[0] // 3 :, shape[1] // 3 :, 0] += 0.2  # a recoloured block
    plain = deltaE_ciede2000(
        rgb2lab(_smooth(a, smoothing)), rgb2lab(_smooth(b, smoothing)), channel_axis=-1
    )
    got = color_difference(a, b, smoothing)
    assert got.shape == shape
    assert got.dtype == np.float32
    error = np.abs(got - plain / np.float32(100))
    if min(shape) < 32:  # too small to reduce: the plain computation
        assert error.max() < 1e-6
    assert error.max() < 0.02  # a cut sits at 0.08 .. 0.3
    assert error.mean() < 0.004


@pytest.mark.parametrize("factor", [2, 3])
def test_block_mean_averages_each_block_including_cut_ones(factor):
    from imgdiff_widget._metrics import _block_mean

    rng = np.random.default_rng(4)
    image = rng.normal(0.5, 0.4, (11, 7, 3)).astype(np.float32)  # some outside [0, 1]
    got = _block_mean(image, factor)
    clipped = np.clip(image, 0, 1)
    expected = np.array(
        [
            [
                clipped[r : r + factor, c : c + factor].reshape(-1, 3).mean(0)
                for c in range(0, 7, factor)
            ]
            for r in range(0, 11, factor)
        ]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def _closing_reference(mask, footprint):
    """Binary closing with the image on a plane of zeros (no erosion from outside it)."""
    ry, rx = footprint.shape[0] // 2, footprint.shape[1] // 2
    padded = np.pad(mask, ((ry, ry), (rx, rx)))
    closed = ndi.binary_closing(padded, structure=footprint, border_value=0)
    return closed[ry : ry + mask.shape[0], rx : rx + mask.shape[1]]


def _clean_mask_reference(mask, *, min_area, morphology_radius, fill_holes, padding):
    """clean_mask as it was: every step on the whole image at once, by scipy / scikit-image."""
    from skimage import morphology

    out = mask.copy()
    if morphology_radius > 0:
        footprint = morphology.disk(morphology_radius)
        out = ndi.binary_opening(out, structure=footprint)
        out = _closing_reference(out, footprint)
    if min_area > 1:
        out = morphology.remove_small_objects(out, max_size=min_area - 1)
    if fill_holes:
        out = ndi.binary_fill_holes(out)
    if padding > 0:
        out = ndi.binary_dilation(out, structure=morphology.disk(padding))
    return out


def _marks(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Blobs of many sizes, specks, thin lines, rings with something inside, edge contact."""
    mask = ndi.gaussian_filter(rng.random(shape), 3) > 0.56
    mask |= rng.random(shape) > 0.997
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    for _ in range(3):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        radius = rng.integers(6, 30)
        distance = np.hypot(rows - r, cols - c)
        mask |= (distance >= radius - 2) & (distance < radius)  # a ring (may leave the image)
        mask[r, c] = True  # a speck in its hole
    mask[rng.integers(0, shape[0]), :] = True  # a line across
    return mask


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    "options",
    [
        {"min_area": 16, "morphology_radius": 2, "fill_holes": True, "padding": 0},
        {"min_area": 1, "morphology_radius": 0, "fill_holes": False, "padding": 0},
        {"min_area": 50, "morphology_radius": 1, "fill_holes": False, "padding": 3},
        {"min_area": 5, "morphology_radius": 4, "fill_holes": True, "padding": 2},
    ],
)
def test_clean_mask_by_groups_is_the_whole_image_computation(seed, options):
    from imgdiff_widget._mask import clean_mask, threshold_mask

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(40, 260)), int(rng.integers(40, 260)))
    mask = _marks(rng, shape)
    expected = _clean_mask_reference(mask, **options)
    np.testing.assert_array_equal(clean_mask(mask, **options), expected)
    # On the marks the threshold stage makes.
    score = ndi.gaussian_filter(rng.random(shape), 2).astype(np.float32)
    valid = rng.random(shape) > 0.05
    raw = threshold_mask(score, float(np.quantile(score, 0.9)), valid)
    got = clean_mask(raw, **options)
    np.testing.assert_array_equal(got, _clean_mask_reference(raw, **options))


@pytest.mark.parametrize("seed", range(5))
def test_threshold_mask_is_skimage_hysteresis(seed):
    from skimage.filters import apply_hysteresis_threshold

    from imgdiff_widget._mask import threshold_mask, threshold_with_cells

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 200)), int(rng.integers(1, 200)))
    score = ndi.gaussian_filter(rng.random(shape), 1.5).astype(np.float32)
    valid = rng.random(shape) > 0.1
    for threshold in (0.0, 0.3, float(np.quantile(score, 0.95)), 2.0):
        expected = apply_hysteresis_threshold(
            score, np.float32(threshold * 0.5), np.float32(threshold)
        )
        expected &= valid
        np.testing.assert_array_equal(threshold_mask(score, threshold, valid), expected)
        mask, cells = threshold_with_cells(score, threshold, valid)
        np.testing.assert_array_equal(cells, _cells_holding(mask))


def _refine_shift_reference(a, b, coarse):
    """_refine_shift on the whole of B's grey moved, then the window taken (Hann-tapered)."""
    from skimage.color import rgb2gray
    from skimage.registration import phase_cross_correlation

    h, w = a.shape[:2]
    side = min(1024, h, w)
    r0, c0 = (h - side) // 2, (w - side) // 2
    window = (slice(r0, r0 + side), slice(c0, c0 + side))
    ga = rgb2gray(a[window]).astype(np.float32)
    moved = ndi.shift(rgb2gray(b).astype(np.float32), coarse, order=1, mode="nearest")[window]
    taper = np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    fine, _, _ = phase_cross_correlation(
        ga * taper, moved * taper, upsample_factor=20, normalization=None
    )
    return np.clip(np.asarray(fine, float), -1.0, 1.0)


@pytest.mark.parametrize(
    ("shape", "true", "coarse"),
    [
        ((300, 420), (2.3, -1.6), (2.0, -2.0)),
        ((300, 420), (-7.45, 3.1), (-8.0, 3.0)),
        ((1100, 1300), (40.6, -0.35), (40.0, 0.0)),
        ((260, 300), (150.2, -120.7), (150.0, -121.0)),
    ],
)
def test_refine_shift_on_the_window_alone_finds_the_same_shift(shape, true, coarse):
    from imgdiff_widget._align import _refine_shift

    rng = np.random.default_rng(5)
    scene = ndi.gaussian_filter(rng.random((shape[0] + 400, shape[1] + 400, 3)), (3, 3, 0))
    scene = scene.astype(np.float32)
    a = scene[200 : 200 + shape[0], 200 : 200 + shape[1]]
    b = ndi.shift(scene, (-true[0], -true[1], 0), order=1)[
        200 : 200 + shape[0], 200 : 200 + shape[1]
    ]
    coarse = np.array(coarse)
    got = _refine_shift(a, b, coarse)
    np.testing.assert_array_equal(got, _refine_shift_reference(a, b, coarse))


@pytest.mark.parametrize("shape", [(5, 7), (300, 517), (64, 80, 3)])
def test_smoothing_in_place_is_the_same_as_on_a_copy(shape):
    from imgdiff_widget._metrics import _smooth

    rng = np.random.default_rng(6)
    image = rng.normal(0.5, 0.5, shape).astype(np.float32)
    expected = _smooth(image, 1.3)
    scratch = image.copy()
    got = _smooth(scratch, 1.3, copy=False)
    assert got is scratch
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("radius", [0, 1, 2])
def test_clean_labels_is_labelling_the_whole_cleaned_mask(seed, radius):
    from imgdiff_widget._mask import clean_labels

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(30, 220)), int(rng.integers(30, 220)))
    mask = _marks(rng, shape)
    options = {"min_area": 8, "morphology_radius": radius, "fill_holes": bool(seed % 2)}
    objects = _clean_mask_reference(mask, padding=0, **options)
    expected, _ = ndi.label(objects, structure=np.ones((3, 3), bool))
    labels, boxes = clean_labels(mask, **options)
    assert labels.dtype == expected.dtype
    np.testing.assert_array_equal(labels, expected)
    assert boxes == ndi.find_objects(expected)
    # Groups made from the cells that hold marks instead of the marks' boxes.
    labels, boxes = clean_labels(mask, cells=_cells_holding(mask), **options)
    np.testing.assert_array_equal(labels, expected)
    assert boxes == ndi.find_objects(expected)


@pytest.mark.parametrize("radius", [0, 1, 2])
@pytest.mark.parametrize("centre", [(200, 200), (200, 90), (20, 200)])
def test_clean_labels_fills_a_frame_over_the_marks_inside_it(radius, centre):
    # A changed frame with a separate change inside, far from it: filling the
    # frame's hole covers them, and the whole is one object (two overlapping
    # regions when the frame and its contents were cleaned apart). A frame
    # cut by the image's edge encloses nothing.
    from skimage.draw import disk

    from imgdiff_widget._mask import clean_labels, clean_mask

    mask = np.zeros((400, 420), bool)
    mask[disk(centre, 110, shape=mask.shape)] = True
    mask[disk(centre, 100, shape=mask.shape)] = False
    mask[disk(centre, 9, shape=mask.shape)] = True
    for fill in (True, False):
        options = {"min_area": 16, "morphology_radius": radius, "fill_holes": fill}
        objects = _clean_mask_reference(mask, padding=0, **options)
        expected, _ = ndi.label(objects, structure=np.ones((3, 3), bool))
        labels, boxes = clean_labels(mask, **options)
        np.testing.assert_array_equal(labels, expected)
        assert boxes == ndi.find_objects(expected)
        np.testing.assert_array_equal(clean_mask(mask, padding=0, **options), objects)


def _cells_holding(mask: np.ndarray, cell: int = 16) -> np.ndarray:
    """Which cell x cell blocks of `mask` (the last ones cut by the edge) hold a True pixel."""
    cells = np.zeros((-(-mask.shape[0] // cell), -(-mask.shape[1] // cell)), bool)
    for row, col in zip(*np.nonzero(mask), strict=True):
        cells[row // cell, col // cell] = True
    return cells


@pytest.mark.parametrize("names", [("structure", "color"), ("absdiff",), ("color",)])
@pytest.mark.parametrize("smoothing", [3.0, 1.0])
def test_components_with_exposure_applied_per_strip_are_the_matched_ones(names, smoothing):
    from imgdiff_widget._metrics import (
        apply_exposure,
        difference_components,
        fit_exposure,
        match_exposure,
    )

    rng = np.random.default_rng(11)
    shape = (301, 1200)  # rows of 14 kB: many strips
    a = ndi.gaussian_filter(rng.random((*shape, 3), dtype=np.float32), (2, 2, 0))
    b = np.clip(a * 1.2 - 0.05 + rng.normal(0, 0.01, a.shape), 0, 1).astype(np.float32)
    valid = np.ones(shape, bool)
    exposure = fit_exposure(a, b, valid)
    expected = difference_components(a, match_exposure(a, b, valid), names, smoothing=smoothing)
    got = difference_components(
        a,
        b,
        names,
        smoothing=smoothing,
        transform=lambda x, y: apply_exposure(x, y, exposure),
    )
    assert got.keys() == expected.keys()
    for name in names:
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("seed", range(4))
def test_clean_labels_with_a_cache_gives_the_uncached_labels(seed):
    from imgdiff_widget._mask import clean_labels

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(60, 220)), int(rng.integers(60, 220)))
    masks = [_marks(rng, shape), _marks(rng, shape)]
    cache: dict = {}
    # Every (mask, min_area, fill_holes) twice: first filling the cache, then from it.
    for _ in range(2):
        for mask in masks:
            for min_area, fill in ((8, True), (30, True), (8, False)):
                options = {"min_area": min_area, "morphology_radius": 1, "fill_holes": fill}
                got, got_boxes = clean_labels(mask, cache=cache, **options)
                expected, boxes = clean_labels(mask, **options)
                np.testing.assert_array_equal(got, expected)
                assert got_boxes == boxes
    assert len(cache) > 1


@pytest.mark.parametrize("seed", range(4))
def test_refine_with_a_kept_support_map_gives_the_plain_result(seed):
    from imgdiff_widget._mask import SupportMap, refine_to_support
    from imgdiff_widget._metrics import apply_exposure, match_exposure

    rng = np.random.default_rng(seed)
    shape = (150, 200)  # several 64 px tiles, the last ones cut by the edge
    a = rng.random((*shape, 3), dtype=np.float32)
    b = np.where(rng.random(shape)[..., None] > 0.5, a, a * 0.8 + 0.2).astype(np.float32)
    b[:20] = 1.0  # clipped rows: the exposure's clip rule applies
    valid = np.ones(shape, bool)
    matched = match_exposure(a, b, valid)
    from imgdiff_widget._metrics import fit_exposure

    exposure = fit_exposure(a, b, valid)
    support = SupportMap(a, b, transform=lambda x, y: apply_exposure(x, y, exposure))
    for _ in range(2):  # the second time from the kept tiles and trimmed regions
        for labels in (_random_labels(rng, shape), _random_labels(rng, shape)):
            boxes = ndi.find_objects(labels)
            expected = refine_to_support(labels, a, matched)
            np.testing.assert_array_equal(
                refine_to_support(labels, None, None, boxes=boxes, support=support), expected
            )
            copy = labels.copy()
            marked = np.zeros(shape, bool)
            trimmed = refine_to_support(
                copy, None, None, boxes=boxes, support=support, overwrite=True, marked=marked
            )
            assert trimmed is copy
            np.testing.assert_array_equal(trimmed, expected)
            np.testing.assert_array_equal(marked, expected > 0)
    diff = np.abs(a - matched).max(axis=-1)
    local = ndi.correlate(diff, np.full((3, 3), 1 / 9, np.float32), mode="nearest")
    np.testing.assert_array_equal(support[0:150, 0:200], (local > 10 / 255) & (diff > 8 / 255))


@pytest.mark.parametrize("seed", range(4))
def test_find_regions_and_refine_read_only_the_boxes_they_are_given(seed):
    from imgdiff_widget._mask import refine_to_support

    rng = np.random.default_rng(seed)
    labels = _random_labels(rng, (120, 150))
    score = rng.random(labels.shape, dtype=np.float32)
    boxes = ndi.find_objects(labels)
    assert find_regions(labels, score, boxes=boxes) == find_regions(labels, score)
    a = rng.random((*labels.shape, 3), dtype=np.float32)
    b = np.where(rng.random(labels.shape)[..., None] > 0.5, a, a + 0.2).astype(np.float32)
    np.testing.assert_array_equal(
        refine_to_support(labels, a, b, boxes=boxes), refine_to_support(labels, a, b)
    )


@pytest.mark.parametrize("seed", range(6))
def test_threshold_on_cells_near_the_cut_is_the_whole_image_hysteresis(seed):
    from imgdiff_widget._mask import (
        cell_maxima,
        threshold_mask,
        threshold_with_cells,
    )

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 230)), int(rng.integers(1, 230)))
    score = ndi.gaussian_filter(rng.random(shape), 2.5).astype(np.float32)
    score[rng.random(shape) > 0.999] = 0.9  # isolated peaks
    valid = rng.random(shape) > 0.05
    cells = cell_maxima(score)
    assert cells.shape == (-(-shape[0] // 16), -(-shape[1] // 16))
    assert cells.max() == score.max()
    for threshold in (0.0, float(np.quantile(score, 0.5)), float(np.quantile(score, 0.97)), 0.95):
        expected = threshold_mask(score, threshold, valid)
        for given in (cells, None):
            mask, occupied = threshold_with_cells(score, threshold, valid, cell_max=given)
            np.testing.assert_array_equal(mask, expected)
            np.testing.assert_array_equal(occupied, _cells_holding(expected))


def test_the_score_of_a_fully_compared_pair_is_the_mean_over_the_compared_pixels():
    from imgdiff_widget import compare

    rng = np.random.default_rng(7)
    a = (rng.random((90, 120, 3)) * 255).astype(np.uint8)
    b = a.copy()
    b[20:40, 30:60] = 255 - b[20:40, 30:60]
    result = compare(a, b)
    assert result.compared.all()
    assert result.score == float(result.score_map[result.compared].mean())


@pytest.mark.parametrize(
    "crop",
    [np.s_[:, :], np.s_[3:20, 5:40], np.s_[::2, :], np.s_[:, ::3], np.s_[7:8, 1:2]],
)
def test_apply_exposure_fast_path_is_the_plain_broadcast(crop):
    """Whole rows against tiled gains give the per-channel broadcast's values, on any crop."""
    from imgdiff_widget._metrics import _CLIP_HIGH, _CLIP_LOW, Exposure, apply_exposure

    rng = np.random.default_rng(1)
    a = rng.random((50, 61, 3), dtype=np.float32)
    b = rng.random((50, 61, 3), dtype=np.float32) * np.float32(1.1) - np.float32(0.05)
    exposure = Exposure(
        np.array([1.03, 0.97, 1.1], np.float32),
        np.array([0.01, -0.02, 0.003], np.float32),
        np.ones(3, np.float32),
    )
    a, b = a[crop], b[crop]
    expected = np.empty(b.shape, np.float32)
    np.multiply(b, exposure[0], out=expected)
    expected += exposure[1]
    np.maximum(expected, a, out=expected, where=b >= _CLIP_HIGH)
    np.minimum(expected, a, out=expected, where=b <= _CLIP_LOW)
    assert np.array_equal(apply_exposure(a, b, exposure), expected)
    out = np.full((50, 61, 3), np.nan, np.float32)[crop]
    assert np.array_equal(apply_exposure(a, b, exposure, out=out), expected)
    assert np.array_equal(out, expected)


@pytest.mark.parametrize(
    ("small", "factor", "shape"),
    [
        ((10, 13), 2, (20, 26)),
        ((10, 13), 2, (19, 25)),
        ((7, 9), 4, (27, 33)),
        ((50, 61), 3, (148, 183)),
        ((1, 1), 2, (2, 1)),
        ((3, 1), 2, (5, 2)),
    ],
)
def test_upsample_is_scipy_zoom_in_float32(small, factor, shape):
    from imgdiff_widget._metrics import _upsample

    values = np.random.default_rng(0).random(small, dtype=np.float32)
    expected = ndi.zoom(values, factor, order=1, mode="nearest", grid_mode=True)
    got = _upsample(values, factor, shape)
    assert got.shape == shape
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected[: shape[0], : shape[1]], rtol=0, atol=3e-7)


@pytest.mark.parametrize("shape", [(11, 7), (12, 8, 3), (1, 1, 3), (30, 41, 3)])
def test_block_mean_by_four_and_of_grey_images(shape):
    from imgdiff_widget._metrics import _block_mean

    image = np.random.default_rng(5).normal(0.5, 0.4, shape).astype(np.float32)
    got = _block_mean(image, 4)
    clipped = np.clip(image, 0, 1)
    expected = np.array(
        [
            [
                clipped[r : r + 4, c : c + 4].reshape(-1, *shape[2:]).mean(0)
                for c in range(0, shape[1], 4)
            ]
            for r in range(0, shape[0], 4)
        ]
    )
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_block_mean_clips_a_transform_copy_in_place_but_never_an_input():
    from imgdiff_widget._metrics import _block_mean

    rng = np.random.default_rng(6)
    a = rng.normal(0.5, 0.4, (21, 17, 3)).astype(np.float32)
    b = rng.normal(0.5, 0.4, (21, 17, 3)).astype(np.float32)
    saved = a.copy(), b.copy()
    for transform in (lambda x, y: y, lambda x, y: x[:], lambda x, y: y * np.float32(1.1)):
        got = _block_mean(b, 2, a, transform)
        expected = _block_mean(np.ascontiguousarray(transform(a, b)), 2)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(a, saved[0])
        np.testing.assert_array_equal(b, saved[1])


def _group_marks_reference(mask, reach, min_area):
    """The pixel metric's grouping as it was: the whole mask dilated and labelled."""
    grouped = ndi.binary_dilation(mask, iterations=reach) if mask.any() and reach else mask
    labels, count = ndi.label(grouped, structure=np.ones((3, 3), bool))
    labels[~mask] = 0
    if min_area > 1 and count:
        areas = np.bincount(labels.ravel(), minlength=count + 1)
        labels[areas[labels] < min_area] = 0
    # Numbered in raster order of each region's first pixel.
    values, first = np.unique(labels.ravel(), return_index=True)
    kept = values > 0
    number = np.zeros(labels.max() + 1, np.int32)
    number[values[kept][np.argsort(first[kept])]] = np.arange(1, kept.sum() + 1)
    return number[labels]


@pytest.mark.parametrize("seed", range(40))
def test_group_marks_by_cell_groups_is_the_whole_image_grouping(seed):
    from imgdiff_widget._mask import cell_maxima, group_marks

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 140)), int(rng.integers(1, 140)))
    score = rng.random(shape, dtype=np.float32)
    threshold = float(rng.uniform(0.8, 0.999))
    mask = score > threshold
    reach, min_area = int(rng.integers(0, 6)), int(rng.integers(1, 5))
    cells = cell_maxima(score) > threshold
    for given in (cells, None):
        labels, boxes = group_marks(mask, reach, min_area, given)
        np.testing.assert_array_equal(labels, _group_marks_reference(mask, reach, min_area))
        assert boxes == ndi.find_objects(labels)
    # With a cache: the grouping found once, then filtered for each min_area.
    cache: dict = {}
    for area in (min_area, 3, 1, min_area):
        labels, boxes = group_marks(mask, reach, area, cells, cache=cache)
        np.testing.assert_array_equal(labels, _group_marks_reference(mask, reach, area))
        assert boxes == ndi.find_objects(labels)


def test_group_marks_refuses_a_reach_its_cells_cannot_hold():
    # Marks 17 px apart join at reach 8, but lie in cells with an empty one
    # between them: the cell groups would split them.
    from imgdiff_widget._mask import group_marks

    mask = np.zeros((1, 48), bool)
    mask[0, 15] = mask[0, 32] = True
    labels, _ = group_marks(mask, 7, 1)
    np.testing.assert_array_equal(labels, _group_marks_reference(mask, 7, 1))
    with pytest.raises(ValueError, match="at most 7 px"):
        group_marks(mask, 8, 1)


def test_a_nan_score_hides_no_mark_in_its_cell():
    from imgdiff_widget._mask import cell_maxima, cut_on_cells, threshold_with_cells

    score = np.zeros((40, 40), np.float32)
    score[2, 2] = score[20, 30] = 0.5
    score[10, 10] = score[21, 31] = np.nan
    valid = np.ones(score.shape, bool)
    cell_max = cell_maxima(score)
    assert cell_max[0, 0] == cell_max[1, 1] == np.float32(0.5)
    expected = np.nan_to_num(score) > 0.1
    mask, _ = threshold_with_cells(score, 0.1, valid, cell_max=cell_max)
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(cut_on_cells(score, 0.1, valid, cell_max), expected)


_FOOTPRINTS = [
    *range(6),  # disks of these radii
    np.ones((3, 3), bool),
    np.ones((1, 5), bool),
    np.ones((7, 1), bool),
    np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool),  # not row runs: scipy's own
    np.ones((2, 2), bool),  # even sides: scipy's own
]


@pytest.mark.parametrize("footprint", range(len(_FOOTPRINTS)))
@pytest.mark.parametrize("seed", range(3))
def test_opening_and_closing_by_row_runs_are_scipys(footprint, seed):
    from skimage import morphology

    from imgdiff_widget._mask import _closing, _opening

    rng = np.random.default_rng(seed)
    fp = _FOOTPRINTS[footprint]
    fp = morphology.disk(fp) if isinstance(fp, int) else fp
    for shape in [(1, 1), (1, 30), (25, 1), (2, 9), (int(rng.integers(3, 90)), 71)]:
        for mask in (
            rng.random(shape) < rng.random(),
            ndi.gaussian_filter(rng.random(shape), 1.5) > 0.5,
            _marks(rng, shape) if min(shape) > 1 else np.ones(shape, bool),
        ):
            np.testing.assert_array_equal(
                _opening(mask, fp), ndi.binary_opening(mask, structure=fp)
            )
            np.testing.assert_array_equal(_closing(mask, fp), _closing_reference(mask, fp))
            assert not (mask & ~_closing(mask, fp)).any()  # it never removes a pixel


@pytest.mark.parametrize("footprint", range(6))
def test_row_run_dilation_and_erosion_are_scipys(footprint):
    # Arrays one pixel wide or high, where a run's shifted copies fall
    # outside the array (a dilation used to lose the marks themselves).
    from skimage import morphology

    from imgdiff_widget._mask import _morph, _row_runs

    rng = np.random.default_rng(footprint)
    for fp in (morphology.disk(footprint), morphology.diamond(footprint)):
        fp = fp.astype(bool)
        runs = _row_runs(fp)
        for shape in [(1, 1), (9, 1), (1, 9), (30, 1), (2, 9), (9, 2), (17, 23)]:
            for mask in (rng.random(shape) < 0.2, np.ones(shape, bool)):
                np.testing.assert_array_equal(
                    _morph(mask, runs, erode=False), ndi.binary_dilation(mask, structure=fp)
                )
                np.testing.assert_array_equal(
                    _morph(mask, runs, erode=True),
                    ndi.binary_erosion(mask, structure=fp, border_value=0),
                )


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (37, 1), (64, 80), (203, 157)])
def test_find_regions_from_loose_boxes_is_the_whole_image_statistics(seed, shape):
    # Boxes larger than their labels (refine_to_support trims inside them),
    # None for absent labels, and boxes of labels with no pixel left.
    rng = np.random.default_rng(seed)
    labels = _random_labels(rng, shape)
    score = rng.random(shape, dtype=np.float32)
    boxes = []
    for box in ndi.find_objects(labels, max_label=int(labels.max()) + 3):
        if box is None:
            box = (slice(0, shape[0]), slice(0, shape[1])) if rng.random() < 0.5 else None
        else:
            grow = rng.integers(0, 4, size=4)
            box = (
                slice(max(box[0].start - grow[0], 0), box[0].stop + grow[1]),
                slice(max(box[1].start - grow[2], 0), box[1].stop + grow[3]),
            )
        boxes.append(box)
    got = [
        (r.bbox, r.area, r.centroid, r.peak, r.mean_score)
        for r in find_regions(labels, score, boxes=boxes)
    ]
    assert got == _regions_reference(labels, score)  # exactly, not approximately


def test_region_means_add_the_scores_in_raster_order():
    # Scores spanning many binary orders of magnitude: a sum in another order
    # (numpy's pairwise sum) rounds differently.
    rng = np.random.default_rng(5)
    labels = np.zeros((300, 400), np.int32)
    labels[10:290, 20:380] = 1
    labels[50:60, 30:90] = 2
    score = (rng.random(labels.shape) ** 12).astype(np.float32)
    boxes = ndi.find_objects(labels)
    expected = _regions_reference(labels, score)
    for found in (find_regions(labels, score, boxes=boxes), find_regions(labels, score)):
        assert [r.mean_score for r in found] == [item[4] for item in expected]


def test_the_threaded_paths_give_the_one_thread_results(monkeypatch):
    # Work spread over threads (forced here, whatever the size and the CPUs)
    # gives what one thread gives: the same masks, labels, boxes and trims.
    from imgdiff_widget import _parallel
    from imgdiff_widget._mask import (
        _groups_of_cells,
        cell_maxima,
        clean_labels,
        group_marks,
        refine_to_support,
        threshold_with_cells,
    )

    rng = np.random.default_rng(3)
    shape = (230, 260)
    score = np.zeros(shape, np.float32)  # blobs apart, and specks: many groups
    score[rng.integers(0, shape[0], 14), rng.integers(0, shape[1], 14)] = 60 * rng.random(14)
    score = np.clip(ndi.gaussian_filter(score, 4) + 0.02 * rng.random(shape), 0, 1)
    score = score.astype(np.float32)
    score[rng.random(shape) > 0.9999] = 0.9  # specks, sparse enough that groups stay apart
    valid = rng.random(shape) > 0.05
    a = rng.random((*shape, 3), dtype=np.float32)
    b = np.where(rng.random(shape)[..., None] > 0.4, a, a * 0.7 + 0.3).astype(np.float32)
    cut = 0.1

    def run():
        raw, cells = threshold_with_cells(score, cut, valid, cell_max=cell_maxima(score))
        cache: dict = {}
        cleaned = [
            clean_labels(
                raw, min_area=area, morphology_radius=1, fill_holes=True, cells=cells, cache=cache
            )
            for area in (8, 40, 8)
        ]
        cleaned += [
            clean_labels(raw, min_area=area, morphology_radius=1, fill_holes=True)
            for area in (8, 40)
        ]
        labels, found = cleaned[0]
        trimmed = refine_to_support(labels, a, b, boxes=found)
        regions = find_regions(trimmed, score, boxes=found)
        marks = group_marks(score > cut, 3, 4)
        grouped = [group_marks(score > cut, 3, area, cache=cache) for area in (4, 9)]
        return raw, cells, cleaned, trimmed, marks, grouped, regions

    expected = run()
    monkeypatch.setattr(_parallel, "_TASKS_MIN_WORK", 0)
    monkeypatch.setattr(_parallel, "cpu_count", lambda: 3)
    got = run()
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert len(list(_groups_of_cells(got[1], shape, 4))) > 2  # several groups, so several threads
    for (labels, boxes), (want, want_boxes) in zip(got[2], expected[2], strict=True):
        np.testing.assert_array_equal(labels, want)
        assert boxes == want_boxes == ndi.find_objects(want)
    np.testing.assert_array_equal(got[3], expected[3])
    assert got[6] == expected[6]
    assert len(got[6]) > 2
    for (labels, boxes), (want, want_boxes) in zip(
        [got[4], *got[5]], [expected[4], *expected[5]], strict=True
    ):
        np.testing.assert_array_equal(labels, want)
        assert boxes == want_boxes


@pytest.mark.parametrize("seed", range(4))
def test_cut_on_cells_is_the_whole_image_cut(seed):
    from imgdiff_widget._mask import cell_maxima, cut_on_cells

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 120)), int(rng.integers(1, 120)))
    values = (rng.random(shape, dtype=np.float32) ** 6).astype(np.float32)
    where = rng.random(shape) > 0.2
    for cut in (0.0, 0.1, float(np.quantile(values, 0.99)), float(values.max()), 2.0):
        got = cut_on_cells(values, cut, where, cell_maxima(values))
        np.testing.assert_array_equal(got, (values > cut) & where)


def test_pixel_metric_cuts_and_antialiasing_on_cells_are_the_plain_ones():
    from imgdiff_widget import DiffParams, DiffPipeline
    from imgdiff_widget.synthetic import demo_pair

    pair = demo_pair()
    pipe = DiffPipeline(pair.a, pair.b)
    for threshold in (0.05, 0.1, 0.3):
        result = pipe.run(DiffParams(metric="pixel", threshold=threshold))
        noise = pipe._cache["noise"][1]
        raw = pipe._cache["threshold"][1]["raw"]
        np.testing.assert_array_equal(raw, (noise["score_map"] > threshold) & noise["compared"])
        valid = noise["registered"]["registration"].valid
        expected = noise["aa_flags"] & (noise["pixel_delta"] > threshold) & valid
        np.testing.assert_array_equal(result.antialiased, expected)
        assert raw.any()
        assert expected.any()


def _refine_reference(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """refine_to_support as it was first written: every region trimmed on its own crop."""
    from skimage.morphology import disk

    diff = np.abs(a - b).max(axis=-1)
    local = ndi.correlate(diff, np.full((3, 3), 1 / 9, np.float32), mode="nearest")
    changed = (local > 10 / 255) & (diff > 8 / 255)
    out = np.zeros_like(labels)
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        crop = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in box)
        region = labels[crop] == index
        here = changed[crop] & region
        if here.sum() < 0.05 * region.sum():
            trimmed = region
        else:
            closed = _closing_reference(here, disk(2).astype(bool))
            trimmed = ndi.binary_fill_holes(closed) & region
            pieces, count = ndi.label(trimmed, structure=np.ones((3, 3), bool))
            if count > 1:
                areas = np.bincount(pieces.ravel())
                areas[0] = 0
                trimmed = (areas >= min(max(6, areas.max() / 20), areas.max()))[pieces]
        out[crop][trimmed] = index
    return out


@pytest.mark.parametrize("seed", range(4))
def test_refine_reuses_the_solid_support_of_regions_that_grew_where_nothing_changed(seed):
    from imgdiff_widget._mask import SupportMap, refine_to_support

    rng = np.random.default_rng(seed)
    shape = (140, 170)
    a = rng.random((*shape, 3), dtype=np.float32) * 0.5
    b = a + 0.01 * rng.random((*shape, 3), dtype=np.float32)  # below the support level
    changes = ndi.gaussian_filter(rng.random(shape), 3) > 0.56
    changes[rng.random(shape) > 0.997] = True  # lone changed pixels: specks near the blobs
    changes[:3, 40:60] = changes[60:80, -2:] = True  # changes at the image edge
    b[changes] += 0.3
    support = SupportMap(a, b)

    def solid_keys():
        return sum(1 for key in support.trimmed if key[0] == "solid support")

    grown = [ndi.binary_dilation(changes, iterations=n) for n in (2, 4, 6)]
    found = []
    for mask in [*grown, grown[1]]:
        labels, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
        got = refine_to_support(labels, None, None, support=support)
        np.testing.assert_array_equal(got, _refine_reference(labels, a, b))
        found.append(solid_keys())
    # Regions grown by 4 and 6 px hold the same changed pixels as by 2 px
    # (where the dilation did not join blobs): their solid supports were reused.
    assert found[0] > 0
    assert found[2] - found[1] < found[0] / 2
    # Regions with slits the closing bridges (their solid support is not
    # inside them), and eroded ones, are trimmed right too.
    dashes = np.zeros(shape, bool)
    dashes[::6] = (np.arange(shape[1]) % 20 < 10)[None, :]
    for mask in (grown[1] & ~dashes, ndi.binary_erosion(grown[2], iterations=5)):
        for _ in range(2):  # the second time with the solid supports kept
            labels, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
            np.testing.assert_array_equal(
                refine_to_support(labels, None, None, support=support),
                _refine_reference(labels, a, b),
            )


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_max_channel_difference_is_the_plain_reduction(channels):
    from imgdiff_widget._metrics import max_channel_difference

    rng = np.random.default_rng(channels)
    a = rng.random((40, 50, channels), dtype=np.float32)
    b = rng.random((40, 50, channels), dtype=np.float32)
    a[3, 6, -1] = np.nan  # propagated, as np.max propagates it
    crop = (slice(2, 37), slice(5, 44))  # strided views, as SupportMap reads them
    got = max_channel_difference(a[crop], b[crop])
    expected = np.abs(a[crop] - b[crop]).max(axis=-1)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    assert np.isnan(got).sum() == 1


def test_support_found_box_by_box_on_threads_is_the_whole_image_support(monkeypatch):
    from imgdiff_widget import _parallel
    from imgdiff_widget._mask import SupportMap

    monkeypatch.setattr(_parallel, "_TASKS_MIN_WORK", 0)
    monkeypatch.setattr(_parallel, "cpu_count", lambda: 3)
    rng = np.random.default_rng(7)
    shape = (300, 410)  # tiles of 64 px, the last ones cut by the edges
    a = rng.random((*shape, 3), dtype=np.float32)
    b = np.where(rng.random(shape)[..., None] > 0.6, a, a * 0.7 + 0.3).astype(np.float32)
    whole = SupportMap(a, b)[:, :]
    support = SupportMap(a, b)
    boxes = [
        (slice(10, 90), slice(30, 200)),
        (slice(0, 300), slice(380, 410)),
        (slice(150, 290), slice(0, 70)),
    ]
    support.prepare(boxes)
    support.prepare(boxes[:1])  # found already: nothing to do
    for box in boxes:
        np.testing.assert_array_equal(support[box], whole[box])
    assert not support._done.all()  # only the boxes' tiles were found
    np.testing.assert_array_equal(support[:, :], whole)


@pytest.mark.parametrize("kind", ["levels", "uniform", "skewed", "bool", "one bool"])
def test_exposure_block_means_are_numpys_float32_means(kind):
    from imgdiff_widget._metrics import _float32_block_means

    rng = np.random.default_rng(len(kind))
    shape = (23, 8, 61, 8, 1 if kind == "one bool" else 3)  # colours, or the valid mask
    blocks = {
        "levels": (rng.integers(0, 256, shape) / 255).astype(np.float32),
        "uniform": rng.random(shape, dtype=np.float32),
        "skewed": rng.random(shape, dtype=np.float32) ** 8,  # sums that round
        "bool": rng.random(shape) > 0.9,
        "one bool": rng.random(shape) > 0.3,
    }[kind]
    got = _float32_block_means(blocks)
    expected = blocks.mean(axis=(1, 3), dtype=np.float32)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)  # bit for bit


def test_apply_exposure_with_a_tone_curve_is_element_wise():
    """The table path: each crop gets the whole image's values, close to the curve itself."""
    from imgdiff_widget._metrics import Exposure, apply_exposure

    rng = np.random.default_rng(2)
    a = rng.random((50, 61, 3), dtype=np.float32)
    b = rng.random((50, 61, 3), dtype=np.float32)
    exposure = Exposure(
        np.array([1.03, 0.97, 1.1], np.float32),
        np.array([0.01, -0.02, 0.003], np.float32),
        np.full(3, 0.8, np.float32),
    )
    whole = apply_exposure(a, b, exposure)
    curve = exposure.gains * b.astype(np.float64) ** 0.8 + exposure.offsets
    clipped = (b >= 245 / 255) | (b <= 2 / 255)
    assert np.abs(whole - curve)[~clipped].max() < 0.1 / 255
    for crop in (np.s_[3:20, 5:40], np.s_[::2, :], np.s_[:, ::-3], np.s_[7:8, 1:2]):
        assert np.array_equal(apply_exposure(a[crop], b[crop], exposure), whole[crop])
        out = np.full((50, 61, 3), np.nan, np.float32)[crop]
        apply_exposure(a[crop], b[crop], exposure, out=out)
        assert np.array_equal(out, whole[crop])
