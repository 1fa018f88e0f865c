"""Real pairs from other image-diff tools (../shared/peers), with default parameters.

Skipped when the peer folder is absent. Facts from the peers' own suites
(../shared/peers/README.md): odiff's tiger pair differs by one added speech
bubble; every difference of Resemble.js's People pair lies inside left 22,
top 58, right 450, bottom 431; odiff's extreme-alpha pair is one picture with
its transparency encoded two ways.
"""

from __future__ import annotations

import numpy as np
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
