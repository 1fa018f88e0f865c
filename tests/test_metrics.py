"""Tests of the difference components and of exposure matching."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.color import rgb2gray

from imgdiff_widget import compare
from imgdiff_widget._metrics import (
    METRICS,
    _difference_noise,
    components_for,
    difference_components,
    fit_exposure,
    match_exposure,
)

ALL = ("structure", "color", "absdiff")


def _float(image):
    return (image / np.float32(255)).astype(np.float32)


def test_metric_table():
    assert {"combined", "ssim", "color", "absdiff"} <= set(METRICS)
    assert components_for("combined")[:2] == ("structure", "color")
    assert components_for("ssim") == ("structure",)


def test_identical_images_score_zero(make_texture):
    a = _float(make_texture((40, 50), 0))
    out = difference_components(a, a.copy(), ALL)
    assert set(out) == set(ALL)
    for name, values in out.items():
        assert values.dtype == np.float32, name
        assert values.shape == (40, 50), name
        assert float(values.max()) < 1e-5, name


@pytest.mark.parametrize("seed", [1, 2])
def test_components_lie_in_unit_range(make_texture, seed):
    a = _float(make_texture((40, 50), 0))
    b = _float(make_texture((40, 50), seed))
    extremes = (np.zeros_like(a), np.ones_like(a))
    for x, y in ((a, b), extremes, (extremes[1], a)):
        for name, values in difference_components(x, y, ALL).items():
            assert values.min() >= 0.0, name
            assert values.max() <= 1.0, name
    black_white = difference_components(*extremes, ALL)
    assert black_white["absdiff"].min() == 1.0
    assert black_white["color"].min() > 0.9


def test_only_the_requested_components_are_computed(make_texture):
    a = _float(make_texture((20, 20), 0))
    assert set(difference_components(a, a, ("color",))) == {"color"}


def _hue_pair():
    """A disc whose colour changes hue while its grey value stays exactly the same."""
    a = np.empty((60, 60, 3), np.float32)
    a[:] = (0.6, 0.4, 0.5)
    b = a.copy()
    rows, cols = np.ogrid[:60, :60]
    disc = (rows - 30) ** 2 + (cols - 30) ** 2 <= 12**2
    # Same Rec. 709 luma as (0.6, 0.4, 0.5): solve for green.
    r, bl = 0.3, 0.8
    g = 0.4 + (0.2125 * (0.6 - r) + 0.0721 * (0.5 - bl)) / 0.7154
    b[disc] = (r, g, bl)
    return a, b, disc


def test_colour_sees_a_hue_change_that_structure_misses():
    a, b, disc = _hue_pair()
    np.testing.assert_allclose(rgb2gray(a), rgb2gray(b), atol=1e-6)
    out = difference_components(a, b, ("structure", "color"))
    assert out["structure"].max() < 0.01
    assert out["color"][disc].mean() > 0.2
    # Through the pipeline: luminance SSIM alone finds nothing, the default finds the disc.
    assert compare(a, b, metric="ssim").regions == []
    result = compare(a, b)
    assert len(result.regions) == 1
    assert (result.mask & disc).sum() > 0.9 * disc.sum()


def _gain_pair(make_texture):
    a = _float(make_texture((64, 64), 4)) * np.float32(0.8) + np.float32(0.1)
    b = (a * np.float32(0.85) + np.float32(0.05)).astype(np.float32)  # no clipping
    return a, b


def test_match_exposure_removes_a_global_gain_and_offset(make_texture):
    a, b = _gain_pair(make_texture)
    a0, b0 = a.copy(), b.copy()
    valid = np.ones(a.shape[:2], bool)
    matched = match_exposure(a, b, valid)
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    assert matched.dtype == np.float32
    assert not np.shares_memory(matched, b)
    before = np.abs(a - b).mean()
    after = np.abs(a - matched).mean()
    assert after <= 0.1 * before


def test_match_exposure_is_not_pulled_by_a_local_change(make_texture):
    a, b = _gain_pair(make_texture)
    b[10:26, 10:26] = 1.0  # a real difference (6 % of the pixels)
    matched = match_exposure(a, b, np.ones(a.shape[:2], bool))
    outside = np.ones(a.shape[:2], bool)
    outside[8:28, 8:28] = False
    before = np.abs(a - b)[outside].mean()
    after = np.abs(a - matched)[outside].mean()
    assert after <= 0.1 * before
    # The change itself survives.
    assert np.abs(a - matched)[12:24, 12:24].mean() > 0.2


def test_match_exposure_per_channel_white_balance(make_texture):
    a = _float(make_texture((48, 48), 5)) * np.float32(0.7) + np.float32(0.1)
    b = a * np.array([1.1, 1.0, 0.9], np.float32)
    matched = match_exposure(a, b, np.ones(a.shape[:2], bool))
    assert np.abs(a - matched).mean() <= 0.1 * np.abs(a - b).mean()


def test_exposure_change_alone_is_not_a_difference(coffee_small):
    b = np.clip(coffee_small.astype(np.float32) * 1.08 + 4, 0, 255).astype(np.uint8)
    assert compare(coffee_small, b).regions == []


def _jpeg(image, quality):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((image * 255).round().astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return _float(np.asarray(Image.open(buffer)))


@pytest.mark.parametrize("gain", [1.2, 1 / 1.2])
def test_an_exposure_change_that_clips_highlights_under_jpeg_is_not_a_difference(gain):
    # JPEG's ringing leaves the clipped highlights of the brighter image at
    # 245-254, not 255: counted as clipped, they are not compared by a gain
    # that would darken them (18 regions on the cup's highlights before).
    from skimage import data

    a = data.coffee().astype(np.float32) / 255
    b = np.clip(a * gain, 0, 1)
    assert compare(_jpeg(a, 90), _jpeg(b, 90)).regions == []


def test_an_ignored_area_does_not_set_the_exposure_of_the_rest():
    # Astronaut with its top half inverted in B, and that half ignored: fitted
    # over the whole picture, the exposure (red gain 0.66, offset 0.29) marked
    # 5 regions in the half the user looks at.
    from skimage import data

    a = data.astronaut().astype(np.float32) / 255
    b = _jpeg(a, 90)
    half = a.shape[0] // 2
    b[:half] = 1 - b[:half]
    assert compare(a, b, ignore=[(0, 0, half, a.shape[1])]).regions == []


@pytest.mark.parametrize(("gain", "offset"), [(1.0, 0.0), (0.955, 5 / 255), (1.04, -4 / 255)])
def test_exposure_fit_is_not_fooled_by_jpeg_on_a_star_field(gain, offset):
    # A dark sky with small bright stars and galaxies: JPEG dims small bright
    # details more at a lower quality, and fitted pixel by pixel that looked
    # like a gain change of its own (12-29/255 of error on the brightest
    # stars, marked as colour differences).
    from skimage import data
    from skimage.transform import rescale

    scene = rescale(data.hubble_deep_field()[:, 500:], 0.6, channel_axis=-1).astype(np.float32)
    noise = np.random.default_rng(3).normal(0, 2 / 255, scene.shape).astype(np.float32)
    a = _jpeg(scene, 92)
    b = _jpeg(np.clip(scene * gain + offset + noise, 0, 1), 70)
    gains, offsets, powers = fit_exposure(a, b, np.ones(a.shape[:2], bool))
    np.testing.assert_array_equal(powers, 1)  # a line: no tone curve
    # The true line maps B back onto A: a = (b - offset) / gain.
    for value in (0.03, *np.percentile(b.reshape(-1, 3), 99.5, axis=0)):
        error = np.abs(gains * value + offsets - (value - offset) / gain)
        assert error.max() < 4 / 255, (value, error * 255)


def test_exposure_fit_ignores_a_large_bright_addition(make_texture):
    a = _float(make_texture((160, 160), 2)) * np.float32(0.6) + np.float32(0.1)
    b = a * np.float32(1.05) - np.float32(0.02)
    b[20:70, 20:70] = 0.95  # a real difference on 10 % of the image, all in the bright bins
    gains, offsets, powers = fit_exposure(a, b, np.ones(a.shape[:2], bool))
    np.testing.assert_array_equal(powers, 1)  # a line: no tone curve
    np.testing.assert_allclose(gains, 1 / 1.05, atol=0.02)
    np.testing.assert_allclose(offsets, 0.02 / 1.05, atol=3 / 255)


def test_exposure_fit_on_images_smaller_than_a_block():
    a = np.full((5, 7, 3), 0.5, np.float32)
    assert fit_exposure(a, a, np.ones((5, 7), bool)) is None
    np.testing.assert_array_equal(match_exposure(a, a * 0.5, np.ones((5, 7), bool)), a * 0.5)


def test_only_large_images_are_scored_at_a_reduced_scale():
    from imgdiff_widget._metrics import _analysis_scale

    assert _analysis_scale((2984, 3984)) == 2  # 12 MP
    assert _analysis_scale((1716, 2293)) == 1  # 4 MP
    assert _analysis_scale((100, 100)) == 1


@pytest.mark.parametrize("names", [ALL, ("structure",), ("color",), ("color", "absdiff")])
def test_reduced_scale_components_have_the_full_shape_and_range(monkeypatch, make_texture, names):
    from imgdiff_widget import _metrics

    monkeypatch.setattr(_metrics, "_REDUCED_SCALE_PIXELS", 0)
    a = _float(make_texture(seed=3))[:61, :75]
    b = a.copy()
    b[20:40, 30:50] = (0.9, 0.1, 0.1)  # texture -> flat red
    found = difference_components(a, b, names)
    assert tuple(found) == names
    for name, values in found.items():
        assert values.shape == a.shape[:2], name
        assert values.dtype == np.float32, name
        assert values.min() >= 0, name
        assert values.max() <= 1, name
        assert values[25:35, 35:45].min() > 0.1, name  # the change
        assert values[:10, :10].max() < 0.05, name  # far from it


def test_reduced_scale_marks_the_same_edits_and_nothing_else(monkeypatch):
    """The half-scale analysis of a large image finds what full resolution finds."""
    from skimage import data

    from imgdiff_widget import _metrics
    from imgdiff_widget.synthetic import make_pair

    pair = make_pair(
        data.astronaut(),
        ("add", "remove", "recolor", "hue", "line"),
        seed=5,
        nuisances={"jpeg": (85, 80)},
    )
    masks = {}
    for name, pixels in (("full", float("inf")), ("reduced", 0)):
        monkeypatch.setattr(_metrics, "_REDUCED_SCALE_PIXELS", pixels)
        masks[name] = compare(pair.a, pair.b).mask
    union = np.zeros(pair.a.shape[:2], bool)
    for truth in pair.truth:
        union |= truth
        assert masks["full"][truth].mean() >= 0.3
        assert masks["reduced"][truth].mean() >= 0.3
    from scipy import ndimage as ndi

    near = ndi.binary_dilation(union, iterations=3)

    def false_regions(mask):
        labels, count = ndi.label(mask, structure=np.ones((3, 3), bool))
        return count - np.unique(labels[near & mask]).size

    assert false_regions(masks["reduced"]) <= false_regions(masks["full"])


def _noise_pair(shape=(400, 480), sigma=0.02, seed=0):
    rng = np.random.default_rng(seed)
    # The same content on both sides: large shapes and a fine texture.
    coarse = ndi.zoom(rng.random((shape[0] // 40 + 1, shape[1] // 40 + 1)), 40, order=1)
    scene = (0.7 * coarse[: shape[0], : shape[1]] + 0.3 * rng.random(shape)).astype(np.float32)
    return (
        scene + rng.normal(0, sigma, shape).astype(np.float32),
        scene + rng.normal(0, sigma, shape).astype(np.float32),
    )


def test_difference_noise_measures_the_noise_the_images_differ_by():
    a, b = _noise_pair(sigma=0.02)
    assert _difference_noise(a, a.copy()) == 0.0
    # A - B has variance 2 sigma**2; the lower quartile of 64-pixel estimates is a little under.
    assert 0.75 * 2 * 0.02**2 < _difference_noise(a, b) < 2 * 0.02**2
    assert _difference_noise(*_noise_pair(sigma=0.04)) > 3.5 * _difference_noise(a, b)
    assert _difference_noise(a[:7], b[:7]) == 0.0  # no whole 8 x 8 block


def test_difference_noise_ignores_tints_and_a_change_of_most_blocks():
    a, b = _noise_pair(sigma=0.02)
    noise = _difference_noise(a, b)
    tinted = b.copy()
    tinted[:, :240] += 0.2  # a block's mean moves, not its variance
    assert _difference_noise(a, tinted) == pytest.approx(noise, rel=1e-3)
    changed = b.copy()
    changed[:, :280] = np.random.default_rng(9).random((400, 280))  # 58 % of the picture
    assert _difference_noise(a, changed) < 1.3 * noise


@pytest.mark.parametrize("gamma", [0.8, 1.25, 1.5])
def test_exposure_fit_finds_a_tone_curve(coffee_small, gamma):
    a = _float(coffee_small)
    b = a**gamma * np.float32(1.03)
    valid = np.ones(a.shape[:2], bool)
    np.testing.assert_allclose(fit_exposure(a, b, valid).powers, 1 / gamma, rtol=0.08)
    # (The best line misses A by 2.7-4.4/255 at the median here.)
    assert np.median(np.abs(match_exposure(a, b, valid) - a)) < 2 / 255


def test_exposure_fit_keeps_a_line_for_a_plain_gain(coffee_small):
    a = _float(coffee_small)
    exposure = fit_exposure(a, a * np.float32(0.9) + np.float32(0.02), np.ones(a.shape[:2], bool))
    np.testing.assert_array_equal(exposure.powers, 1)


def test_difference_noise_is_read_where_asked_and_only_for_one_scene():
    a, b = _noise_pair(sigma=0.02)
    noise = _difference_noise(a, b)
    changed = b.copy()
    changed[:, :400] = np.random.default_rng(9).random((400, 400))  # 83 % replaced
    where = np.ones(a.shape, bool)
    where[:, :400] = False  # ... and left out
    assert _difference_noise(a, changed, where) == pytest.approx(noise, rel=0.15)
    assert _difference_noise(a, b, np.zeros(a.shape, bool)) == 0.0  # no block to read
    # Two different pictures: no noise level to find.
    other, _ = _noise_pair(sigma=0.02, seed=1)
    assert _difference_noise(a, other) == 0.0


def test_difference_noise_is_not_taken_from_a_change_of_most_blocks():
    # The same scene with a strong change of texture over 80 % of it: the
    # quartile lies in the changed blocks, the lowest decile does not.
    a, b = _noise_pair(sigma=0.01)
    noise = _difference_noise(a, b)
    changed = b.copy()
    changed[:, :384] += np.random.default_rng(3).normal(0, 0.1, (400, 384)).astype(np.float32)
    assert _difference_noise(a, changed) < 3 * noise


def test_exposure_fit_reads_a_narrow_area_looked_at():
    # A large image compared on a band of 5 rows of blocks only (the rest
    # ignored): sampling every few rows of the whole image's blocks missed the
    # band, and B's exposure went uncorrected.
    rows, cols = np.mgrid[:2400, :3200].astype(np.float32)
    a = np.stack(
        [
            0.1 + 0.8 * cols / 3200,
            0.5 + 0.3 * np.sin(rows / 50),
            0.3 + 0.2 * rows / 2400 + 0.4 * (1 - cols / 3200),
        ],
        -1,
    )
    valid = np.zeros(a.shape[:2], bool)
    valid[808:848] = True
    gains = fit_exposure(a, a * np.float32(0.9) + np.float32(0.02), valid).gains
    np.testing.assert_allclose(gains, 1 / 0.9, rtol=0.02)
