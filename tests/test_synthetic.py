"""Tests of the synthetic pairs with known differences."""

from __future__ import annotations

import numpy as np
import pytest

from imgdiff_widget import compare
from imgdiff_widget.synthetic import EDIT_KINDS, apply_edit, make_pair

DEFAULT_KINDS = ["add", "remove", "recolor", "hue", "small", "line"]


def test_make_pair_is_deterministic_per_seed(coffee_small):
    one = make_pair(coffee_small, seed=4, nuisances={"jpeg": (90, 80)})
    two = make_pair(coffee_small, seed=4, nuisances={"jpeg": (90, 80)})
    np.testing.assert_array_equal(one.a, two.a)
    np.testing.assert_array_equal(one.b, two.b)
    assert one.kinds == two.kinds
    for m1, m2 in zip(one.truth, two.truth, strict=True):
        np.testing.assert_array_equal(m1, m2)
    other = make_pair(coffee_small, seed=5, nuisances={"jpeg": (90, 80)})
    assert not np.array_equal(one.b, other.b)


def test_truth_masks_are_non_empty_inside_the_image_and_recorded(coffee_small):
    pair = make_pair(coffee_small, seed=2)
    assert pair.kinds == DEFAULT_KINDS
    assert len(pair.truth) == len(pair.kinds)
    assert pair.a.dtype == np.uint8
    assert pair.b.dtype == np.uint8
    assert pair.a.shape == pair.b.shape
    for mask, kind in zip(pair.truth, pair.kinds, strict=True):
        assert mask.dtype == bool
        assert mask.shape == pair.a.shape[:2]
        assert mask.sum() >= 4, kind
    # Edits do not overlap, and the union is their sum.
    assert pair.truth_mask.sum() == sum(int(m.sum()) for m in pair.truth)
    # Outside the truth, without nuisances, A and B differ by at most 8/255 (the
    # truth keeps the visibly changed pixels only).
    outside = ~pair.truth_mask
    assert np.abs(pair.a[outside].astype(int) - pair.b[outside].astype(int)).max() <= 8
    # Inside, each edit is visible.
    for mask in pair.truth:
        diff = np.abs(pair.a[mask].astype(int) - pair.b[mask].astype(int)).max(axis=-1)
        assert (diff > 8).mean() > 0.9


def test_hue_edit_keeps_the_lightness(coffee_small):
    from skimage.color import rgb2lab

    image = coffee_small / np.float32(255)
    edited, truth = apply_edit(image, "hue", (100, 150), 30, np.random.default_rng(0))
    assert truth.any()
    lab_a, lab_b = rgb2lab(image[truth]), rgb2lab(edited[truth])
    assert np.abs(lab_a[:, 0] - lab_b[:, 0]).mean() < 3  # lightness kept
    assert np.hypot(*(lab_a[:, 1:] - lab_b[:, 1:]).T).mean() > 20  # hue moved
    np.testing.assert_array_equal(image, coffee_small / np.float32(255))  # not modified


@pytest.mark.parametrize("kind", [k for k in EDIT_KINDS if k != "remove"])
def test_every_edit_kind(coffee_small, kind):
    pair = make_pair(coffee_small, (kind,), seed=1)
    assert pair.kinds == [kind]
    assert pair.truth[0].sum() >= 4


def test_nuisances_are_recorded_and_applied(coffee_small):
    pair = make_pair(
        coffee_small,
        ("add",),
        seed=0,
        nuisances={"jpeg": (90, 70), "gain": 1.05, "shift": (2, 1), "size_delta": (3, -2)},
    )
    assert pair.info["gain"] == 1.05
    assert len(pair.info["jpeg_files"]) == 2
    assert pair.info["jpeg_files"][0][:2] == b"\xff\xd8"  # JPEG bytes, ready to store
    assert pair.b.shape[0] == pair.a.shape[0] + 3
    assert pair.b.shape[1] == pair.a.shape[1] - 2


@pytest.mark.filterwarnings("ignore:B was moved")  # (a large shift, as meant)
def test_a_view_turned_and_zoomed_as_by_hand(coffee_small):
    nuisances = {"shift": (10, -6), "turn": 2.0, "zoom": 1.02}
    pair = make_pair(coffee_small, ("add", "recolor"), seed=2, nuisances=nuisances)
    assert pair.a.shape == pair.b.shape
    result = compare(pair.a, pair.b)
    assert result.alignment == "affine"
    assert result.shift == pytest.approx((10, -6), abs=1.5)
    for truth in pair.truth:
        assert result.mask[truth].mean() > 0.5


def test_the_truth_is_what_both_views_show(coffee_small):
    # B's view moved 30 rows down: A's top 30 rows are not in it, and a
    # change there cannot be found.
    clipped = 0
    for seed in range(6):
        pair = make_pair(coffee_small, EDIT_KINDS[:6], seed=seed, nuisances={"shift": (30, 0)})
        assert not any(truth[:30].any() for truth in pair.truth)
        clipped += sum(truth[30].any() for truth in pair.truth)
    assert clipped  # (some change did reach into the strip)


def test_unknown_kind_is_refused(coffee_small):
    with pytest.raises(ValueError, match="unknown edit kind"):
        make_pair(coffee_small, ("explode",), seed=0)
