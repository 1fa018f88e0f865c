"""From a score map to a clean difference mask.

The automatic threshold is noise-adaptive: each difference component's noise
floor is estimated robustly (median + k * MAD over the compared pixels) and
the cut is placed above it, never below a fixed floor. Otsu's method, by
contrast, always splits the histogram in two, so on a pair with few
differences it turns noise into foreground.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage as ndi
from skimage import morphology
from skimage.filters import apply_hysteresis_threshold

from ._errors import ParameterError

__all__ = [
    "NoiseModel",
    "auto_min_area",
    "clean_mask",
    "combine_components",
    "estimate_noise",
    "ignore_mask",
    "refine_to_support",
    "threshold_mask",
]

# The cut sits this many robust standard deviations above the median.
_NOISE_SIGMAS = 8.0
# The cut never goes below these (per component, in score units) so that
# identical or near-identical images mark nothing.
_FLOORS = {"structure": 0.12, "color": 0.08, "absdiff": 0.08, "pixel": 0.1}
# (the pixel metric's cut is pixelmatch's default, 0.1, whatever the noise)
# ... and never above these, so that a pair that differs almost everywhere
# still gets its differences marked.
_CEILINGS = {"structure": 0.5, "color": 0.3, "absdiff": 0.5, "pixel": 0.1}
# Channel difference that counts as a changed pixel when regions are trimmed
# to their real extent: 16/255, above most JPEG noise (Resemble.js's default
# per-channel tolerance too).
_SUPPORT_LEVEL = 16 / 255
# Pieces of a trimmed region smaller than this are dropped as specks.
_SPECK_AREA = 6
# Pixels used for the robust statistics (a strided sample is as good as all).
_NOISE_SAMPLE = 500_000
# Hysteresis: pixels above this fraction of the threshold join a region that
# has at least one pixel above the threshold, so marks cover whole objects.
_HYSTERESIS_LOW = 0.5


class NoiseModel(dict):
    """Per-component cut levels (component name -> threshold in its own units)."""


def estimate_noise(components: Mapping[str, np.ndarray], valid: np.ndarray) -> NoiseModel:
    """Estimate each component's noise floor and the cut above it.

    Parameters
    ----------
    components : mapping of str -> ndarray of float32, shape (H, W)
    valid : ndarray of bool, shape (H, W)
        The pixels being compared.

    Returns
    -------
    NoiseModel
        Component name -> cut level: ``clip(median + k * 1.4826 * MAD, floor,
        ceiling)`` over the valid pixels.
    """
    index = np.flatnonzero(valid.ravel())
    if index.size > _NOISE_SAMPLE:
        index = index[:: index.size // _NOISE_SAMPLE]
    levels = NoiseModel()
    for name, values in components.items():
        sample = values.ravel()[index]
        if sample.size == 0:
            levels[name] = _FLOORS[name]
            continue
        median = float(np.median(sample))
        mad = float(np.median(np.abs(sample - median)))
        cut = median + _NOISE_SIGMAS * 1.4826 * mad
        levels[name] = float(np.clip(cut, _FLOORS[name], _CEILINGS[name]))
    return levels


def combine_components(components: Mapping[str, np.ndarray], levels: NoiseModel) -> np.ndarray:
    """Combine components into one score map in the first component's units.

    Each component is rescaled so that its own noise cut lands on the first
    component's cut; the score is the pixelwise maximum. Thresholding the
    result at the first cut is therefore the same as cutting each component
    at its own noise level and taking the union.
    """
    names = list(components)
    reference = levels[names[0]]
    score = components[names[0]].copy()
    for name in names[1:]:
        scaled = components[name] * np.float32(reference / levels[name])
        np.maximum(score, scaled, out=score)
    return np.clip(score, 0.0, 1.0, out=score)


def ignore_mask(ignore, shape: tuple[int, int]) -> np.ndarray:
    """Turn ``ignore`` (None, a bool mask, or rectangles) into a bool mask of `shape`."""
    mask = np.zeros(shape, bool)
    if ignore is None:
        return mask
    if isinstance(ignore, np.ndarray) and ignore.ndim == 2 and ignore.dtype == bool:
        if ignore.shape != shape:
            raise ParameterError(
                f"the ignore mask is {ignore.shape[1]}x{ignore.shape[0]} but the compared "
                f"images are {shape[1]}x{shape[0]} (width x height); pass a mask of that size."
            )
        return ignore.copy()
    for row0, col0, row1, col1 in ignore:
        mask[max(row0, 0) : max(row1, 0), max(col0, 0) : max(col1, 0)] = True
    return mask


def threshold_mask(score: np.ndarray, threshold: float, valid: np.ndarray) -> np.ndarray:
    """Mark pixels above `threshold`, grown by hysteresis to the whole object."""
    low = np.float32(threshold * _HYSTERESIS_LOW)
    candidate = apply_hysteresis_threshold(score, low, np.float32(threshold))
    return candidate & valid


def auto_min_area(shape: tuple[int, int]) -> int:
    """Default minimum region area: 16 px, growing with the image (1 px per 20,000)."""
    return max(16, int(shape[0] * shape[1] // 20_000))


def refine_to_support(
    labels: np.ndarray, a: np.ndarray, b: np.ndarray, *, level: float = _SUPPORT_LEVEL
) -> np.ndarray:
    """Trim each labelled region to the pixels that really changed.

    The score is computed over windows and on smoothed images, so a region
    comes out a few pixels larger than the change itself. Inside each region
    (and only there: the decision that something changed is already made),
    keep the pixels whose channel difference exceeds `level`, then close
    small gaps and fill holes so that
    an object stays one solid mark. A region with too few such pixels keeps
    its shape (a change of texture or contrast with no single strong pixel).
    Labels are kept, so a region that the trim splits is still one region.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Regions, 0 = background.
    a, b : ndarray of float32, shape (H, W, 3)
        The registered, exposure-matched images.
    level : float, optional
        Channel difference, in [0, 1], that counts as changed.

    Returns
    -------
    ndarray of int
        New labels, each region a subset of its old self.
    """
    out = np.zeros_like(labels)
    halo = 3
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        rows = slice(max(box[0].start - halo, 0), box[0].stop + halo)
        cols = slice(max(box[1].start - halo, 0), box[1].stop + halo)
        region = labels[rows, cols] == index
        changed = np.abs(a[rows, cols] - b[rows, cols]).max(axis=-1) > level
        support = changed & region
        if support.sum() >= 0.05 * region.sum():
            support = ndi.binary_closing(support, structure=morphology.disk(2), border_value=0)
            region = _drop_specks(ndi.binary_fill_holes(support) & region)
        out[rows, cols][region] = index
    return out


def _drop_specks(region: np.ndarray) -> np.ndarray:
    """Keep the body of a trimmed region: drop pieces of a few pixels beside it.

    Pixels of JPEG noise in a region's halo pass the support test alone;
    they are specks apart from the change itself.
    """
    pieces, count = ndi.label(region, structure=np.ones((3, 3), bool))
    if count < 2:
        return region
    areas = np.bincount(pieces.ravel())
    areas[0] = 0
    keep = areas >= min(_SPECK_AREA, areas.max())
    return keep[pieces]


def clean_mask(
    mask: np.ndarray,
    *,
    min_area: int,
    morphology_radius: int,
    fill_holes: bool,
    padding: int,
) -> np.ndarray:
    """Remove speckle, join fragments, drop small regions, fill holes, pad.

    Parameters
    ----------
    mask : ndarray of bool
        Thresholded mask; not modified.
    min_area : int
        Regions smaller than this many pixels are dropped.
    morphology_radius : int
        Radius of the opening (removes thin speckle such as JPEG ringing along
        edges) and of the closing (joins fragments of one object). 0 disables.
    fill_holes : bool
        Fill enclosed holes so that an object is marked as a whole.
    padding : int
        Grow the final marks by this many pixels.

    Returns
    -------
    ndarray of bool
    """
    out = mask.copy()
    if morphology_radius > 0:
        footprint = morphology.disk(morphology_radius)
        out = ndi.binary_opening(out, structure=footprint)
        out = ndi.binary_closing(out, structure=footprint, border_value=0)
    if min_area > 1:
        out = morphology.remove_small_objects(out, max_size=min_area - 1)
    if fill_holes:
        out = ndi.binary_fill_holes(out)
    if padding > 0:
        out = ndi.binary_dilation(out, structure=morphology.disk(padding))
    return out
