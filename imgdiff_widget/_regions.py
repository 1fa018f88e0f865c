"""Connected difference regions."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["Region", "find_regions"]


@dataclass(frozen=True)
class Region:
    """One connected difference.

    Attributes
    ----------
    label : int
        1-based number, in reading order (top to bottom, then left to right).
    bbox : tuple of int
        ``(row0, col0, row1, col1)``, half-open, as ``image[row0:row1, col0:col1]``.
    area : int
        Number of marked pixels.
    centroid : tuple of float
        ``(row, col)`` centre of mass of the marked pixels.
    peak : float
        Highest score inside the region.
    mean_score : float
        Mean score over the region's pixels.
    """

    label: int
    bbox: tuple[int, int, int, int]
    area: int
    centroid: tuple[float, float]
    peak: float
    mean_score: float

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return asdict(self)


def find_regions(mask: np.ndarray, score: np.ndarray) -> list[Region]:
    """Describe each region of a mask or label image.

    Parameters
    ----------
    mask : ndarray of bool or int, shape (H, W)
        A bool mask (its 8-connected components are the regions) or a label
        image (each positive label is one region, connected or not).
    score : ndarray of float32, shape (H, W)

    Returns
    -------
    list of Region
        In reading order of their top-left corner; labels follow that order.
    """
    if mask.dtype == bool:
        labels, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
    else:
        labels = mask
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
        found.append((bbox, int(areas[i]), centroids[i], float(peaks[i]), float(means[i])))
    found.sort(key=lambda item: (item[0][0], item[0][1], item[0][2], item[0][3]))
    return [
        Region(
            label=number,
            bbox=tuple(int(v) for v in bbox),
            area=area,
            centroid=(float(centroid[0]), float(centroid[1])),
            peak=peak,
            mean_score=mean,
        )
        for number, (bbox, area, centroid, peak, mean) in enumerate(found, start=1)
    ]
