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
    # One pass over the image keeps the marked pixels (in raster order); the
    # statistics are then bincounts over those alone: the same sums, in the
    # same order, as scipy.ndimage's sum_labels / mean / center_of_mass, at a
    # cost that grows with the marked area, not with the image.
    if boxes is None:
        rows, cols = np.nonzero(labels)
        marked = labels[rows, cols]
    else:
        # Each label's pixels from its own box, in raster order: for each
        # label the same pixels in the same order as the whole-image scan.
        parts = [
            (np.nonzero(labels[box] == label), box, label)
            for label, box in enumerate(boxes, start=1)
            if box is not None
        ]
        rows = np.concatenate([np.empty(0, np.intp)] + [r + b[0].start for (r, _), b, _ in parts])
        cols = np.concatenate([np.empty(0, np.intp)] + [c + b[1].start for (_, c), b, _ in parts])
        marked = np.concatenate(
            [np.empty(0, np.intp)] + [np.full(r.size, n, np.intp) for (r, _), _, n in parts]
        )
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
