"""The two usual recipes for "where do these images differ", reproduced faithfully.

Both take uint8 RGB arrays and return a boolean mask of the common top-left
area (users of these recipes crop differently sized images to it). No OpenCV
here: each OpenCV call of the recipe is replaced by its numpy / scikit-image
equivalent, with the same arithmetic.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.metrics import structural_similarity

__all__ = ["common_crop", "gray_cv2", "ssim_otsu", "subtract_otsu"]

_EIGHT = np.ones((3, 3), bool)


def gray_cv2(rgb: np.ndarray) -> np.ndarray:
    """``cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)`` on uint8: rounded BT.601 luma."""
    weights = np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(rgb[..., :3].astype(np.float64) @ weights), 0, 255).astype(np.uint8)


def common_crop(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop both images to their common top-left area."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return a[:h, :w], b[:h, :w]


def _otsu(image: np.ndarray) -> int:
    """``cv2.threshold(..., THRESH_OTSU)``'s cut; a constant image keeps its value."""
    if image.min() == image.max():
        return int(image.min())
    return int(threshold_otsu(image))


def subtract_otsu(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The question's recipe: grey, ``cv2.subtract(a, b)``, Otsu.

    ``cv2.subtract`` saturates on uint8, so only pixels where A is brighter
    than B survive (it is one-sided); ``THRESH_BINARY | THRESH_OTSU`` marks
    values above the cut.
    """
    a, b = common_crop(a, b)
    ga, gb = gray_cv2(a), gray_cv2(b)
    diff = np.clip(ga.astype(np.int16) - gb, 0, 255).astype(np.uint8)
    return diff > _otsu(diff)


def ssim_otsu(a: np.ndarray, b: np.ndarray, min_area: int = 40) -> np.ndarray:
    """The common answer: grey SSIM map, Otsu, external contours with area > 40, filled.

    As in the answer::

        score, diff = structural_similarity(before_gray, after_gray, full=True)
        diff = (diff * 255).astype("uint8")
        thresh = cv2.threshold(diff, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]
        contours = cv2.findContours(thresh, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            if cv2.contourArea(c) > 40:
                cv2.drawContours(mask, [c], 0, 255, -1)

    SSIM below 0 (strong changes) wraps around in the uint8 cast exactly as
    it does in the answer (numpy's float -> uint8 cast on x86: -0.3 -> 180),
    so those pixels land on the "same" side of the cut. Contours become
    8-connected components; a filled contour's area is its component with
    holes filled (``contourArea`` is slightly smaller: the polygon runs
    through the boundary pixel centres).
    """
    a, b = common_crop(a, b)
    ga, gb = gray_cv2(a), gray_cv2(b)
    _, s = structural_similarity(ga, gb, full=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the negative-value cast
        diff = (s * 255).astype("uint8")
    thresh = diff <= _otsu(diff)  # THRESH_BINARY_INV: dst = 0 if src > t else 255
    # RETR_EXTERNAL + drawContours(-1): each outer 8-connected component with
    # everything it encloses. Filling all holes first (background is
    # 4-connected, the dual of 8-connected foreground) gives exactly those.
    filled = ndi.binary_fill_holes(thresh)
    labels, _ = ndi.label(filled, structure=_EIGHT)
    areas = np.bincount(labels.ravel())
    keep = areas > min_area
    keep[0] = False
    return keep[labels]
