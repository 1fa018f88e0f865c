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
