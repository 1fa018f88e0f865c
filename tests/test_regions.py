"""Tests of ``find_regions`` and ``Region``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from imgdiff_widget import Region
from imgdiff_widget._regions import find_regions


@pytest.fixture
def scene():
    mask = np.zeros((40, 50), bool)
    score = np.zeros((40, 50), np.float32)
    # Three objects; listed here out of reading order on purpose.
    mask[30:35, 5:9] = True  # bottom-left
    score[30:35, 5:9] = 0.4
    score[32, 6] = 0.95
    mask[3:6, 40:48] = True  # top-right
    score[3:6, 40:48] = 0.6
    mask[3:10, 10:12] = True  # top-left, same top row: comes first
    score[3:10, 10:12] = np.linspace(0.2, 0.8, 14, dtype=np.float32).reshape(7, 2)
    return mask, score


def test_regions_in_reading_order_with_labels_1_to_n(scene):
    mask, score = scene
    regions = find_regions(mask, score)
    assert [r.label for r in regions] == [1, 2, 3]
    assert [r.bbox for r in regions] == [(3, 10, 10, 12), (3, 40, 6, 48), (30, 5, 35, 9)]
    # Stable: the same answer every time.
    assert find_regions(mask.copy(), score.copy()) == regions


def test_bbox_is_half_open_and_tight(scene):
    mask, score = scene
    for region in find_regions(mask, score):
        row0, col0, row1, col1 = region.bbox
        # image[row0:row1, col0:col1] holds all the region's pixels ...
        assert mask[row0:row1, col0:col1].sum() == region.area
        # ... and every edge row and column of the box holds some of them.
        box = mask[row0:row1, col0:col1]
        assert box[0].any()
        assert box[-1].any()
        assert box[:, 0].any()
        assert box[:, -1].any()


def test_area_centroid_peak_mean(scene):
    mask, score = scene
    first, second, third = find_regions(mask, score)
    assert first.area == 14
    assert second.area == 24
    assert third.area == 20
    assert first.centroid == pytest.approx((6.0, 10.5))
    assert second.centroid == pytest.approx((4.0, 43.5))
    assert third.peak == pytest.approx(0.95)
    assert third.mean_score == pytest.approx((19 * 0.4 + 0.95) / 20)
    assert first.peak == pytest.approx(0.8)
    assert first.mean_score == pytest.approx(0.5)
    for region in (first, second, third):
        assert isinstance(region.area, int)
        assert all(isinstance(v, int) for v in region.bbox)
        assert isinstance(region.peak, float)


def test_eight_connectivity():
    mask = np.zeros((5, 5), bool)
    mask[1, 1] = mask[2, 2] = mask[3, 3] = True  # a diagonal: one region
    regions = find_regions(mask, mask.astype(np.float32))
    assert len(regions) == 1
    assert regions[0].bbox == (1, 1, 4, 4)
    assert regions[0].area == 3


def test_empty_mask_has_no_regions():
    assert find_regions(np.zeros((4, 4), bool), np.zeros((4, 4), np.float32)) == []


def test_region_is_frozen_and_json_ready(scene):
    region = find_regions(*scene)[0]
    with pytest.raises(AttributeError):
        region.area = 3
    data = json.loads(json.dumps(region.to_dict()))
    assert data["bbox"] == list(region.bbox)
    assert data["label"] == 1
    assert Region(**{**data, "bbox": tuple(data["bbox"]), "centroid": tuple(data["centroid"])})
