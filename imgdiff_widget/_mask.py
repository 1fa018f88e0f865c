"""From a score map to a clean difference mask.

The automatic threshold is noise-adaptive: each difference component's noise
floor is estimated robustly (median + k * MAD over the compared pixels) and
the cut is placed above it, never below a fixed floor. Otsu's method, by
contrast, always splits the histogram in two, so on a pair with few
differences it turns noise into foreground.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
from scipy import ndimage as ndi
from skimage import morphology

from ._errors import ParameterError
from ._metrics import max_channel_difference
from ._parallel import map_strips, map_tasks

__all__ = [
    "NoiseModel",
    "SupportMap",
    "auto_min_area",
    "cell_maxima",
    "clean_labels",
    "clean_mask",
    "combine_components",
    "cut_on_cells",
    "estimate_noise",
    "group_marks",
    "ignore_mask",
    "refine_to_support",
    "threshold_mask",
    "threshold_with_cells",
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
# When regions are trimmed to their real extent, a pixel counts as changed
# when the largest channel difference, averaged over its 3x3 neighbourhood,
# exceeds 10/255. The average takes JPEG's and the sensor's pixel-level noise
# down about threefold, so the level can sit below the 16/255 a single pixel
# needs (Resemble.js's per-channel tolerance) and still keep a pasted texture
# or a dark moved object, whose pixels differ by 8-16/255, whole. The pixel
# itself must differ visibly too (by 8/255, 0.8 of the level), so that the
# mean does not spread a sharp change onto its unchanged neighbours.
_SUPPORT_LEVEL = 10 / 255
# A region trimmed to a speck (< _SPECK_AREA px) stays when a pixel of it
# changed by this much at least (or scored above the cut itself).
_SPECK_CLEAR = 3 * _SUPPORT_LEVEL
_SUPPORT_OWN = 0.8
_SUPPORT_WINDOW = 3
_SUPPORT_WEIGHTS = np.full((_SUPPORT_WINDOW,) * 2, 1 / _SUPPORT_WINDOW**2, np.float32)
# Pieces of a trimmed region smaller than this, or than this fraction of its
# largest piece, are dropped as specks.
_SPECK_AREA = 6
_SPECK_FRACTION = 1 / 20
# Pixels used for the robust statistics (a strided sample is as good as all).
_NOISE_SAMPLE = 500_000
# When more than this fraction of the sample lies above the cut, the cut is
# estimated again on the rest (at most this many times).
_NOISE_CONTAMINATED = 0.1
_NOISE_REESTIMATES = 3
# Hysteresis: pixels above this fraction of the threshold join a region that
# has at least one pixel above the threshold, so marks cover whole objects.
_HYSTERESIS_LOW = 0.5
# clean_mask groups marks on a grid of cells this size (pixels).
_GROUP_CELL = 16
# The closing that makes a trimmed region one solid mark.
_DISK_2 = morphology.disk(2).astype(bool)
# Connectivities for ndi.label, made once (it would build the 4-connected one per call).
_FOUR = ndi.generate_binary_structure(2, 1)
_EIGHT = np.ones((3, 3), bool)
_FOUR.flags.writeable = _EIGHT.flags.writeable = False


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
    if valid.all():  # the same sample, without an 8-byte index of every pixel
        step = valid.size // _NOISE_SAMPLE if valid.size > _NOISE_SAMPLE else 1
        index = np.arange(0, valid.size, step)
    else:
        index = np.flatnonzero(valid.ravel())
        if index.size > _NOISE_SAMPLE:
            index = index[:: index.size // _NOISE_SAMPLE]
    levels = NoiseModel()
    for name, values in components.items():
        sample = values.ravel()[index]
        if sample.size == 0:
            levels[name] = _FLOORS[name]
            continue
        cut = _noise_cut(sample)
        for _ in range(_NOISE_REESTIMATES):
            # A large real change (a third of the picture, say) lifts the
            # median and the MAD with it, and so the cut, until smaller
            # changes elsewhere fall under it: while the cut is beyond the
            # ceiling, or many pixels lie above it, estimate it again on the
            # pixels under it, which look like noise.
            limit = min(cut, _CEILINGS[name])
            below = sample[sample <= limit]
            if cut <= _CEILINGS[name] and below.size > (1 - _NOISE_CONTAMINATED) * sample.size:
                break
            if below.size == 0:
                break
            cut = _noise_cut(below)
        levels[name] = float(np.clip(cut, _FLOORS[name], _CEILINGS[name]))
    return levels


def _noise_cut(sample: np.ndarray) -> float:
    """``median + k * 1.4826 * MAD`` of a sample."""
    median = float(np.median(sample))
    mad = float(np.median(np.abs(sample - median)))
    return median + _NOISE_SIGMAS * 1.4826 * mad


def combine_components(components: Mapping[str, np.ndarray], levels: NoiseModel) -> np.ndarray:
    """Combine components into one score map in the first component's units.

    Each component is rescaled so that its own noise cut lands on the first
    component's cut; the score is the pixelwise maximum. Thresholding the
    result at the first cut is therefore the same as cutting each component
    at its own noise level and taking the union.
    """
    names = list(components)
    reference = levels[names[0]]
    first = components[names[0]]
    score = np.empty_like(first)
    factors = [np.float32(reference / levels[name]) for name in names[1:]]

    def strip(rows: slice) -> None:
        # Element-wise, so row strips on all cores give the same values.
        out = score[rows]
        np.copyto(out, first[rows])
        for name, factor in zip(names[1:], factors, strict=True):
            np.maximum(out, components[name][rows] * factor, out=out)
        np.clip(out, 0.0, 1.0, out=out)

    map_strips(strip, score.shape[0], score[0].nbytes)
    return score


def ignore_mask(
    ignore, shape: tuple[int, int], a_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Turn ``ignore`` (None, a bool mask, or rectangles) into a bool mask of `shape`.

    A mask may be of the compared frame's `shape` or of image A's own
    `a_shape`: A sits at the frame's top left (a size policy crops or pads
    around it), and so does its mask.
    """
    mask = np.zeros(shape, bool)
    if ignore is None:
        return mask
    if isinstance(ignore, np.ndarray) and ignore.ndim == 2 and ignore.dtype == bool:
        if ignore.shape == tuple(shape):
            return ignore.copy()
        if a_shape is not None and ignore.shape == tuple(a_shape):
            h, w = min(shape[0], a_shape[0]), min(shape[1], a_shape[1])
            mask[:h, :w] = ignore[:h, :w]
            return mask
        a_h, a_w = shape if a_shape is None else a_shape
        where = f"image A is {a_w}x{a_h}"
        if (a_h, a_w) != tuple(shape):
            where += f" (compared as {shape[1]}x{shape[0]})"
        raise ParameterError(
            f"the ignore mask is {ignore.shape[1]}x{ignore.shape[0]} but {where} (width x "
            "height); pass a mask of image A's size."
        )
    for row0, col0, row1, col1 in ignore:
        mask[max(row0, 0) : max(row1, 0), max(col0, 0) : max(col1, 0)] = True
    return mask


