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


def find_regions(
    mask: np.ndarray, score: np.ndarray, *, boxes: list | None = None
) -> list[Region]:
    """Describe each region of a mask or label image.

    Parameters
    ----------
    mask : ndarray of bool or int, shape (H, W)
        A bool mask (its 8-connected components are the regions) or a label
        image (each positive label is one region, connected or not).
    score : ndarray of float32, shape (H, W)
    boxes : list of tuple of slice, optional
        For a label image: a box holding each label's pixels (entry ``i`` for
        label ``i + 1``; None for an absent label), e.g. from
        ``ndi.find_objects``. Only those boxes are then read.

    Returns
    -------
    list of Region
        In reading order of their top-left corner; labels follow that order.
    """
    if mask.dtype == bool:
        labels, _ = ndi.label(mask, structure=np.ones((3, 3), bool))
    else:
        labels = mask
    if boxes is not None:
        found = _box_statistics(labels, score, boxes)
    else:
        found = _image_statistics(labels, score)
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


def _box_statistics(labels: np.ndarray, score: np.ndarray, boxes: list) -> list[tuple]:
    """Each label's statistics read from its own box alone.

    The same numbers as :func:`_image_statistics`: the area and the row and
    column sums are integers (exact in any order), the bounding box comes
    from the rows and columns holding a pixel, and the score sum is
    accumulated in float64 one pixel at a time in raster order, as
    ``np.bincount`` accumulates it.
    """
    todo = [(label, box) for label, box in enumerate(boxes, start=1) if box is not None]

    def describe(item):
        label, box = item
        region = labels[box] == label
        row_counts = np.count_nonzero(region, axis=1)
        area = int(row_counts.sum())
        if area == 0:
            return None
        col_counts = np.count_nonzero(region, axis=0)
        row0, col0 = box[0].start, box[1].start
        rows = np.flatnonzero(row_counts)
        cols = np.flatnonzero(col_counts)
        bbox = (
            row0 + int(rows[0]),
            col0 + int(cols[0]),
            row0 + int(rows[-1]) + 1,
            col0 + int(cols[-1]) + 1,
        )
        row_sum = int(row_counts @ np.arange(row0, row0 + row_counts.size, dtype=np.int64))
        col_sum = int(col_counts @ np.arange(col0, col0 + col_counts.size, dtype=np.int64))
        values = score[box][region]
        total = np.cumsum(values, dtype=np.float64)[-1]  # sequential, as bincount adds
        centroid = (row_sum / area, col_sum / area)
        return bbox, area, centroid, float(values.max()), float(total / area)

    # On this thread: each region is a dozen short numpy calls, and threads
    # only contend for the GIL between them (two took 1.1-1.8x as long on
    # the 37 MP screenshot pair's 66 and 338 regions).
    found = (describe(item) for item in todo)
    return [item for item in found if item is not None]


def _image_statistics(labels: np.ndarray, score: np.ndarray) -> list[tuple]:
    """Each label's statistics from one pass over the whole label image."""
    # One pass over the image keeps the marked pixels (in raster order); the
    # statistics are then bincounts over those alone: the same sums, in the
    # same order, as scipy.ndimage's sum_labels / mean / center_of_mass.
    rows, cols = np.nonzero(labels)
    marked = labels[rows, cols]
    if rows.size == 0:
        return []
    size = int(marked.max()) + 1
    counts = np.bincount(marked, minlength=size)
    index = np.flatnonzero(counts)
    areas = counts[index]
    values = score[rows, cols]
    means = np.bincount(marked, weights=values, minlength=size)[index] / areas
    row_sums = np.bincount(marked, weights=rows.astype(float), minlength=size)[index]
    col_sums = np.bincount(marked, weights=cols.astype(float), minlength=size)[index]
    extremes = {}
    for name, ufunc, start, data in (
        ("peak", np.maximum, -np.inf, values),
        ("row0", np.minimum, labels.shape[0], rows),
        ("col0", np.minimum, labels.shape[1], cols),
        ("row1", np.maximum, -1, rows),
        ("col1", np.maximum, -1, cols),
    ):
        acc = np.full(size, start, data.dtype)
        ufunc.at(acc, marked, data)
        extremes[name] = acc[index]
    found = []
    for i in range(index.size):
        bbox = (
            int(extremes["row0"][i]),
            int(extremes["col0"][i]),
            int(extremes["row1"][i]) + 1,
            int(extremes["col1"][i]) + 1,
        )
        centroid = (float(row_sums[i] / areas[i]), float(col_sums[i] / areas[i]))
        found.append((bbox, int(areas[i]), centroid, float(extremes["peak"][i]), float(means[i])))
    return found
