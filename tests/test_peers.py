"""Real pairs from other image-diff tools (../shared/peers), with default parameters.

Skipped when the peer folder is absent. Facts from the peers' own suites
(../shared/peers/README.md): odiff's tiger pair differs by one added speech
bubble; every difference of Resemble.js's People pair lies inside left 22,
top 58, right 450, bottom 431; odiff's extreme-alpha pair is one picture with
its transparency encoded two ways.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imgdiff_widget import compare

# The speech bubble in tiger-2.jpg, (row0, col0, row1, col1) half-open: the extent
# of the red pixels of odiff's own jpg/tiger-diff.png (rows 13-186, cols 587-879).
BUBBLE = (13, 587, 187, 880)
# How far a mark may reach past the bubble's outline (smoothing, SSIM window).
SLACK = 8


def test_tiger_one_region_covering_the_speech_bubble(peers):
    diff = np.asarray(Image.open(peers("odiff/jpg/tiger-diff.png")).convert("RGB")).astype(int)
    red = (diff[..., 0] > 200) & (diff[..., 1] < 80) & (diff[..., 2] < 80)
    rows, cols = np.nonzero(red)
    assert (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1) == BUBBLE

    result = compare(peers("odiff/jpg/tiger.jpg"), peers("odiff/jpg/tiger-2.jpg"))
    assert len(result.regions) == 1, [r.bbox for r in result.regions]
    row0, col0, row1, col1 = result.regions[0].bbox
    # It covers the whole bubble ...
    assert row0 <= BUBBLE[0]
    assert col0 <= BUBBLE[1]
    assert row1 >= BUBBLE[2]
    assert col1 >= BUBBLE[3]
    assert result.mask[red].mean() > 0.95
    # ... and nothing else.
    allowed = np.zeros_like(result.mask)
    allowed[
        BUBBLE[0] - SLACK : BUBBLE[2] + SLACK,
        BUBBLE[1] - SLACK : BUBBLE[3] + SLACK,
    ] = True
    assert not (result.mask & ~allowed).any()


# Resemble.js's documented bounds, inclusive pixel coordinates.
PEOPLE = {"left": 22, "top": 58, "right": 450, "bottom": 431}


def test_people_every_mark_inside_the_documented_bounds(peers):
    result = compare(
        peers("resemblejs/demoassets/People.jpg"), peers("resemblejs/demoassets/People2.jpg")
    )
    assert result.regions, "the People pair differs; something must be marked"
    rows, cols = np.nonzero(result.mask)
    extent = {
        "left": int(cols.min()),
        "top": int(rows.min()),
        "right": int(cols.max()),
        "bottom": int(rows.max()),
    }
    assert extent["left"] >= PEOPLE["left"], extent
    assert extent["top"] >= PEOPLE["top"], extent
    assert extent["right"] <= PEOPLE["right"], extent
    assert extent["bottom"] <= PEOPLE["bottom"], extent


def test_extreme_alpha_marks_nothing(peers):
    result = compare(peers("odiff/png/extreme-alpha.png"), peers("odiff/png/extreme-alpha-1.png"))
    assert not result.mask.any()
    assert result.regions == []


# Pairs that differ only by anti-aliasing (../shared/peers/README.md).
AA_ONLY = {
    "text-textAa": ("resemblejs/assets/text.png", "resemblejs/assets/textAa.png"),
    "5a-5b": ("pixelmatch/5a.png", "pixelmatch/5b.png"),
}


@pytest.mark.parametrize("metric", ["pixel", "combined"])
@pytest.mark.parametrize("pair", sorted(AA_ONLY))
def test_antialiasing_only_pairs_mark_nothing_with_ignore_antialiasing_on(peers, pair, metric):
    a, b = AA_ONLY[pair]
    result = compare(peers(a), peers(b), metric=metric, ignore_antialiasing=True)
    assert result.n_diff_pixels == 0
    assert not result.mask.any()
    assert result.regions == []
    assert result.antialiased.any()  # found, reported, not marked


def test_text_antialiasing_auto_is_pixelmatch_true_is_broader(peers):
    """'auto' keeps pixelmatch's detector alone (its count); True adds the broader test."""
    a, b = (peers(p) for p in AA_ONLY["text-textAa"])
    off = compare(a, b, metric="pixel", ignore_antialiasing=False)
    auto = compare(a, b, metric="pixel")
    on = compare(a, b, metric="pixel", ignore_antialiasing=True)
    assert off.n_diff_pixels == 2487  # Resemble's 5.19 % without its filter
    assert auto.n_diff_pixels == 105  # what pixelmatch v7 counts
    assert on.n_diff_pixels == 0  # Resemble's 0.00 % with its filter
    # the pixels left out are reported as anti-aliasing, all of them
    np.testing.assert_array_equal(on.antialiased, off.mask)


# (a, b, threshold, pixels of pixelmatch's count the broader test also leaves out)
PIXELMATCH_COST = [
    ("1a", "1b", 0.05, 0),
    ("2a", "2b", 0.05, 4),
    ("3a", "3b", 0.05, 0),
    ("4a", "4b", 0.05, 0),
    ("6a", "6b", 0.05, 0),
    ("7a", "7b", 0.1, 12),
]


@pytest.mark.parametrize(("a", "b", "threshold", "cost"), PIXELMATCH_COST)
def test_ignore_antialiasing_true_keeps_every_region_of_real_changes(peers, a, b, threshold, cost):
    pair = (peers(f"pixelmatch/{a}.png"), peers(f"pixelmatch/{b}.png"))
    kw = {"metric": "pixel", "align": "none", "threshold": threshold}
    auto = compare(*pair, **kw)
    on = compare(*pair, ignore_antialiasing=True, **kw)
    assert auto.n_diff_pixels - on.n_diff_pixels == cost
    assert not (on.mask & ~auto.mask).any()
    assert len(on.regions) == len(auto.regions)


# Real changes whose edges pixelmatch's detector flags as anti-aliasing too:
# odiff's changed text (10-27 % of each region) and the 3 px eye highlights
# of Resemble's ghost. With a photo metric, ignoring anti-aliasing must keep them.
REAL_WITH_ANTIALIASED_EDGES = {
    "orange": ("odiff/png/orange.png", "odiff/png/orange_changed.png"),
    "ghost": ("resemblejs/demoassets/ghost1.png", "resemblejs/demoassets/ghost2.png"),
}


@pytest.mark.parametrize("pair", sorted(REAL_WITH_ANTIALIASED_EDGES))
def test_ignore_antialiasing_keeps_real_changes_with_the_photo_metric(peers, pair):
    a, b = (peers(p) for p in REAL_WITH_ANTIALIASED_EDGES[pair])
    default = compare(a, b)
    on = compare(a, b, ignore_antialiasing=True)
    assert len(default.regions) >= 3
    assert [r.bbox for r in on.regions] == [r.bbox for r in default.regions]
    np.testing.assert_array_equal(on.mask, default.mask)
    assert on.antialiased.any()  # the flagged edges are reported all the same