def threshold_mask(score: np.ndarray, threshold: float, valid: np.ndarray) -> np.ndarray:
    """Mark pixels above `threshold`, grown by hysteresis to the whole object."""
    return threshold_with_cells(score, threshold, valid)[0]


def threshold_with_cells(
    score: np.ndarray, threshold: float, valid: np.ndarray, *, cell_max: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`threshold_mask`, and which cells of :func:`cell_maxima`'s grid hold a marked pixel.

    The mask is exactly ``apply_hysteresis_threshold(score, low, threshold) &
    valid`` (``low = threshold / 2``), with both cuts taken in float32, the
    score map's precision. The cells (bool, one per
    :data:`_GROUP_CELL`-px cell) tell :func:`clean_labels` where the marks
    are.

    Parameters
    ----------
    score : ndarray of float32, shape (H, W)
    threshold : float
    valid : ndarray of bool, shape (H, W)
    cell_max : ndarray, optional
        ``cell_maxima(score)``. With it, only the cells holding a pixel above
        the low cut are read, so a new threshold costs in proportion to the
        area near it, not to the image.
    """
    high = np.float32(threshold)
    low = min(np.float32(threshold * _HYSTERESIS_LOW), high)
    if cell_max is None:
        return _hysteresis(score, low, high, valid)
    mask = np.zeros(score.shape, bool)  # pages never written stay untouched
    cells = np.zeros(cell_max.shape, bool)
    # A 4-connected run of pixels above `low` crosses 4-adjacent cells, all
    # with a maximum above `low`: each 4-connected group of such cells holds
    # whole components, and no pixel of another group touches them.
    groups = list(_cell_groups(cell_max > low, score.shape, _GROUP_CELL))

    def threshold_group(group):
        crop, own = group
        return _hysteresis(score[crop], low, high, valid[crop], own)

    sizes = [own.size for _, own in groups]
    for (crop, _), (part, more) in zip(
        groups, map_tasks(threshold_group, groups, sizes), strict=True
    ):
        mask[crop] |= part
        row0, col0 = crop[0].start // _GROUP_CELL, crop[1].start // _GROUP_CELL
        cells[row0 : row0 + more.shape[0], col0 : col0 + more.shape[1]] |= more
    return mask, cells


def cut_on_cells(
    values: np.ndarray, cut: float, where: np.ndarray, cell_max: np.ndarray
) -> np.ndarray:
    """``(values > cut) & where``, read only on the cells whose maximum is above `cut`.

    `cell_max` is ``cell_maxima(values)`` (or any upper bound per cell of the
    values that can pass): a cell whose maximum is not above the cut holds
    no pixel above it, so a new cut costs in proportion to the area near it.
    """
    out = np.zeros(values.shape, bool)  # pages never written stay untouched
    groups, _ = ndi.label(cell_max > cut, structure=_EIGHT)
    cell = _GROUP_CELL
    for rows, cols in ndi.find_objects(groups):
        crop = (
            slice(rows.start * cell, rows.stop * cell),
            slice(cols.start * cell, cols.stop * cell),
        )
        np.logical_and(values[crop] > cut, where[crop], out=out[crop])
    return out


def _occupied(mask: np.ndarray) -> np.ndarray:
    """Which :data:`_GROUP_CELL`-px cells of `mask` hold a True pixel."""
    cell = _GROUP_CELL
    rows, cols = np.arange(0, mask.shape[0], cell), np.arange(0, mask.shape[1], cell)
    if rows.size == 0 or cols.size == 0:
        return np.zeros((rows.size, cols.size), bool)
    return np.logical_or.reduceat(np.logical_or.reduceat(mask, rows, axis=0), cols, axis=1)


def _hysteresis(score, low, high, valid, own=None):
    """Hysteresis on one array (or on one group's crop, limited to `own`).

    Returns the mask and which :data:`_GROUP_CELL`-px cells of the array hold
    a marked pixel (a crop starts on a cell boundary).
    """
    above = score > low
    if own is not None:
        above &= own
    labels, count = ndi.label(above, structure=_FOUR)
    # A component is kept when any of its pixels is above the high cut.
    connected = np.zeros(count + 1, bool)
    connected[labels[score > high]] = True
    if own is not None:
        connected[0] = False  # another group's pixels in the crop
    if connected[1:].all():  # every component kept: no look-up needed
        mask = above & valid
    else:
        # (np.take: a table look-up by a label image, ~1.7x faster than indexing)
        mask = np.take(connected, labels)
        mask &= valid
    return mask, _occupied(mask)


def cell_maxima(score: np.ndarray) -> np.ndarray:
    """The maximum of `score`, NaN left out, over each cell of threshold_with_cells's grid."""
    cell = _GROUP_CELL
    rows = np.arange(0, score.shape[0], cell)
    cols = np.arange(0, score.shape[1], cell)
    if rows.size == 0 or cols.size == 0:
        return np.zeros((rows.size, cols.size), score.dtype)
    out = np.empty((rows.size, cols.size), score.dtype)

    def strip(cells: slice) -> None:
        part = score[cells.start * cell : cells.stop * cell]
        starts = np.arange(0, part.shape[0], cell)
        block = np.maximum.reduceat(np.maximum.reduceat(part, starts, axis=0), cols, axis=1)
        if np.isnan(block).any():
            # A NaN pixel passes no cut: the cell's maximum is its other
            # pixels' (np.fmax is slower, so only where needed).
            block = np.fmax.reduceat(np.fmax.reduceat(part, starts, axis=0), cols, axis=1)
        out[cells] = block

    map_strips(strip, rows.size, cell * score[0].nbytes)
    return out


def auto_min_area(shape: tuple[int, int]) -> int:
    """Default minimum region area: 16 px, growing with the image (1 px per 20,000)."""
    return max(16, int(shape[0] * shape[1] // 20_000))


class SupportMap:
    """Which pixels really changed (a local channel difference above `level`), found on demand.

    ``support[rows, cols]`` is, over that crop, the pixels where the 3x3
    mean (``mode="nearest"``) of ``np.abs(a - b).max(axis=-1)`` is above
    `level` and the pixel's own value above 0.8 of it, computed
    tile by tile the first time a tile is read and kept:
    a threshold or min_area change re-reads the tiles of its regions without
    recomputing them. `b` may be given as a function of the crops of A and B
    (e.g. :func:`imgdiff_widget._metrics.apply_exposure`), so that the
    adjusted B is never stored whole. The map also keeps each trimmed region
    (:func:`refine_to_support`), keyed by its crop and pixels.

    Parameters
    ----------
    a, b : ndarray of float32, shape (H, W, 3)
    level : float, optional
    transform : callable, optional
        ``transform(a_crop, b_crop)`` -> the B to compare on that crop.
    """

    _TILE = 64
    # Trimmed regions kept, in bytes of their keys and values.
    _KEEP_BYTES = 64 << 20

    def __init__(self, a, b, level: float = _SUPPORT_LEVEL, transform=None) -> None:
        self._a, self._b, self._level, self._transform = a, b, level, transform
        h, w = a.shape[:2]
        self.shape = (h, w)
        self._changed = np.zeros((h, w), bool)  # pages never written stay untouched
        self._done = np.zeros((-(-h // self._TILE), -(-w // self._TILE)), bool)
        self.trimmed: dict = {}
        self._trimmed_bytes = 0

    def __getitem__(self, box: tuple[slice, slice]) -> np.ndarray:
        self.prepare([box])
        rows, cols = (slice(*s.indices(n)[:2]) for s, n in zip(box, self.shape, strict=True))
        return self._changed[rows, cols]

    def prepare(self, boxes) -> None:
        """Find the tiles under `boxes` (pairs of slices) not found yet, on all cores.

        Reading the boxes afterwards costs a slice each: the first reading of
        many regions' crops finds their tiles side by side instead of one
        crop after the other.
        """
        tile = self._TILE
        needed = np.zeros(self._done.shape, bool)
        for box in boxes:
            rows, cols = (slice(*s.indices(n)[:2]) for s, n in zip(box, self.shape, strict=True))
            needed[
                rows.start // tile : -(-rows.stop // tile),
                cols.start // tile : -(-cols.stop // tile),
            ] = True
        needed &= ~self._done
        rectangles = []
        for i in np.flatnonzero(needed.any(axis=1)):
            # One rectangle per run of missing tiles in this row of tiles.
            missing = np.flatnonzero(needed[i])
            rows = slice(i * tile, min((i + 1) * tile, self.shape[0]))
            for run in np.split(missing, np.flatnonzero(np.diff(missing) > 1) + 1):
                cols = slice(run[0] * tile, min((run[-1] + 1) * tile, self.shape[1]))
                rectangles.append((rows, cols))

        def find(rectangle):
            # Rectangles do not overlap: each thread writes its own pixels.
            self._changed[rectangle] = self._find(*rectangle)

        sizes = [(r.stop - r.start) * (c.stop - c.start) for r, c in rectangles]
        map_tasks(find, rectangles, sizes)
        self._done |= needed

    def difference(self, box: tuple[slice, slice]) -> np.ndarray:
        """``np.abs(a - b).max(axis=-1)`` on a crop (B adjusted as the support sees it)."""
        a, b = self._a[box], self._b[box]
        if self._transform is not None:
            b = self._transform(a, b)
        return max_channel_difference(a, b)

    def _find(self, rows: slice, cols: slice) -> np.ndarray:
        """The support on one rectangle, read with the margin the local mean needs."""
        h, w = self.shape
        m = _SUPPORT_WINDOW // 2
        r0, r1 = max(rows.start - m, 0), min(rows.stop + m, h)
        c0, c1 = max(cols.start - m, 0), min(cols.stop + m, w)
        a, b = self._a[r0:r1, c0:c1], self._b[r0:r1, c0:c1]
        if self._transform is not None:
            b = self._transform(a, b)
        diff = max_channel_difference(a, b)
        # A direct weighted sum per pixel (not uniform_filter's running sum,
        # whose rounding depends on where the line starts), so that with the
        # margin a crop gets exactly the whole image's values.
        local = ndi.correlate(diff, _SUPPORT_WEIGHTS, mode="nearest")
        inner = (slice(rows.start - r0, rows.stop - r0), slice(cols.start - c0, cols.stop - c0))
        return (local[inner] > self._level) & (diff[inner] > _SUPPORT_OWN * self._level)

    def keep(self, key, value) -> None:
        """Remember a trimmed region (forgetting all when they take too much memory).

        `value` is an array or a tuple of arrays (or None); `key` ends with bytes.
        """
        parts = value if isinstance(value, tuple) else (value,)
        size = len(key[-1]) + sum(part.nbytes for part in parts if part is not None)
        if self._trimmed_bytes + size > self._KEEP_BYTES:
            self.trimmed.clear()
            self._trimmed_bytes = 0
        self.trimmed[key] = value
        self._trimmed_bytes += size


def refine_to_support(
    labels: np.ndarray,
    a: np.ndarray | None,
    b: np.ndarray | None,
    *,
    level: float = _SUPPORT_LEVEL,
    boxes: list | None = None,
    support: SupportMap | None = None,
    overwrite: bool = False,
    marked: np.ndarray | None = None,
    keep_speck: Callable[[tuple[slice, slice], np.ndarray], bool] | None = None,
) -> np.ndarray:
    """Trim each labelled region to the pixels that really changed.

    The score is computed over windows and on smoothed images, so a region
    comes out a few pixels larger than the change itself. Inside each region
    (and only there: the decision that something changed is already made),
    keep the pixels that changed (:class:`SupportMap`: the 3x3 mean of the
    largest channel difference above `level`, the pixel's own above 0.8 of
    it), then close small gaps and fill holes so that an object stays one
    solid mark. A region with too few such pixels keeps
    its shape (a change of texture or contrast with no single strong pixel).
    Labels are kept, so a region that the trim splits is still one region.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Regions, 0 = background.
    a, b : ndarray of float32, shape (H, W, 3)
        The registered, exposure-matched images (unused when `support` is given).
    level : float, optional
        Local channel difference, in [0, 1], that counts as changed.
    boxes : list of tuple of slice, optional
        ``ndi.find_objects(labels)``, when the caller has it.
    support : SupportMap, optional
        The changed pixels of A and B, kept between calls: a later call
        reads what an earlier one computed, and a region met before (same
        crop, same pixels) is not trimmed again.
    overwrite : bool, optional
        Trim `labels` in place (and return it) instead of making new labels.
    marked : ndarray of bool, shape (H, W), optional
        Set True where a trimmed region lies: the new labels' ``> 0``, made
        from the trims in hand instead of read back from the labels (all
        False outside the regions' boxes to start with).
    keep_speck : callable, optional
        ``keep_speck(crop, trimmed)``: whether a region trimmed to fewer than
        :data:`_SPECK_AREA` pixels stays (e.g. only when one of them passed
        the threshold itself); without it, it stays.

    Returns
    -------
    ndarray of int
        New labels, each region a subset of its old self.
    """
    # (New labels from lazy zeros: pages never written stay untouched.)
    out = labels if overwrite else np.zeros(labels.shape, labels.dtype)

    def write(index, crop, region, trimmed):
        if (
            keep_speck is not None
            and np.count_nonzero(trimmed) < _SPECK_AREA
            and not keep_speck(crop, trimmed)
        ):
            trimmed = np.zeros_like(trimmed)
        if overwrite:
            np.copyto(out[crop], 0, where=region & ~trimmed)
        else:
            np.copyto(out[crop], index, where=trimmed)
        if marked is not None:
            marked[crop] |= trimmed

    halo = 3
    if boxes is None:
        boxes = ndi.find_objects(labels)
    if support is None:
        support = SupportMap(a, b, level)
    elif support._level != level:
        raise ValueError("the support map was made for another level")
    todo = []  # (label, crop, its pixels, cache key) of regions to trim
    for index, box in enumerate(boxes, start=1):
        if box is None:
            continue
        rows = slice(max(box[0].start - halo, 0), box[0].stop + halo)
        cols = slice(max(box[1].start - halo, 0), box[1].stop + halo)
        region = labels[rows, cols] == index
        key = (rows.start, rows.stop, cols.start, cols.stop, region.tobytes())
        trimmed = support.trimmed.get(key)
        if trimmed is None:
            todo.append((index, (rows, cols), region, key))
        else:
            write(index, (rows, cols), region, trimmed)
    # The support is found here (the trims below only read it).
    support.prepare([task[1] for task in todo])
    todo = [(*task, support[task[1]]) for task in todo]

    def trim(task):
        _, crop, region, _, changed = task
        support_here = changed & region
        if np.count_nonzero(support_here) < 0.05 * np.count_nonzero(region):
            return region, None
        return _trim_to_support(support_here, region, crop, support.trimmed)

    sizes = [task[2].size for task in todo]
    for (index, crop, region, key, _), (trimmed, solid) in zip(
        todo, map_tasks(trim, todo, sizes), strict=True
    ):
        support.keep(key, trimmed)
        if solid is not None:
            support.keep(*solid)
        write(index, crop, region, trimmed)
    return out


def _trim_to_support(support_here, region, crop, kept):
    """``_drop_specks(_fill_holes(_closing(support_here, disk(2))) & region)``, on a crop.

    The closing reaches 2 px beyond the support and the crop holds it with a
    3 px halo (or reaches the image edge), so the closed and filled support
    is the same found on the support's box grown by 2 px alone: that
    window's solid support depends only on the support's pixels, and is
    looked up in `kept` by them. A region that grew or shrank where nothing
    really changed (a new threshold moves a region's edge through its halo)
    has the same support, and when the solid support lies inside the region
    the trim is the solid support's, kept with it.

    Returns the trimmed region (the crop's shape) and, when the solid support
    was found here, ``(key, value)`` for `kept` (else None).
    """
    rows = np.flatnonzero(support_here.any(axis=1))
    cols = np.flatnonzero(support_here.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    h, w = support_here.shape
    window = (slice(max(r0 - 2, 0), min(r1 + 2, h)), slice(max(c0 - 2, 0), min(c1 + 2, w)))
    key = (
        "solid support",
        crop[0].start + r0,
        crop[1].start + c0,
        r1 - r0,
        support_here[r0:r1, c0:c1].tobytes(),
    )
    found = kept.get(key)
    if found is None:
        solid, solid_trimmed = _fill_holes(_closing(support_here[window], _DISK_2)), None
    else:
        solid, solid_trimmed = found
    inside = region[window]
    if np.any(solid & ~inside):
        piece = _drop_specks(solid & inside)
    else:
        if solid_trimmed is None:
            solid_trimmed = _drop_specks(solid)
        piece = solid_trimmed
    unchanged = found is not None and found[1] is solid_trimmed
    new = None if unchanged else (key, (solid, solid_trimmed))
    trimmed = np.zeros(region.shape, bool)
    trimmed[window] = piece
    return trimmed, new


def _row_runs(footprint: np.ndarray) -> list[tuple[int, int]] | None:
    """``(row offset, half-width)`` of each non-empty row of a footprint.

    None unless every row is a run of True centred on the middle column and
    the footprint is symmetric with odd sides (a disk, a square, a cross).
    """
    footprint = np.asarray(footprint, bool)
    if footprint.ndim != 2:
        return None
    return _runs_of(footprint.shape, footprint.tobytes())


@functools.lru_cache(maxsize=32)
def _runs_of(shape: tuple[int, int], data: bytes) -> list[tuple[int, int]] | None:
    """:func:`_row_runs` of the footprint of that shape and bytes, found once."""
    footprint = np.frombuffer(data, bool).reshape(shape)
    if footprint.ndim != 2 or footprint.shape[0] % 2 == 0 or footprint.shape[1] % 2 == 0:
        return None
    r, s = footprint.shape[0] // 2, footprint.shape[1] // 2
    runs = []
    for i, row in enumerate(footprint):
        width = int(np.count_nonzero(row)) // 2
        if not row.any():
            continue
        if np.count_nonzero(row) % 2 == 0 or not row[s - width : s + width + 1].all():
            return None
        runs.append((i - r, width))
    if not runs or runs != [(-d, w) for d, w in reversed(runs)]:
        return None
    return tuple(runs)


def _morph(mask: np.ndarray, runs: list[tuple[int, int]], erode: bool) -> np.ndarray:
    """Binary erosion or dilation by a footprint of centred row runs, 0 outside the array.

    A row of half-width ``w`` is met by ``w`` steps that each combine two
    copies of the previous step shifted by one column either way (the
    first step also the mask itself), then the rows are combined shifted
    by their offsets: a few whole-array logical operations instead of
    scipy.ndimage's per-pixel walk over the footprint. Same pixels as
    ``ndi.binary_erosion`` / ``ndi.binary_dilation`` with that footprint and
    ``border_value=0``.
    """
    op = np.logical_and if erode else np.logical_or
    h, w = mask.shape
    steps = [mask]
    padded = np.zeros((h, w + 2), bool)
    for k in range(1, max(width for _, width in runs) + 1):
        padded[:, 1:-1] = steps[-1]
        step = op(padded[:, :-2], padded[:, 2:])
        if k == 1 or w == 1:
            # Each copy shifted either way covers the unshifted one, except
            # at step 1 and in a one-column array (both copies lie outside).
            op(step, steps[-1], out=step)
        steps.append(step)
    out = np.full(mask.shape, erode) if erode else np.zeros(mask.shape, bool)
    for offset, width in runs:
        src = steps[width]
        if abs(offset) >= h:
            if erode:
                out[...] = False
            continue
        if offset >= 0:
            op(out[: h - offset], src[offset:], out=out[: h - offset])
            if erode and offset:
                out[h - offset :] = False
        else:
            op(out[-offset:], src[: h + offset], out=out[-offset:])
            if erode:
                out[:-offset] = False
    return out


@functools.lru_cache(maxsize=16)
def _disk(radius: int) -> np.ndarray:
    """``morphology.disk(radius)`` as bool, made once per radius (read-only)."""
    disk = morphology.disk(radius).astype(bool)
    disk.flags.writeable = False
    return disk


def _opening(mask: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """``ndi.binary_opening(mask, structure=footprint)``, by whole-array operations."""
    runs = _row_runs(footprint)
    mask = np.asarray(mask, bool)
    if runs is None or mask.ndim != 2 or mask.size == 0:
        return ndi.binary_opening(mask, structure=footprint)
    return _morph(_morph(mask, runs, erode=True), runs, erode=False)


def _closing(mask: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Binary closing with the image on a plane of zeros: it never removes a pixel.

    ``ndi.binary_closing(mask, structure=footprint, border_value=0)`` erodes
    from outside the array: it would take up to the footprint's radius off
    every mark that touches the image's edge. Here the dilation may reach
    past the edge (a zero padding of that radius holds it), so the erosion
    gives back exactly the pixels it grew, at the edge too. On a crop whose
    edges lie farther than the radius from every mark it is the closing of
    the whole image.
    """
    mask = np.asarray(mask, bool)
    if mask.ndim != 2 or mask.size == 0:
        return ndi.binary_closing(mask, structure=footprint, border_value=0)
    pad = (footprint.shape[0] // 2, footprint.shape[1] // 2)
    padded = np.pad(mask, ((pad[0], pad[0]), (pad[1], pad[1])))
    runs = _row_runs(footprint)
    if runs is None:
        closed = ndi.binary_closing(padded, structure=footprint, border_value=0)
    else:
        closed = _morph(_morph(padded, runs, erode=False), runs, erode=True)
    return closed[pad[0] : pad[0] + mask.shape[0], pad[1] : pad[1] + mask.shape[1]]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``ndi.binary_fill_holes(mask)``: one labelling of the background, not a propagation.

    A hole is a 4-connected background component that does not touch the
    border (scipy fills by propagating the border inwards through the
    background, 4-connected, until nothing changes: a pass per pixel of depth).
    """
    mask = np.asarray(mask, bool)
    if mask.size == 0:
        return mask.copy()
    background, count = ndi.label(~mask, structure=_FOUR)
    outside = np.zeros(count + 1, bool)
    for edge in (background[0], background[-1], background[:, 0], background[:, -1]):
        outside[edge] = True
    if outside[1:].all():  # no hole: the same pixels, without a look-up per pixel
        return mask.copy()
    outside[0] = False  # the marks themselves
    return np.take(~outside, background)


def _drop_specks(region: np.ndarray) -> np.ndarray:
    """Keep the body of a trimmed region: drop pieces of a few pixels beside it.

    Pixels of JPEG noise in a region's halo pass the support test alone;
    they are specks apart from the change itself, small beside its body
    (under :data:`_SPECK_AREA` px, or :data:`_SPECK_FRACTION` of the
    largest piece). A region that is one speck alone is left to
    :func:`refine_to_support`'s `keep_speck`.
    """
    pieces, count = ndi.label(region, structure=_EIGHT)
    if count < 2:
        return region
    areas = np.bincount(pieces.ravel())
    areas[0] = 0
    keep = areas >= min(max(_SPECK_AREA, _SPECK_FRACTION * areas.max()), areas.max())
    return np.take(keep, pieces)


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
    # Every step is local (it looks at most `reach` pixels away), and groups of
    # marks farther apart than that cannot affect each other, so each group is
    # cleaned on its own crop: the cost follows the marked area, not the image.
    reach = 2 * max(morphology_radius, 0) + max(padding, 0) + 2
    out = np.zeros(mask.shape, bool)
    for crop, own in _groups_of_cells(_occupied(mask), mask.shape, reach, fill_holes=fill_holes):
        out[crop] |= _clean(
            mask[crop] & own,
            min_area=min_area,
            morphology_radius=morphology_radius,
            fill_holes=fill_holes,
            padding=padding,
        )
    return out


def clean_labels(
    mask: np.ndarray,
    *,
    min_area: int,
    morphology_radius: int,
    fill_holes: bool,
    cache: dict | None = None,
    cells: np.ndarray | None = None,
) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """``ndi.label(clean_mask(mask, ..., padding=0), 8-connected)``, and each label's box.

    The same labels, numbered in the same (raster) order, as labelling the
    whole cleaned mask, but found group by group on crops (see
    :func:`clean_mask`), so that the cost follows the marked area. With a
    `cache` (a dict kept by the caller between calls on the same image), a
    group's opening and closing, and the areas of their 4-connected objects,
    are found once for its marks (same crop, same marks) and reused when only
    `min_area` or `fill_holes` changed; its labels are found once for each
    set of objects kept (another `min_area` that keeps the same objects
    costs a look-up).

    `cells` (which :data:`_GROUP_CELL`-px cells hold a mark, as
    :func:`threshold_with_cells` returns them; a superset will do) saves
    finding them.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
    boxes : list of tuple of slice
        ``ndi.find_objects(labels)``.
    """
    h, w = mask.shape
    reach = 2 * max(morphology_radius, 0) + 2
    if cells is None:
        cells = _occupied(mask)
    grouped = _groups_of_cells(cells, (h, w), reach, fill_holes=fill_holes)
    groups = []  # (crop, local labels, count) per group
    pending = []  # (index in groups, marks, cache key, kept opening) of groups to clean
    for crop, own in grouped:
        marks = mask[crop] & own
        key = base = None
        if cache is not None:
            where = (crop[0].start, crop[0].stop, crop[1].start, crop[1].stop)
            key = (where, morphology_radius, marks.tobytes())
            base = cache.get(key)
            if base is not None:
                # The same objects kept as a result met before: its labels.
                found = cache.get((key, _kept(base[1], min_area).tobytes(), fill_holes))
                if found is not None:
                    groups.append((crop, *found))
                    continue
        pending.append((len(groups), marks, key, base))
        groups.append((crop, None, 0, None))

    def clean(task):
        # clean_mask's steps (padding 0), the opening and closing and their
        # 4-connected objects' areas kept for another min_area or fill_holes.
        _, marks, _, base = task
        if base is None:
            opened = _clean(
                marks, min_area=1, morphology_radius=morphology_radius, fill_holes=False, padding=0
            )
            objects, _ = ndi.label(opened, structure=_FOUR)  # as remove_small_objects counts
            base = (objects, np.bincount(objects.ravel()))
        kept = _kept(base[1], min_area)
        # (Every object kept: the closed marks, without a look-up per pixel.)
        cleaned = base[0] > 0 if kept[1:].all() else np.take(kept, base[0])
        if fill_holes:
            cleaned = _fill_holes(cleaned)
        return base, kept, _labelled(cleaned)

    sizes = [task[1].size for task in pending]
    for (index, _, key, old), (base, kept, found) in zip(
        pending, map_tasks(clean, pending, sizes), strict=True
    ):
        if key is not None:
            if old is None:
                _keep(cache, key, base, len(key[-1]) + base[0].nbytes + base[1].nbytes)
            size = len(key[-1]) + found[0].nbytes
            _keep(cache, (key, kept.tobytes(), fill_holes), found, size)
        groups[index] = (groups[index][0], *found)
    return _assemble([group for group in groups if group[2]], (h, w))


def group_marks(
    mask: np.ndarray,
    reach: int,
    min_area: int,
    cells: np.ndarray | None = None,
    *,
    cache: dict | None = None,
) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """Label marks, joining those within `reach` pixels into one region.

    The mask itself is kept exactly (each region is the marked pixels of one
    group); groups under `min_area` marked pixels are dropped. The same
    regions as dilating the whole mask `reach` times (4-connected steps),
    labelling it 8-connected and keeping the marked pixels, numbered in the
    raster order of their first marked pixel, but found on the crops of groups of marked
    :data:`_GROUP_CELL`-px cells, so that the cost follows the marked area.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
    reach : int
        At most 7: marks that join are then at most 15 px apart, in the same
        or 8-adjacent :data:`_GROUP_CELL`-px cells.
    min_area : int
    cells : ndarray of bool, optional
        Which cells hold a mark (a superset will do), e.g. ``cell_maxima(score)
        > threshold`` when `mask` is ``score > threshold``.
    cache : dict, optional
        Kept by the caller between calls on the same image (as for
        :func:`clean_labels`): a group's grouping is found once for its
        marks, and another `min_area` only filters it.

    Returns
    -------
    labels : ndarray of int32, shape (H, W)
    boxes : list of tuple of slice
        ``ndi.find_objects(labels)``.
    """
    h, w = mask.shape
    cell = _GROUP_CELL
    if not 0 <= reach <= (cell - 1) // 2:
        raise ValueError(
            f"group_marks joins marks at most {(cell - 1) // 2} px apart, not {reach}"
        )
    if cells is None:
        cells = _occupied(mask)
    diamond = morphology.diamond(reach).astype(bool) if reach > 0 else None
    # Marks that join (2 reach + 1 < one cell apart) lie in the same or 8-adjacent cells.
    groups = []  # (crop, marks, cache key, grouping met before) of groups with marks
    for crop, own in _cell_groups(cells, (h, w), cell, structure=_EIGHT):
        marks = mask[crop] & own
        if not marks.any():
            continue
        key = base = None
        if cache is not None:
            where = (crop[0].start, crop[0].stop, crop[1].start, crop[1].stop)
            key = ("group_marks", where, reach, marks.tobytes())
            base = cache.get(key)
        groups.append((crop, marks, key, base))

    def group(task):
        # The marks' groups (kept for another min_area), then those kept,
        # renumbered 1..n in the crop, labelled and described.
        _, marks, _, base = task
        if base is None:
            # `reach` 4-connected steps: one dilation by the diamond of that radius.
            joined = _morph(marks, _row_runs(diamond), erode=False) if reach > 0 else marks
            local, count = ndi.label(joined, structure=_EIGHT)
            local[~marks] = 0
            areas = np.bincount(local.ravel(), minlength=count + 1)
            areas[0] = 0
            base = (local, areas)
        local, areas = base
        kept = areas >= max(min_area, 1)
        count = int(np.count_nonzero(kept))
        if count == 0:
            return base, (None, 0, None)
        if count == kept.size - 1:  # all kept: already numbered 1..n
            return base, (local, count, _describe(local))
        remap = np.zeros(kept.size, np.int32)
        remap[kept] = np.arange(1, count + 1, dtype=np.int32)
        local = np.take(remap, local)
        return base, (local, count, _describe(local))

    sizes = [task[1].size for task in groups]
    found = []
    for (crop, _, key, old), (base, labelled) in zip(
        groups, map_tasks(group, groups, sizes), strict=True
    ):
        if key is not None and old is None:
            _keep(cache, key, base, len(key[-1]) + base[0].nbytes + base[1].nbytes)
        if labelled[1]:
            found.append((crop, *labelled))
    return _assemble(found, (h, w))


def _describe(local: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[slice, slice]]]:
    """Each label of a crop's labels (1..n, none missing): its first pixel and its box."""
    firsts, boxes = [], []
    for index, (rows, cols) in enumerate(ndi.find_objects(local), start=1):
        firsts.append((rows.start, cols.start + int(np.argmax(local[rows.start, cols] == index))))
        boxes.append((rows, cols))
    return firsts, boxes


def _labelled(objects: np.ndarray) -> tuple[np.ndarray, int, tuple]:
    """A crop's 8-connected labels, their count and :func:`_describe`, for :func:`_assemble`."""
    local, count = ndi.label(objects, structure=_EIGHT)
    return local, count, _describe(local) if count else ([], [])


def _assemble(groups, shape: tuple[int, int]) -> tuple[np.ndarray, list[tuple[slice, slice]]]:
    """One label image from groups' crops, numbered as labelling the whole image numbers.

    `groups` holds ``(crop, local labels, count, described)``, each crop's
    labels numbered 1..count in raster order and described by
    :func:`_describe`. A label's global number is the raster order of its
    first pixel (which lies in its top row), as ``ndi.label`` gives it.
    Returns the labels and each label's box.
    """
    h, w = shape
    keys, found_boxes = [], []
    for crop, _, _, (firsts, local_boxes) in groups:
        row0, col0 = crop[0].start, crop[1].start
        keys += [(row0 + r) * w + col0 + c for r, c in firsts]
        found_boxes += [
            (slice(row0 + r.start, row0 + r.stop), slice(col0 + c.start, col0 + c.stop))
            for r, c in local_boxes
        ]
    number = np.empty(len(keys), np.int32)
    number[np.argsort(np.array(keys, np.int64), kind="stable")] = np.arange(
        1, len(keys) + 1, dtype=np.int32
    )
    labels = np.zeros((h, w), np.int32)  # pages never written stay untouched
    boxes: list = [None] * len(keys)
    remaps = []
    start = 0
    for _, _, count, _ in groups:
        remap = np.zeros(count + 1, np.int32)
        remap[1:] = number[start : start + count]
        for k in range(start, start + count):
            boxes[number[k] - 1] = found_boxes[k]
        remaps.append(remap)
        start += count

    def paint(item):
        # Each group writes its own marked pixels only (crops may overlap,
        # marks never do), so groups can be painted side by side.
        (crop, local, _, _), remap = item
        if np.all(np.diff(remap[1:]) == 1):
            # Numbered in a run, in order (no other group's label in between):
            # an add (a masked copy of the sum is twice as fast as a masked add).
            np.copyto(labels[crop], local + (remap[1] - 1), where=local > 0)
        else:
            np.copyto(labels[crop], np.take(remap, local), where=local > 0)

    sizes = [local.size for _, local, _, _ in groups]
    map_tasks(paint, zip(groups, remaps, strict=True), sizes)
    return labels, boxes


# Bytes of groups a clean_labels cache keeps before it starts afresh.
_CACHE_BYTES = 128 << 20


def _kept(areas: np.ndarray, min_area: int) -> np.ndarray:
    """Which labelled objects ``remove_small_objects(max_size=min_area - 1)`` keeps."""
    kept = areas >= max(min_area, 1)
    kept[0] = False  # the background
    return kept


def _keep(cache: dict, key, value, size: int) -> None:
    """Store in a clean_labels cache (`size` bytes), emptying it first when it holds too much."""
    total = cache.get("_bytes", 0) + size
    if total > _CACHE_BYTES:
        cache.clear()
        total = size
    cache[key] = value
    cache["_bytes"] = total


def _clean(mask, *, min_area, morphology_radius, fill_holes, padding) -> np.ndarray:
    """clean_mask's steps on one whole image (or one group's crop)."""
    out = mask.copy()
    if morphology_radius > 0:
        footprint = _disk(morphology_radius)
        out = _opening(out, footprint)
        out = _closing(out, footprint)
    if min_area > 1:
        objects, _ = ndi.label(out, structure=_FOUR)  # as remove_small_objects counts
        out = np.take(_kept(np.bincount(objects.ravel()), min_area), objects)
    if fill_holes:
        out = _fill_holes(out)
    if padding > 0:
        out = ndi.binary_dilation(out, structure=morphology.disk(padding))
    return out


def _groups_of_cells(
    cells: np.ndarray, shape: tuple[int, int], reach: int, *, fill_holes: bool = False
):
    """Split the marked cells into groups far apart; yield each group's crop and its own pixels.

    Each marked cell is grown by enough cells to cover `reach` pixels;
    8-connected groups of those cells are the groups. A group's crop (its
    cells' bounding box) thus holds every pixel within `reach` of its marks,
    or reaches the image edge, and two groups' marks are more than twice
    `reach` apart. Yields ``(crop, own)``: the crop as a pair of slices and a
    bool array of the crop's shape, True on the group's own cells (another
    group's marks may lie inside the crop's rectangle; they are left out).

    With `fill_holes`, a group also owns the cells it encloses, and so the
    marks there: filling a hole of one group's marks can cover another
    group's marks inside it (a changed frame with a change in its middle),
    which then become part of one object, as filling the whole image makes
    them. A 4-connected path of cells that avoids a group's cells avoids its
    marks, so cells its marks enclose are enclosed by its cells.
    """
    grow = -(-max(reach, 0) // _GROUP_CELL)
    grid = np.asarray(cells, bool)
    if grow and grid.any():
        # ndi.binary_dilation by a (2 grow + 1)-cell square, as whole-array shifts.
        grid = _morph(grid, [(d, grow) for d in range(-grow, grow + 1)], erode=False)
    if fill_holes:
        grid = _fill_holes(grid)
    yield from _cell_groups(grid, shape, _GROUP_CELL, structure=_EIGHT)


def _cell_groups(grid: np.ndarray, shape: tuple[int, int], cell: int, structure=_FOUR):
    """Connected groups of True cells: each group's pixel crop, and its own pixels there."""
    h, w = shape
    groups, _ = ndi.label(grid, structure=structure)
    for index, (rows, cols) in enumerate(ndi.find_objects(groups), start=1):
        own = groups[rows, cols] == index
        crop = (
            slice(rows.start * cell, min(rows.stop * cell, h)),
            slice(cols.start * cell, min(cols.stop * cell, w)),
        )
        own = own.repeat(cell, axis=0).repeat(cell, axis=1)
        yield crop, own[: crop[0].stop - crop[0].start, : crop[1].stop - crop[1].start]
