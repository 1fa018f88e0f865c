"""Tests of ``compare``, ``DiffPipeline`` (the staged cache) and ``DiffResult``."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import ndimage as ndi

from imgdiff_widget import (
    DiffParams,
    DiffPipeline,
    DiffResult,
    ImageDiffError,
    Region,
    compare,
)
from imgdiff_widget._export import OUTPUT_FILES
from imgdiff_widget._pipeline import STAGE_PARAMS
from imgdiff_widget.synthetic import make_pair

STAGES = list(STAGE_PARAMS)


# --- identical images --------------------------------------------------------


def test_identical_images_give_an_empty_mask(coffee_small):
    result = compare(coffee_small, coffee_small.copy())
    assert not result.mask.any()
    assert result.regions == []
    assert result.score < 0.01
    assert result.alignment == "none"
    assert not result.mask_image.any()


def test_the_same_picture_in_other_encodings_is_identical(coffee_small, tmp_path):
    path = tmp_path / "coffee.png"
    Image.fromarray(coffee_small).save(path)
    as_float = coffee_small / np.float64(255)
    as_16_bit = coffee_small.astype(np.uint16) * 257
    for other in (path, as_float, as_16_bit, Image.fromarray(coffee_small)):
        result = compare(coffee_small, other)
        assert not result.mask.any()


# --- each kind of edit is found, and nothing else ----------------------------

KINDS = ("add", "remove", "recolor", "hue", "small", "line")


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_edit_is_found_and_nothing_else(coffee_small, kind, seed):
    pair = make_pair(coffee_small, (kind,), seed=seed, nuisances={"jpeg": (90, 85)})
    assert pair.kinds == [kind]
    truth = pair.truth_mask
    result = compare(pair.a, pair.b)
    recall = (result.mask & truth).sum() / truth.sum()
    assert recall >= 0.3, f"{kind} seed {seed}: {recall:.0%} of the edit marked"
    near = ndi.binary_dilation(truth, iterations=4)
    for region in result.regions:
        row0, col0, row1, col1 = region.bbox
        own = result.mask[row0:row1, col0:col1] & near[row0:row1, col0:col1]
        assert own.any(), f"{kind} seed {seed}: false region {region.bbox}"
    assert len(result.regions) >= 1


def test_small_objects_and_thin_lines_are_really_small(coffee_small):
    # The two hardest kinds really are small: guard the test above against drift.
    small = make_pair(coffee_small, ("small",), seed=0).truth_mask
    rows, cols = np.nonzero(small)
    assert np.ptp(rows) + 1 <= 13
    assert np.ptp(cols) + 1 <= 13
    line = make_pair(coffee_small, ("line",), seed=0).truth_mask
    assert ndi.binary_erosion(line, iterations=2).sum() == 0  # at most 2 px thick


# --- the staged cache ----------------------------------------------------------


def test_stage_params_cover_every_parameter_once():
    read = [name for names in STAGE_PARAMS.values() for name in names]
    assert sorted(read) == sorted(f.name for f in dataclasses.fields(DiffParams))
    assert STAGES[-1] == "render"


@pytest.fixture
def edited_pair(coffee_small):
    pair = make_pair(coffee_small, ("add", "line"), seed=3, nuisances={"jpeg": (90, 85)})
    return pair.a, pair.b


def _after(stage: str) -> set[str]:
    return set(STAGES[STAGES.index(stage) :])


def test_staged_cache_recomputes_only_what_changed(edited_pair):
    pipe = DiffPipeline(*edited_pair)
    params = DiffParams()
    first = pipe.run(params)
    assert set(first.timings) == {"load", *STAGES}
    assert all(isinstance(v, float) and v >= 0 for v in first.timings.values())

    assert pipe.run(params).timings == {}  # nothing changed, nothing ran

    recoloured = pipe.run(params.replace(color="lime"))
    assert set(recoloured.timings) == {"render"}
    assert recoloured.mask is first.mask  # the very same mask, not recomputed

    for change in ({"alpha": 0.2}, {"style": "outline"}):
        assert set(pipe.run(params.replace(**change)).timings) == {"render"}

    for change in ({"min_area": 5}, {"morphology": 2}, {"padding": 2}, {"fill_holes": False}):
        timings = pipe.run(params.replace(**change)).timings
        assert set(timings) == _after("cleanup"), change
        assert "score" not in timings

    timings = pipe.run(params.replace(threshold=0.3)).timings
    assert set(timings) == _after("threshold")
    assert "score" not in timings
    assert "noise" not in timings

    for change in ({"smoothing": 1.0}, {"win_size": 9}):
        assert set(pipe.run(params.replace(**change)).timings) == _after("score"), change
    # (B is registered, and its exposure fitted, outside the ignored areas.)
    for change in ({"ignore": [(0, 0, 5, 5)]}, {"align": "none"}):
        assert set(pipe.run(params.replace(**change)).timings) == _after("register"), change
    # The metric decides the size policy too (the pixel metric pads screenshots).
    assert set(pipe.run(params.replace(metric="ssim")).timings) == _after("frame")


def test_cached_results_equal_fresh_ones(edited_pair):
    pipe = DiffPipeline(*edited_pair)
    pipe.run(DiffParams())
    for change in ({"threshold": 0.3}, {"min_area": 200}, {"color": "red", "padding": 3}):
        params = DiffParams(**change)
        cached = pipe.run(params)
        fresh = compare(*edited_pair, params=params)
        np.testing.assert_array_equal(cached.mask, fresh.mask)
        assert cached.regions == fresh.regions
        np.testing.assert_array_equal(cached.overlay_a, fresh.overlay_a)


def test_compare_params_and_keyword_overrides(edited_pair):
    base = DiffParams(color="red", threshold=0.4)
    result = compare(*edited_pair, params=base, color="lime")
    assert result.params == base.replace(color="lime")


# --- DiffResult ----------------------------------------------------------------


def test_result_fields_types_and_shapes(edited_pair):
    a, b = edited_pair
    result = compare(a, b)
    h, w = a.shape[:2]
    assert isinstance(result, DiffResult)
    assert result.mask.dtype == bool
    assert result.mask.shape == (h, w)
    assert result.score_map.dtype == np.float32
    assert result.score_map.shape == (h, w)
    assert result.score_map.min() >= 0.0
    assert result.score_map.max() <= 1.0
    assert isinstance(result.score, float)
    assert 0.0 <= result.score <= 1.0
    assert isinstance(result.regions, list)
    assert all(isinstance(r, Region) for r in result.regions)
    for overlay in (result.overlay_a, result.overlay_b):
        assert overlay.dtype == np.uint8
        assert overlay.shape == (h, w, 3)
    assert result.mask_image.dtype == np.uint8
    assert result.mask_image.shape == (h, w)
    np.testing.assert_array_equal(result.mask_image == 255, result.mask)
    assert isinstance(result.timings, dict)
    assert isinstance(result.params, DiffParams)
    assert isinstance(result.threshold, float)
    assert 0.0 < result.threshold <= 1.0
    assert isinstance(result.min_area, int)
    assert len(result.shift) == 2
    assert result.alignment in ("none", "translation", "homography")
    assert result.compared.dtype == bool
    assert result.compared.shape == (h, w)
    # Every marked pixel belongs to exactly one region.
    assert sum(r.area for r in result.regions) == result.mask.sum()
    assert result.n_diff_pixels == result.mask.sum()
    summary = json.loads(json.dumps(result.summary()))
    assert summary["n_regions"] == len(result.regions)


def test_save_writes_the_four_files_atomically(edited_pair, tmp_path):
    result = compare(*edited_pair)
    out = tmp_path / "nested" / "out"
    written = result.save(out)
    assert set(written) == set(OUTPUT_FILES)
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)  # no temporary files left
    np.testing.assert_array_equal(np.asarray(Image.open(out / "mask.png")), result.mask_image)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "overlay_a.png")), result.overlay_a)
    np.testing.assert_array_equal(np.asarray(Image.open(out / "overlay_b.png")), result.overlay_b)
    data = json.loads((out / "regions.json").read_text())
    assert data["n_regions"] == len(result.regions)
    assert [tuple(r["bbox"]) for r in data["regions"]] == [r.bbox for r in result.regions]
    assert [r["area"] for r in data["regions"]] == [r.area for r in result.regions]
    # Saving again replaces the files, still with nothing left over.
    result.save(out)
    assert sorted(os.listdir(out)) == sorted(OUTPUT_FILES)


@pytest.mark.parametrize("which", ["a", "b"])
@pytest.mark.parametrize("name", ["overlay_a.png", "mask.png"])
def test_save_refuses_to_write_over_an_input(edited_pair, tmp_path, which, name):
    a, b = edited_pair
    out = tmp_path / "out"
    out.mkdir()
    victim = out / name
    Image.fromarray(a if which == "a" else b).save(victim)
    original = victim.read_bytes()
    result = compare(victim, b) if which == "a" else compare(a, victim)
    with pytest.raises(ImageDiffError, match="input"):
        result.save(out)
    assert victim.read_bytes() == original
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_save_into_a_file_is_an_error(edited_pair, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ImageDiffError, match="not a directory"):
        compare(*edited_pair).save(blocker)


# --- property-based: anything goes in, only ImageDiffError comes out ----------

SHAPES = st.one_of(
    st.sampled_from([(1, 1), (2, 5), (3, 3), (1, 9), (9, 1), (4, 4)]),
    st.tuples(st.integers(1, 24), st.integers(1, 24)),
)
DTYPES = st.sampled_from(["uint8", "uint16", "float32", "float64", "bool"])
CHANNELS = st.sampled_from([None, 1, 2, 3, 4])


def _image(shape, dtype, channels, seed, special):
    rng = np.random.default_rng(seed)
    full = shape if channels is None else (*shape, channels)
    if dtype == "bool":
        return rng.random(full) < 0.5
    if dtype.startswith("float"):
        image = rng.random(full).astype(dtype)
        if special == "nan":
            image.flat[0] = np.nan
        elif special == "big":
            image *= 255
        return image
    info = np.iinfo(dtype)
    return rng.integers(0, info.max, full, dtype=dtype, endpoint=True)


@st.composite
def image_pairs(draw):
    shape_a = draw(SHAPES)
    shape_b = draw(st.sampled_from([shape_a] * 4 + [draw(SHAPES)]))
    special = draw(st.sampled_from([None] * 8 + ["nan", "big"]))
    a = _image(shape_a, draw(DTYPES), draw(CHANNELS), draw(st.integers(0, 2**32)), special)
    if draw(st.booleans()):
        b = a.copy()
        b.flat[: b.size // 3] = b.flat[-1]  # a change on part of it
    else:
        b = _image(shape_b, draw(DTYPES), draw(CHANNELS), draw(st.integers(0, 2**32)), None)
    return a, b


PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "metric": st.sampled_from(["combined", "ssim", "color", "absdiff"]),
        "align": st.sampled_from(["auto", "none", "translation", "homography"]),
        "size_mismatch": st.sampled_from(["auto", "crop", "pad", "resize"]),
        "threshold": st.sampled_from(["auto", 0.05, 0.5, 1.0]),
        "min_area": st.sampled_from(["auto", 0, 1, 3]),
        "padding": st.integers(0, 3),
        "style": st.sampled_from(["fill", "outline+boxes", "heatmap"]),
    },
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(pair=image_pairs(), params=PARAMS)
@example(
    pair=(np.zeros((1, 1), np.uint8), np.ones((1, 1), np.uint8)), params={"align": "homography"}
)
@example(pair=(np.zeros((1, 7, 3)), np.zeros((1, 7, 3))), params={"align": "homography"})
@example(pair=(np.zeros((2, 5, 2), np.float32), np.ones((2, 5, 2), np.float32)), params={})
@example(pair=(np.zeros((3, 3), bool), np.ones((3, 3), bool)), params={"metric": "absdiff"})
@example(pair=(np.zeros((8, 8), np.uint16), np.zeros((8, 8), np.uint16)), params={})
def test_compare_raises_only_image_diff_errors_and_never_mutates(pair, params):
    a, b = pair
    a_before, b_before = a.copy(), b.copy()
    try:
        result = compare(a, b, **params)
    except ImageDiffError as exc:
        event(type(exc).__name__)
    else:
        event("compared")
        h, w = result.mask.shape
        assert result.overlay_a.shape == (h, w, 3)
        assert result.overlay_b.shape == (h, w, 3)
        assert result.mask_image.shape == (h, w)
        assert result.score_map.shape == (h, w)
        assert np.isfinite(result.score_map).all()
        assert sum(r.area for r in result.regions) == result.mask.sum()
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)
    assert a.flags.writeable
    assert b.flags.writeable


def _two_shapes(supersample: int, extra_disk: bool = False) -> np.ndarray:
    """A triangle and a disk on white, drawn aliased (1) or supersampled and reduced."""
    from skimage.draw import disk, polygon
    from skimage.transform import resize

    s = supersample
    image = np.ones((160 * s, 160 * s, 3))
    rr, cc = polygon(np.array([20, 140, 90]) * s, np.array([30, 60, 140]) * s, image.shape[:2])
    image[rr, cc] = (0.1, 0.2, 0.6)
    rr, cc = disk((50 * s, 110 * s), 25 * s, shape=image.shape[:2])
    image[rr, cc] = (0.8, 0.1, 0.1)
    if extra_disk:
        rr, cc = disk((130 * s, 130 * s), 12 * s, shape=image.shape[:2])
        image[rr, cc] = (0.1, 0.6, 0.2)
    if s > 1:
        image = resize(image, (160, 160), anti_aliasing=True)
    return (image * 255).round().astype(np.uint8)


def test_ignore_antialiasing_drops_antialiasing_regions_of_the_photo_metrics():
    aliased, smooth = _two_shapes(1), _two_shapes(4)
    # The combined metric sees the smoothed edges as changed structure ...
    assert compare(aliased, smooth).regions
    # ... and with anti-aliasing ignored marks nothing, but reports the edges.
    ignored = compare(aliased, smooth, ignore_antialiasing=True)
    assert ignored.regions == []
    assert ignored.antialiased.any()
    # A real change beside the anti-aliased edges stays marked.
    changed = compare(aliased, _two_shapes(4, extra_disk=True), ignore_antialiasing=True)
    assert len(changed.regions) == 1
    row0, col0, row1, col1 = changed.regions[0].bbox
    assert max(row0, col0) <= 118
    assert min(row1, col1) >= 142


@pytest.mark.parametrize("metric", ["combined", "pixel"])
def test_no_antialiasing_is_reported_in_ignored_areas(metric):
    aliased, smooth = _two_shapes(1), _two_shapes(4)
    everything = [(0, 0, *aliased.shape[:2])]
    seen = compare(aliased, smooth, metric=metric, ignore_antialiasing=True)
    assert seen.antialiased.any()
    ignored = compare(aliased, smooth, metric=metric, ignore_antialiasing=True, ignore=everything)
    assert not ignored.antialiased.any()
    assert ignored.summary()["n_antialiased_pixels"] == 0


@pytest.mark.parametrize("shape", [(1, 1), (30, 1), (1, 30)])
def test_pixel_metric_marks_every_changed_pixel_of_a_one_pixel_wide_image(shape):
    # Its regions are grouped by a dilation that once lost the marks of
    # one-column arrays (and so marked nothing).
    a = np.zeros(shape)
    b = a.copy()
    changed = [0] if max(shape) == 1 else [2, 3, 17, 29]
    b.flat[changed] = 1.0
    result = compare(a, b, metric="pixel")
    assert result.n_diff_pixels == len(changed)
    np.testing.assert_array_equal(np.flatnonzero(result.mask), changed)


def test_results_are_read_only_so_later_runs_stay_right(coffee_small):
    # Later results reuse the same cached arrays: writing into one result
    # would change what the pipeline shows next.
    pair = make_pair(coffee_small, seed=5)
    pipe = DiffPipeline(pair.a, pair.b)
    first = pipe.run(DiffParams())
    arrays = {
        "mask": first.mask,
        "score_map": first.score_map,
        "compared": first.compared,
        "antialiased": first.antialiased,
        "overlay_a": first.overlay_a,
        "overlay_b": first.overlay_b,
        "mask_image": first.mask_image,
        "base a": first.bases[0],
        "base b": first.bases[1],
    }
    for name, array in arrays.items():
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0
        assert not array.flags.writeable, name
    first.regions.clear()  # the caller's own list
    again = pipe.run(DiffParams(color="lime"))
    assert again.n_diff_pixels == first.mask.sum() > 0
    assert len(again.regions) > 0
    np.testing.assert_array_equal(again.mask, first.mask)


def test_images_too_small_for_ssim_point_to_the_metric_that_works():
    from imgdiff_widget import ImageShapeError

    a, b = np.zeros((2, 40, 3)), np.ones((2, 40, 3))
    with pytest.raises(ImageShapeError, match="use metric='pixel'"):
        compare(a, b)
    assert compare(a, b, metric="pixel").mask.all()  # what the message promises
