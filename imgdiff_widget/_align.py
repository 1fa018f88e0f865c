"""Geometry: bringing B into A's frame (size policy) and registering it onto A."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import fft
from scipy import ndimage as ndi
from skimage import transform as sktransform
from skimage.color import rgb2gray
from skimage.registration import phase_cross_correlation

from ._errors import ImageDiffError, SizeMismatchError
from ._parallel import map_strips, map_tasks

__all__ = [
    "ALIGN_METHODS",
    "SIZE_POLICIES",
    "Frame",
    "Registration",
    "fit_frame",
    "register",
]

SIZE_POLICIES = ("auto", "error", "crop", "pad", "resize")
ALIGN_METHODS = ("auto", "none", "translation", "homography")

# "auto" accepts a size difference this small as a re-cropped copy of the same
# scene: at most this fraction of a side, or _AUTO_SIZE_PIXELS, whichever is larger.
_AUTO_SIZE_FRACTION = 0.02
_AUTO_SIZE_PIXELS = 8
# ... and resizes B when it has A's shape at another scale, both this many
# pixels on a side at least (below, the shapes of a few pixels agree by chance).
_AUTO_RESCALED_MIN_SIDE = 32
# Translation is estimated on a copy at most this many pixels on its long side.
_REGISTRATION_SIDE = 1024
# "auto" applies a shift only when it lowers the mismatch by this fraction.
_AUTO_MIN_GAIN = 0.1
# ...and only when it is at least this long (smaller shifts are interpolation noise).
_AUTO_MIN_SHIFT = 0.25
# ... and at most this fraction of the shorter side: a camera moved between two
# shots, not half the picture replaced (whose phase correlation can peak
# anywhere; the shift must also lower the mismatch both ways, which such a
# peak does not). A larger shift is applied when asked for, with
# align="translation". (1/16 marked the whole picture of a photo reframed by
# 8 % of its side.)
_AUTO_MAX_SHIFT_FRACTION = 1 / 5
# ... but this much only for screenshots and renders (metric="pixel": content
# that moved on a page, a sidebar opened or lines deleted, is a change; moved
# back, it would hide in the strip left uncompared) and for images under
# _AUTO_LARGE_SHIFT_SIDE px on a side (their shift along it is read poorly).
_AUTO_LAYOUT_SHIFT_FRACTION = 1 / 16
_AUTO_LARGE_SHIFT_SIDE = 128
# A picture at least this share of whose pixels equal their whole 3 x 3
# neighbourhood is drawn, not photographed (a page, a chart, a cartoon), and
# treated as a layout, when most of those flat pixels hold a few values (a
# background, a panel's colour). The benchmark's photos, saved as JPEG, have
# at most 0.17 flat pixels (a black background), or 0.26 in a clear sky whose
# flat pixels spread over hundreds of levels; the renders of pixelmatch's
# tests, 0.23-0.9, at least 85 % of them in 4 values.
_RENDERED_FLAT = 0.2
_RENDERED_FEW_VALUES = 4
_RENDERED_FEW_SHARE = 0.5
# Sub-pixel precision of the shift: 1 / this many pixels.
_UPSAMPLE = 20
# "auto" also turns and zooms B (a photo taken twice by hand) when the local
# shifts of a grid of patches fit an affine map whose non-translation part
# moves the image's corners by at least this many pixels ...
_AUTO_MIN_WARP = 0.5
# ... by a rotation and zoom at most this large (radians, relative scale: about
# 6 degrees and 10 %; the patches' shifts are found well up to about 8 degrees) ...
_AUTO_MAX_WARP = 0.1
# ... on patches of this side (pixels of the reduced copy), 4 x 4 of them,
# each kept when its shift lies within this many pixels of the fit.
_PATCH_SIDE = 128
_PATCH_GRID = 4
_PATCH_RESIDUAL = 0.35
# Where the user asked to ignore areas, the shift is found by masked normalised
# cross-correlation (scikit-image's; any weighting that stays put in A's frame
# while B's content moves would pull the estimate towards zero) on a copy at
# most this many pixels on its long side (it costs about 1 s at 1024 px) ...
_MASKED_SIDE = 256
# ... then refined, in B moved by sub-pixel steps, to the peak of the
# correlation over a random sample of this many looked-at pixels (at least
# _PEAK_MIN_PIXELS), to this precision (pixels) ...
_PEAK_SAMPLES = 1 << 14
_PEAK_MIN_PIXELS = 256
_PEAK_PRECISION = 0.05
# ... each step size tried again, at most this many times, while the peak lies
# beyond half a step (a parabola through points a step apart misplaces a
# sharp peak) ...
_PEAK_ROUNDS = 4
# ... and over 1024 px refined once more at full size, on a window of this
# side (each step moves the whole window).
_PEAK_SIDE = 512
# Fewer looked-at pixels of the reduced copy than this (64 x 64) are too few
# to register on: the whole picture is read instead; and ignored bits that an
# opening of this many steps removes (specks, thin lines) are read too.
_LOOKED_MIN = 4096
_IGNORE_THIN = 2
# Half the side of ORB's descriptor patch (scikit-image's, at the first scale):
# a feature nearer an ignored area than this is not matched.
_ORB_PATCH = 25
# A patch of the turn-and-zoom grid is used only when this much of it is
# looked at, and faded out towards ignored pixels over this many pixels of the
# reduced copy (a sharp cut is an edge of its own).
_PATCH_LOOKED = 0.9
_IGNORE_FADE = 8
# The map is refined this many times at most (each fit falls short: the
# taper pulls every patch's shift towards zero, the less so with the
# cross-power spectrum whitened, scikit-image's normalization="phase").
_WARP_STEPS = 4
# ... starting from the shift found when it is over this fraction of a patch's side.
_WARP_FROM_SHIFT = 1 / 8


@dataclass(frozen=True)
class Frame:
    """A and B in one common frame.

    Attributes
    ----------
    a, b : ndarray of float32, shape (H, W, 3)
        The two images in the common frame.
    valid : ndarray of bool, shape (H, W)
        Pixels where both images have content.
    extra : ndarray of bool, shape (H, W)
        Pixels present in only one image that count as a difference
        (size policy "pad"); empty otherwise.
    a_matched : ndarray of float32, shape (H, W, 3), or None
        A with no finer detail than B holds, when B was enlarged to A's size
        ("resize" of a smaller B): B is compared with this, A is shown.
        None when B is compared with A itself.
    """

    a: np.ndarray
    b: np.ndarray
    valid: np.ndarray
    extra: np.ndarray
    a_matched: np.ndarray | None = None

    @property
    def compared_a(self) -> np.ndarray:
        """The A that B is compared with (see `a_matched`)."""
        return self.a if self.a_matched is None else self.a_matched


@dataclass(frozen=True)
class Registration:
    """B registered onto A.

    Attributes
    ----------
    b : ndarray of float32, shape (H, W, 3)
        B resampled into A's frame.
    valid : ndarray of bool, shape (H, W)
        Pixels where the registered B has content (the common overlap).
    method : str
        The method actually applied: "none", "translation", "affine" (a small
        turn and zoom found by "auto") or "homography".
    shift : tuple of float
        (rows, cols) that B was moved by; (0, 0) for none. For a homography,
        the move of B's point that lands on A's centre.
    matrix : ndarray, shape (3, 3)
        The homogeneous transform mapping A's (col, row) coordinates onto B's.
    """

    b: np.ndarray
    valid: np.ndarray
    method: str
    shift: tuple[float, float]
    matrix: np.ndarray


def fit_frame(a: np.ndarray, b: np.ndarray, policy: str = "auto") -> Frame:
    """Bring two images into one frame according to a size policy.

    Parameters
    ----------
    a, b : ndarray, shape (H, W, 3)
        Loaded images.
    policy : {"auto", "error", "crop", "pad", "resize"}
        What to do when the sizes differ. "error" refuses; "crop" compares the
        top-left common area; "pad" compares the common area and reports the
        rows and columns only one image has as a difference of their own;
        "resize" resamples B to A's size (where B is smaller, B is compared
        with A brought to B's resolution and back, as an enlarged B holds none
        of A's finer detail); "auto" treats a difference of a few pixels
        (re-cropped copy) as "pad into A's frame" with the padding left out of
        the comparison, resizes a copy of the same shape at another scale
        (a thumbnail, a screenshot at another zoom), and refuses other
        differences.

    Returns
    -------
    Frame
    """
    (ha, wa), (hb, wb) = a.shape[:2], b.shape[:2]
    if (ha, wa) == (hb, wb):
        full = np.ones((ha, wa), bool)
        return Frame(a, b, full, ~full)
    if policy == "auto" and _is_small_difference((ha, wa), (hb, wb)):
        b_in_a, present = _place(b, (ha, wa))
        return Frame(a, b_in_a, present, np.zeros((ha, wa), bool))
    if policy == "auto" and _is_rescaled((ha, wa), (hb, wb)):
        policy = "resize"
    if policy in ("auto", "error"):
        raise SizeMismatchError(
            f"the images differ in size: A is {wa}x{ha} and B is {wb}x{hb} (width x "
            "height). Choose size_mismatch='crop' (compare the common area), 'pad' "
            "(report the extra area as a difference) or 'resize' (scale B to A)."
        )
    if policy == "crop":
        h, w = min(ha, hb), min(wa, wb)
        full = np.ones((h, w), bool)
        return Frame(a[:h, :w], b[:h, :w], full, ~full)
    if policy == "pad":
        shape = (max(ha, hb), max(wa, wb))
        a_pad, a_present = _place(a, shape)
        b_pad, b_present = _place(b, shape)
        both = a_present & b_present
        return Frame(a_pad, b_pad, both, a_present ^ b_present)
    if policy == "resize":
        resized = sktransform.resize(b, (ha, wa), order=1, anti_aliasing=True)
        full = np.ones((ha, wa), bool)
        matched = None
        if hb < ha or wb < wa:
            # B enlarged is blurred where A is sharp: every edge would differ.
            # A goes down to B's resolution (on the sides where B is smaller)
            # and back up the same way, so both hold the same detail.
            low = sktransform.resize(a, (min(ha, hb), min(wa, wb)), order=1, anti_aliasing=True)
            matched = sktransform.resize(low, (ha, wa), order=1).astype(np.float32)
        return Frame(a, resized.astype(np.float32), full, ~full, matched)
    raise ImageDiffError(f"unknown size policy {policy!r}; use one of {SIZE_POLICIES}.")


def _is_rescaled(shape_a, shape_b) -> bool:
    """Whether B has A's shape at another scale (each side within a pixel of it)."""
    (ha, wa), (hb, wb) = shape_a, shape_b
    if min(ha, wa, hb, wb) < _AUTO_RESCALED_MIN_SIDE:
        return False
    # (Each side within a pixel of A's scaled by the other side's ratio.)
    return abs(hb - ha * wb / wa) <= 1 and abs(wb - wa * hb / ha) <= 1


def _is_small_difference(shape_a, shape_b) -> bool:
    return all(
        abs(sa - sb) <= max(_AUTO_SIZE_PIXELS, _AUTO_SIZE_FRACTION * max(sa, sb))
        for sa, sb in zip(shape_a, shape_b, strict=True)
    )


def _place(image: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Put `image` at the top-left of a white canvas of `shape`, cropping any excess."""
    canvas = np.ones((*shape, 3), np.float32)
    present = np.zeros(shape, bool)
    h, w = min(shape[0], image.shape[0]), min(shape[1], image.shape[1])
    canvas[:h, :w] = image[:h, :w]
    present[:h, :w] = True
    return canvas, present


def register(
    a: np.ndarray,
    b: np.ndarray,
    valid: np.ndarray,
    method: str = "auto",
    ignored: np.ndarray | None = None,
    *,
    layout: bool = False,
) -> Registration:
    """Register B onto A.

    Parameters
    ----------
    a, b : ndarray of float32, shape (H, W, 3)
        Images in a common frame.
    valid : ndarray of bool, shape (H, W)
        Where B has content.
    method : {"auto", "none", "translation", "homography"}
        "translation" estimates a sub-pixel shift by phase correlation;
        "auto" does the same but applies the shift only when it is at least a
        quarter pixel, at most 1/5 of the shorter side (a camera moved, not
        the picture replaced; 1/16 with `layout` or under 128 px), and
        clearly lowers the mismatch; it also turns
        and zooms B a little (a photo taken twice by hand: up to about
        6 degrees and 10 %) when the shifts of a grid of patches say so
        and that clearly lowers the mismatch (method "affine"); "homography" matches ORB
        features and fits a projective transform with RANSAC (photos taken
        twice by hand).
    ignored : ndarray of bool, shape (H, W), optional
        Areas of A's frame the user asked to ignore: whatever differs there
        (a screen, a passer-by, half the picture) moves nothing; the shift,
        turn and zoom are read from the rest and judged there.
    layout : bool, optional
        The images are screenshots or renders (metric "pixel"): content that
        moved on the page is a change, so "auto" applies no shift over 1/16
        of the shorter side. So it is too for a picture that looks drawn
        (flat areas over a fifth of it), whatever the metric.

    Returns
    -------
    Registration
    """
    if method == "none":
        return _identity(b, valid)
    if ignored is not None and not ignored.any():
        ignored = None
    if ignored is not None and ignored.all():
        return _identity(b, valid)  # nothing left to register on
    factor = _downscale_factor(a.shape)
    looked = None if ignored is None else _looked_for_registration(ignored, factor)
    if looked is None:
        ignored = None
    else:
        # At full size, the same areas (in whole blocks of the reduced copy).
        ignored = ~np.repeat(np.repeat(looked, factor, 0), factor, 1)[: a.shape[0], : a.shape[1]]
    if method in ("auto", "translation"):
        with warnings.catch_warnings():
            # A flat or tiny image has no shift to find: skimage warns, we keep 0.
            warnings.simplefilter("ignore", (UserWarning, RuntimeWarning))
            small = (_small_gray(a, factor), _small_gray(b, factor))
            shift = _estimate_shift(a, b, valid, small, ignored, looked)
            reach = auto_shift_fraction(a.shape, layout)
            long_way = np.abs(shift).max() > _AUTO_LAYOUT_SHIFT_FRACTION * min(a.shape[:2])
            if reach > _AUTO_LAYOUT_SHIFT_FRACTION and long_way and _looks_rendered(small[0]):
                reach = _AUTO_LAYOUT_SHIFT_FRACTION  # a page, a chart, a cartoon: see layout
            helps = method == "translation" or _shift_helps(shift, small, factor, looked, reach)
            if method == "auto":
                found = shift if helps else (0.0, 0.0)
                warp = _estimate_warp(small, factor, found, looked, reach)
                if warp is not None:
                    return _apply_affine(b, valid, *warp)
        if not helps:
            return _identity(b, valid)
        return _apply_shift(b, valid, shift)
    if method == "homography":
        return _homography(a, b, valid, ignored, looked)
    raise ImageDiffError(f"unknown alignment {method!r}; use one of {ALIGN_METHODS}.")


def auto_shift_fraction(shape: tuple[int, ...], layout: bool) -> float:
    """The largest shift "auto" applies, as a fraction of the shorter side."""
    if layout or min(shape[:2]) < _AUTO_LARGE_SHIFT_SIDE:
        return _AUTO_LAYOUT_SHIFT_FRACTION
    return _AUTO_MAX_SHIFT_FRACTION


def _looks_rendered(gray: np.ndarray) -> bool:
    """Whether a grey image is drawn rather than photographed (see :data:`_RENDERED_FLAT`)."""
    flat = ndi.maximum_filter(gray, 3) == ndi.minimum_filter(gray, 3)
    if flat.mean() < _RENDERED_FLAT:
        return False
    counts = np.unique(gray[flat], return_counts=True)[1]
    few = np.sort(counts)[-_RENDERED_FEW_VALUES:].sum()
    return bool(few >= _RENDERED_FEW_SHARE * counts.sum())


def _identity(b: np.ndarray, valid: np.ndarray) -> Registration:
    return Registration(b, valid, "none", (0.0, 0.0), np.eye(3))


def _downscale_factor(shape: tuple[int, ...]) -> int:
    return max(1, int(np.ceil(max(shape[:2]) / _REGISTRATION_SIDE)))


def _block_counts(mask: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """True pixels in each `factor` x `factor` block of `mask`, and each block's pixels.

    The blocks of :func:`_small_gray` (one cut by the image edge holds what it has).
    """
    rows, cols = np.arange(0, mask.shape[0], factor), np.arange(0, mask.shape[1], factor)
    counts = np.add.reduceat(np.add.reduceat(mask, rows, 0, dtype=np.int32), cols, 1)
    sizes = np.outer(np.diff(rows, append=mask.shape[0]), np.diff(cols, append=mask.shape[1]))
    return counts, sizes


def _looked_for_registration(ignored: np.ndarray, factor: int) -> np.ndarray | None:
    """Which pixels of the copy reduced `factor` times registration reads; None: all of them.

    A reduced pixel is read when it is mostly not ignored. Ignored bits a
    few reduced pixels thin (specks, a comb of lines) are read too: too
    small to move the estimate, left out they would leave little solid to
    match. None as well when what is left to read is too small
    (:data:`_LOOKED_MIN`): the whole picture is read, as without ignore.
    """
    if factor == 1:
        looked = ~ignored
    else:
        counts, sizes = _block_counts(ignored, factor)
        looked = 2 * counts < sizes
    # (Opened edge-padded: an area ignored up to the image's edge keeps its edge.)
    pad = 2 * _IGNORE_THIN
    opened = ndi.binary_opening(np.pad(~looked, pad, mode="edge"), iterations=_IGNORE_THIN)
    looked = ~opened[pad:-pad, pad:-pad]
    if looked.all() or np.count_nonzero(looked) < _LOOKED_MIN:
        return None
    return looked


def _fade(looked: np.ndarray) -> np.ndarray:
    """Weights rising from 0 on ignored pixels to 1 at :data:`_IGNORE_FADE` px (raised cosine)."""
    distance = ndi.distance_transform_edt(looked)
    ramp = np.clip(distance / _IGNORE_FADE, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * ramp)).astype(np.float32)


def _masked_shift(
    ga: np.ndarray, gb: np.ndarray, looked: np.ndarray, moving: np.ndarray
) -> np.ndarray | None:
    """B's shift onto A read only where `looked` (in A) and `moving` (in B) are True.

    Masked normalised cross-correlation (Padfield's, in scikit-image) on
    the looked-at box reduced to :data:`_MASKED_SIDE`, then the peak of the correlation
    coefficient over the looked-at pixels, B moved by sub-pixel steps. Both
    see only the masks' pixels: nothing stays put to pull the estimate.
    None when the reduced masks keep too few pixels.
    """
    # The box of what is looked at, and as far around it as "auto" shifts:
    # a small looked-at area keeps its detail in the reduced copy.
    h, w = ga.shape
    reach = int(np.ceil(_AUTO_MAX_SHIFT_FRACTION * min(h, w))) + 1
    rows, cols = np.flatnonzero(looked.any(axis=1)), np.flatnonzero(looked.any(axis=0))
    box = (
        slice(max(rows[0] - reach, 0), min(rows[-1] + 1 + reach, h)),
        slice(max(cols[0] - reach, 0), min(cols[-1] + 1 + reach, w)),
    )
    k = max(1, int(np.ceil(max(ga[box].shape) / _MASKED_SIDE)))
    pieces = [ga[box], gb[box], looked[box], moving[box]]
    if k > 1:
        pieces = [sktransform.downscale_local_mean(x.astype(np.float32), (k, k)) for x in pieces]
        pieces[2:] = [mask > 0.999 for mask in pieces[2:]]  # (no ignored pixel let in)
    if min(np.count_nonzero(mask) for mask in pieces[2:]) < _PEAK_MIN_PIXELS:
        return None  # (a comb of ignored lines: read as a whole instead)
    coarse = phase_cross_correlation(
        pieces[0], pieces[1], reference_mask=pieces[2], moving_mask=pieces[3]
    )[0]
    return _correlation_peak(ga, gb, looked, np.asarray(coarse, float) * k, k, moving)


def _correlation_peak(
    reference: np.ndarray,
    moving: np.ndarray,
    where: np.ndarray,
    shift,
    step: float,
    moving_valid: np.ndarray | None = None,
) -> np.ndarray:
    """The shift near `shift` that maximises the correlation of `reference` and moved `moving`.

    The correlation coefficient is taken over `where` (A's looked-at pixels:
    moved B shows there what A does), less a margin at the image's edge and,
    given `moving_valid` (where B has content), where the moved B has none.
    The best whole-pixel move within `step` of `shift` comes first (one
    axis at a time can climb a side peak); then each axis is stepped to the
    vertex of the parabola through three moves, a pixel apart (again while
    the vertex lies beyond half a step), then a quarter of that, down to
    :data:`_PEAK_PRECISION`. `shift` unchanged when too few pixels are left.
    """
    shift = np.array(shift, float)
    radius = int(np.ceil(step))
    margin = int(np.ceil(np.abs(shift).max())) + radius + 3
    inner = np.zeros(where.shape, bool)
    inner[margin:-margin, margin:-margin] = where[margin:-margin, margin:-margin]
    if moving_valid is not None and not moving_valid.all():
        inner &= ndi.binary_erosion(moving_valid, iterations=margin, border_value=1)
    if np.count_nonzero(inner) < _PEAK_MIN_PIXELS:
        return shift
    # A random sample of the looked-at pixels is as good as all (a strided
    # one can fall in one column phase and make a peak of its own).
    rows, cols = np.nonzero(inner)
    if rows.size > _PEAK_SAMPLES:
        keep = np.sort(np.random.default_rng(0).choice(rows.size, _PEAK_SAMPLES, replace=False))
        rows, cols = rows[keep], cols[keep]
    ref = reference[rows, cols] - reference[rows, cols].mean()
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    # B's crop holds every pixel a move reads (the margin keeps it inside the
    # image), as cubic-spline coefficients: linear interpolation smooths B
    # the more the nearer a move is to half a pixel, which pulls the peak to
    # whole pixels.
    crop = moving[r0 - margin : r1 + margin, c0 - margin : c1 + margin]
    part = ndi.spline_filter(crop, output=np.float32)
    at_rows, at_cols = rows - r0 + margin, cols - c0 + margin

    def score(values: np.ndarray) -> float:
        values = values - values.mean()
        norm = float(np.sqrt(np.dot(ref, ref) * np.dot(values, values)))
        return float(np.dot(ref, values)) / norm if norm else 0.0

    def correlation(at: np.ndarray) -> float:
        # ndi.shift's convention: the moved image at p is the image at p - at.
        where_read = np.stack([at_rows - at[0], at_cols - at[1]])
        return score(
            ndi.map_coordinates(part, where_read, order=3, mode="nearest", prefilter=False)
        )

    y0, x0 = (int(v) for v in np.round(shift))
    moves = [
        (y0 + dy, x0 + dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
    ]
    shift = np.array(max(moves, key=lambda m: score(crop[at_rows - m[0], at_cols - m[1]])), float)
    step = 1.0
    current = correlation(shift)
    while True:
        for _ in range(_PEAK_ROUNDS):
            far = False  # (a vertex beyond half a step: this step again)
            for axis in (0, 1):
                unit = np.zeros(2)
                unit[axis] = 1.0
                below, above = correlation(shift - step * unit), correlation(shift + step * unit)
                bend = below - 2 * current + above
                if bend < 0:
                    offset = float(np.clip(step * (below - above) / (2 * bend), -step, step))
                else:  # on a slope: walk up it
                    offset = step if above > below else -step if below > above else 0.0
                if offset:
                    shift = shift + offset * unit
                    current = correlation(shift)
                far |= abs(offset) > step / 2
            if not far:
                break
        if step <= _PEAK_PRECISION:
            return shift
        step = max(step / 4, _PEAK_PRECISION)


def _small_gray(image: np.ndarray, factor: int) -> np.ndarray:
    """``rgb2gray(image)`` averaged over factor x factor blocks, in row strips.

    The full-size grey image is never made; a block cut by the image edge
    averages what it has.
    """
    if factor == 1:
        return rgb2gray(image).astype(np.float32, copy=False)
    h, w = image.shape[:2]
    out = np.empty((-(-h // factor), -(-w // factor)), np.float32)
    whole = w // factor
    per_column = np.minimum(factor, w - factor * np.arange(out.shape[1])).astype(np.float32)

    def strip(block_rows: slice) -> None:
        r0, r1 = block_rows.start * factor, min(block_rows.stop * factor, h)
        gray = rgb2gray(image[r0:r1]).astype(np.float32, copy=False)
        sums = gray[::factor].copy()
        for i in range(1, factor):
            part = gray[i::factor]
            sums[: part.shape[0]] += part
        dst = out[block_rows]
        dst[:, :whole] = sums[:, : whole * factor].reshape(len(sums), whole, factor).sum(axis=2)
        if whole < dst.shape[1]:
            dst[:, whole] = sums[:, whole * factor :].sum(axis=1)
        per_row = np.minimum(factor, (r1 - r0) - factor * np.arange(len(sums)))
        dst /= per_row[:, None].astype(np.float32) * per_column

    map_strips(strip, out.shape[0], factor * image[0].nbytes)
    return out


def _estimate_shift(
    a: np.ndarray,
    b: np.ndarray,
    valid: np.ndarray,
    small,
    ignored: np.ndarray | None = None,
    looked: np.ndarray | None = None,
) -> tuple[float, float]:
    """B's shift onto A: phase correlation of the reduced copies, refined at full size.

    With ignored areas (`ignored`, and `looked`, its reduced complement),
    only what the user looks at is matched (:func:`_masked_shift`).
    """
    factor = _downscale_factor(a.shape)
    ga, gb = small
    if valid.all():
        small_valid = np.ones(ga.shape, bool)
    else:
        counts, sizes = _block_counts(valid, factor)
        small_valid = counts == sizes  # (blocks wholly inside the overlap)
    shift = None if looked is None else _masked_shift(ga, gb, looked, small_valid & looked)
    if shift is None and small_valid.all():
        # Up to _REGISTRATION_SIDE the image is compared whole and untapered
        # (a taper moves the estimate for anti-aliased renders such as
        # pixelmatch's 5a/5b by a quarter pixel, which "auto" would apply).
        # A larger one is reduced: the estimate need only be good to a quarter
        # of a full-size pixel, as the refinement below measures what is left.
        if factor == 1:
            shift = _phase_shift(ga, gb, _UPSAMPLE, taper=False)
        else:
            shift = _phase_shift(ga, gb, 2 * factor)
    elif shift is None:
        shift = phase_cross_correlation(
            ga, gb, reference_mask=np.ones_like(small_valid), moving_mask=small_valid
        )[0]
    shift = np.asarray(shift, float) * factor
    if factor > 1:
        # Refine at full resolution on a central window, after the coarse shift.
        shift = shift + _refine_shift(a, b, shift, ignored, valid)
    return float(shift[0]), float(shift[1])


def _refine_shift(
    a: np.ndarray,
    b: np.ndarray,
    coarse: np.ndarray,
    ignored: np.ndarray | None = None,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """What is left of the shift after `coarse`, on a window of the full-size images.

    The central window; with ignored areas, the window (of the centre, the
    quarters' centres and the looked-at area's centre) that holds the most
    looked-at pixels, refined to the peak of their correlation.
    """
    h, w = a.shape[:2]
    side = min(_REGISTRATION_SIDE if ignored is None else _PEAK_SIDE, h, w)
    r0, c0 = (h - side) // 2, (w - side) // 2
    if ignored is not None:
        rows, cols = np.flatnonzero((~ignored).any(axis=1)), np.flatnonzero((~ignored).any(axis=0))
        centres = [(0.5, 0.5), (0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)]
        centres.append(((rows[0] + rows[-1]) / 2 / h, (cols[0] + cols[-1]) / 2 / w))
        candidates = [
            (
                min(max(int(y * h) - side // 2, 0), h - side),
                min(max(int(x * w) - side // 2, 0), w - side),
            )
            for y, x in centres
        ]
        counts = [np.count_nonzero(~ignored[r : r + side, c : c + side]) for r, c in candidates]
        r0, c0 = candidates[int(np.argmax(counts))]
    window = (slice(r0, r0 + side), slice(c0, c0 + side))
    ga = rgb2gray(a[window]).astype(np.float32)
    # Only the window of the moved B is used: move just the part of B that
    # holds the window and the pixels it reads (two more on each side, or the
    # image edge, which mode="nearest" repeats as it does on the whole image).
    source = []
    for axis, (start, n) in enumerate(((r0, h), (c0, w))):
        lo = min(start, int(np.floor(start - coarse[axis])) - 2)
        hi = max(start + side, int(np.ceil(start + side - coarse[axis])) + 2)
        source.append(slice(max(lo, 0), min(hi, n)))
    part = rgb2gray(b[tuple(source)]).astype(np.float32)
    moved = ndi.shift(part, coarse, order=1, mode="nearest")
    moved = moved[r0 - source[0].start :, c0 - source[1].start :][:side, :side]
    if ignored is not None:
        where = ~ignored[window]
        if valid is not None and not valid.all():
            # Where the moved B has content, on the window alone.
            moved_valid = ndi.shift(valid[tuple(source)].astype(np.float32), coarse, order=1)
            where &= (
                moved_valid[r0 - source[0].start :, c0 - source[1].start :][:side, :side] > 0.999
            )
        # (The reduced copy's estimate is good to a few tenths of a full-size pixel.)
        fine = _correlation_peak(ga, moved, where, np.zeros(2), 1.0) if where.any() else 0
    else:
        fine = _phase_shift(ga, moved, _UPSAMPLE)
    return np.clip(fine, -1.0, 1.0)


def _phase_shift(
    a: np.ndarray, b: np.ndarray, upsample: int, *, taper: bool = True, check: bool = True
) -> np.ndarray:
    """Phase correlation of two grey images, by default under a Hann window.

    Phase correlation treats the images as periodic: the jump between
    opposite edges does not move with the content and pulls a sub-pixel
    estimate towards zero (0.15-0.3 px on a photo moved by a few pixels).
    Tapering both images to zero at their edges removes that jump (a
    separable Hann window: numpy's, cheap next to scikit-image's radial one).

    The plain cross-correlation gives the sub-pixel estimate, but a large
    shift or a turn can fool it: a picture's broad gradients (a sky) and
    the edges' jump keep its peak near zero on the axis they lie along (the
    rocket photo moved by (64, 35) px read (-0.2, 35.7)). With `check`, the
    whole-pixel peak of its whitened twin (``normalization="phase"``) under
    the taper, which neither fools, is read too (10 of the benchmark's 24
    handheld pairs, moved and turned, read over 3 px off; this, 2). Where
    the two disagree, B is moved by the whitened peak and the plain estimate
    is made again on the overlap (when that still says more than a pixel,
    the whole-pixel peak stands: the turn and zoom are fitted afterwards),
    and of the two estimates the one that matches A better is kept.
    """
    h, w = a.shape
    tapered = None
    if taper or check:
        window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
        tapered = fft.fftn(a * window), fft.fftn(b * window)
    spectra = tapered if taper else (fft.fftn(a), fft.fftn(b))
    found = phase_cross_correlation(
        *spectra, space="fourier", upsample_factor=upsample, normalization=None
    )[0]
    found = np.asarray(found, float)
    if not check:
        return found
    whole = np.asarray(phase_cross_correlation(*tapered, space="fourier")[0], float)
    if np.abs(found - whole).max() <= 1:
        return found
    overlap = _overlap(a, b, whole)
    if overlap is None:
        return found
    rest = _phase_shift(*overlap, upsample, taper=taper, check=False)
    if np.abs(rest).max() <= 1:
        whole = whole + rest
    # Neither peak is always right (a field of stars turned by 3 degrees
    # fools the whitened one): the one that matches A better stands.
    return min((found, whole), key=lambda shift: _overlap_mismatch(a, b, shift))


def _overlap(a: np.ndarray, b: np.ndarray, shift) -> tuple[np.ndarray, np.ndarray] | None:
    """A and B on their overlap when B is moved by `shift` (rounded), or None when none is left."""
    h, w = a.shape
    dr, dc = (int(np.rint(v)) for v in shift)
    if abs(dr) >= h or abs(dc) >= w:
        return None
    # B's (r, c) lands on A's (r, c) + (dr, dc).
    rows, cols = slice(max(dr, 0), h + min(dr, 0)), slice(max(dc, 0), w + min(dc, 0))
    moved = (slice(rows.start - dr, rows.stop - dr), slice(cols.start - dc, cols.stop - dc))
    return a[rows, cols], b[moved]


def _overlap_mismatch(a: np.ndarray, b: np.ndarray, shift) -> float:
    """Mean absolute difference of A and B moved by `shift` (rounded), over their overlap."""
    overlap = _overlap(a, b, shift)
    return np.inf if overlap is None else float(np.mean(np.abs(overlap[0] - overlap[1])))


def _shift_helps(
    shift,
    small,
    factor: int,
    looked: np.ndarray | None = None,
    reach: float = _AUTO_MAX_SHIFT_FRACTION,
) -> bool:
    """Whether moving B by `shift` onto A, and A back onto B, each clearly lowers the mismatch.

    Measured on the reduced grey copies `small` (reduced `factor` times),
    inside a margin the shift cannot reach past. Both ways, because one way
    alone also "helps" by pushing a change that touches the top or left edge
    out of the measured area (phase correlation of a blank image returns
    such a small spurious shift). Only pixels farther than the shift from
    an ignored area (outside `looked`) count. `reach`: the largest shift, as a
    fraction of the shorter side (:func:`auto_shift_fraction`).
    """
    ga, gb = small
    longest = reach * min(ga.shape) * factor
    if np.hypot(*shift) < _AUTO_MIN_SHIFT or max(abs(s) for s in shift) > longest:
        return False
    small_shift = (shift[0] / factor, shift[1] / factor)
    margin = int(np.ceil(max(abs(s) for s in small_shift))) + 1
    inner = (slice(margin, -margin or None), slice(margin, -margin or None))
    moved_b = ndi.shift(gb, small_shift, order=1, mode="nearest")
    moved_a = ndi.shift(ga, (-small_shift[0], -small_shift[1]), order=1, mode="nearest")
    return _clearly_closer(small, _measured(inner, looked, margin), (moved_b, moved_a), (gb, ga))


def _measured(inner: tuple[slice, slice], looked: np.ndarray | None, margin: int):
    """Where a mismatch is measured: `inner`, less all within `margin` of an ignored pixel."""
    if looked is None:
        return inner
    where = np.zeros(looked.shape, bool)
    where[inner] = ndi.binary_erosion(looked, iterations=margin, border_value=1)[inner]
    return where


def _clearly_closer(small, inner, moved, before) -> bool:
    """Whether B moved onto A, and A moved back onto B, both match clearly better than before.

    `moved` and `before` are ``(B onto A, A onto B)`` pairs of the reduced
    grey copies `small`; matched by the mean absolute difference inside
    `inner` (slices or a bool mask), better by :data:`_AUTO_MIN_GAIN` at least.
    """
    ga, gb = small
    keep = 1 - _AUTO_MIN_GAIN
    if isinstance(inner, np.ndarray) and not inner.any():
        return False

    def mismatch(x, y):
        return np.mean(np.abs(x[inner] - y[inner]))

    return bool(
        mismatch(ga, moved[0]) < keep * mismatch(ga, before[0])
        and mismatch(moved[1], gb) < keep * mismatch(before[1], gb)
    )


def _estimate_warp(
    small,
    factor: int,
    shift,
    looked: np.ndarray | None = None,
    reach: float = _AUTO_MAX_SHIFT_FRACTION,
) -> tuple[np.ndarray, np.ndarray] | None:
    """A small turn and zoom of B onto A, as ``(linear, offset)`` in full-size (row, col).

    A's pixel p shows B's ``linear @ p + offset``. The shift of each patch of
    a 4 x 4 grid is found by phase correlation (under a Hann taper,
    whitened, sub-pixel) and an affine map fitted to them by least squares, without
    the patches whose shift it misses (a real change, a flat patch). The
    taper pulls each shift towards zero, so the map is refined: B is warped
    by it and the shifts left are fitted again. None unless the map's turn
    and zoom move the corners by :data:`_AUTO_MIN_WARP` px at least, stay
    small, and the map, applied to the reduced copies, lowers their mismatch
    clearly below `shift`'s, both ways. With ignored areas (outside
    `looked`), the grid covers the box of what is looked at, and only
    patches looked at almost whole are used, faded out towards the ignored
    pixels. `reach` as for :func:`_shift_helps`.
    """
    ga, gb = small
    h, w = ga.shape
    top, bottom, left, right = 0, h, 0, w
    if looked is not None:
        # The grid covers what is looked at (a band beside a large ignored area).
        rows, cols = np.flatnonzero(looked.any(axis=1)), np.flatnonzero(looked.any(axis=0))
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # A patch's own shift, found under a taper, is lost when the camera moved
    # by a good part of the patch: then B starts moved by the shift found (in
    # whole pixels: an exact copy, not one blurred by interpolation), and the
    # grid covers only where the moved B has content.
    start = np.round(np.asarray(shift, float) / factor).astype(int)
    if np.abs(start).max() > min(bottom - top, right - left) / _PATCH_GRID * _WARP_FROM_SHIFT:
        top, bottom = max(top, start[0]), min(bottom, h + start[0])
        left, right = max(left, start[1]), min(right, w + start[1])
    else:
        start = np.zeros(2, int)
    side = min(_PATCH_SIDE, (bottom - top) // _PATCH_GRID, (right - left) // _PATCH_GRID)
    if side < 32:
        return None
    window = np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    starts = [
        (int(row - side / 2), int(col - side / 2))
        for row in np.linspace(top + side / 2, bottom - side / 2, _PATCH_GRID)
        for col in np.linspace(left + side / 2, right - side / 2, _PATCH_GRID)
    ]
    windows = [window] * len(starts)
    if looked is not None:
        weight = _fade(looked)
        kept = [
            (start, window * weight[start[0] : start[0] + side, start[1] : start[1] + side])
            for start in starts
            if looked[start[0] : start[0] + side, start[1] : start[1] + side].mean()
            >= _PATCH_LOOKED
        ]
        if len(kept) < 6:  # as few as _robust_affine refuses
            return None
        starts, windows = [start for start, _ in kept], [patch for _, patch in kept]
    middle = np.array([(h - 1) / 2, (w - 1) / 2])
    centres = np.array([(r0 + (side - 1) / 2, c0 + (side - 1) / 2) for r0, c0 in starts])
    design = np.column_stack([centres - middle, np.ones(len(centres))])
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float) - middle

    def corner_move(turn_zoom):
        # How far a turn and zoom about the middle moves the corners (full-size px).
        return np.abs(corners @ turn_zoom.T).max() * factor

    linear, offset = np.eye(2), -start.astype(float)
    moved_b = gb
    if start.any():
        moved_b = ndi.affine_transform(gb, linear, offset, order=1, mode="nearest")
    for step in range(_WARP_STEPS):
        shifts = np.array(
            [
                # (A tenth of a pixel each: the fit averages 16 of them.)
                phase_cross_correlation(
                    ga[r0 : r0 + side, c0 : c0 + side] * patch,
                    moved_b[r0 : r0 + side, c0 : c0 + side] * patch,
                    upsample_factor=_UPSAMPLE // 2,
                    normalization="phase",
                )[0]
                for (r0, c0), patch in zip(starts, windows, strict=True)
            ]
        )
        fit = _robust_affine(design, shifts)
        if fit is None:
            return None
        # shift(p) = J (p - middle) + t: A's p shows the warped B at p - shift(p).
        turn_zoom, move = fit[:2].T, fit[2]
        step_map = np.eye(2) - turn_zoom
        offset = linear @ (turn_zoom @ middle - move) + offset
        linear = linear @ step_map
        if step == 0 and corner_move(turn_zoom) < _AUTO_MIN_WARP:
            return None  # (the common case: a shift, or nothing)
        if corner_move(np.eye(2) - linear) < _AUTO_MIN_WARP / 2:
            return None  # refined, the turn and zoom came to nothing (noise, a change)
        if corner_move(turn_zoom) < 0.05:
            break
        moved_b = ndi.affine_transform(gb, linear, offset, order=1, mode="nearest")
    turn_zoom = np.eye(2) - linear
    move = linear @ middle + offset - middle
    too_far = np.abs(move).max() > reach * min(h, w)
    if np.abs(turn_zoom).max() > _AUTO_MAX_WARP or too_far:
        return None
    if corner_move(turn_zoom) < _AUTO_MIN_WARP:
        return None
    if not _warp_helps(ga, gb, linear, offset, np.array(shift, float) / factor, looked):
        return None
    # The same map at full size: p = factor * p_small + (factor - 1) / 2.
    half = (factor - 1) / 2
    return linear, factor * offset + half - linear @ np.full(2, half)


def _robust_affine(design: np.ndarray, shifts: np.ndarray) -> np.ndarray | None:
    """Least-squares affine fit of patch shifts, again without those it misses; None: too few."""
    keep = np.ones(len(shifts), bool)
    for _ in range(2):
        if keep.sum() < 6:
            return None
        fit = np.linalg.lstsq(design[keep], shifts[keep], rcond=None)[0]
        residual = np.hypot(*(design @ fit - shifts).T)
        keep = residual <= max(_PATCH_RESIDUAL, 2.5 * float(np.median(residual)))
    return fit if keep.sum() >= 6 else None


def _warp_helps(ga, gb, linear, offset, small_shift, looked=None) -> bool:
    """Whether the map lowers the reduced copies' mismatch clearly below a shift's, both ways."""
    h, w = ga.shape
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], float)
    reach = np.abs(corners @ linear.T + offset - corners).max()  # B's farthest move
    margin = int(np.ceil(reach)) + 2
    margin = min(margin, min(ga.shape) // 4)
    inner = (slice(margin, -margin or None), slice(margin, -margin or None))
    shifted_b = ndi.shift(gb, small_shift, order=1, mode="nearest")
    shifted_a = ndi.shift(ga, -small_shift, order=1, mode="nearest")
    warped_b = ndi.affine_transform(gb, linear, offset, order=1, mode="nearest")
    inverse = np.linalg.inv(linear)
    warped_a = ndi.affine_transform(ga, inverse, -inverse @ offset, order=1, mode="nearest")
    return _clearly_closer(
        (ga, gb), _measured(inner, looked, margin), (warped_b, warped_a), (shifted_b, shifted_a)
    )


def _apply_affine(b: np.ndarray, valid: np.ndarray, linear: np.ndarray, offset: np.ndarray):
    """B resampled (bilinear) where A's pixel p reads B at ``linear @ p + offset`` (row, col)."""
    channels = [b[..., c] for c in range(b.shape[2])]
    planes = [*channels, valid.astype(np.float32)]

    def warp(index):
        edge = index < len(channels)
        return ndi.affine_transform(
            np.ascontiguousarray(planes[index], np.float32),
            linear,
            offset,
            order=1,
            mode="nearest" if edge else "constant",
            cval=0.0,
        )

    out = map_tasks(warp, range(len(planes)), [b.shape[0] * b.shape[1]] * len(planes))
    moved = np.stack(out[: len(channels)], axis=-1).astype(np.float32, copy=False)
    moved_valid = out[-1] > 0.999
    # The same map on (col, row, 1), and B's move at A's centre, as for a homography.
    matrix = np.eye(3)
    matrix[:2, :2] = linear[::-1, ::-1]
    matrix[:2, 2] = offset[::-1]
    centre = np.array([(b.shape[0] - 1) / 2, (b.shape[1] - 1) / 2])
    moved_by = centre - (linear @ centre + offset)
    return Registration(
        moved, moved_valid, "affine", (float(moved_by[0]), float(moved_by[1])), matrix
    )


def _apply_shift(b: np.ndarray, valid: np.ndarray, shift) -> Registration:
    dy, dx = shift
    moved = _shift_bilinear(b, dy, dx, edge=True)
    moved_valid = _shift_bilinear(valid.astype(np.float32), dy, dx, edge=False) > 0.999
    matrix = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy], [0.0, 0.0, 1.0]])
    return Registration(moved, moved_valid, "translation", (dy, dx), matrix)


def _shift_bilinear(image: np.ndarray, dy: float, dx: float, *, edge: bool) -> np.ndarray:
    """``ndi.shift(image, (dy, dx[, 0]), order=1)`` in float32, in row strips on all cores.

    A translation reads every output pixel from the same 2 x 2 neighbourhood
    offset with the same 4 weights, so it is four shifted slices, not a
    general resampling. `edge` repeats the edge pixels (``mode="nearest"``);
    otherwise the outside is 0 (``cval=0``). Float32 rounding aside, the
    values are scipy's.
    """
    h, w = image.shape[:2]
    # Output pixel i reads input i - d: rows k0 = i + o, k0 + 1 with weight t.
    oy, ty = int(np.floor(-dy)), np.float32(-dy - np.floor(-dy))
    ox, tx = int(np.floor(-dx)), np.float32(-dx - np.floor(-dx))
    out = np.empty(image.shape, np.float32)
    # Columns j + ox and j + ox + 1 for every output column j, as slices of a
    # row padded by `pad` columns on each side.
    pad = abs(ox) + 2
    cols = slice(ox + pad, ox + pad + w)
    cols_next = slice(ox + 1 + pad, ox + 1 + pad + w)
    mode = {"mode": "edge"} if edge else {"mode": "constant", "constant_values": 0}
    widths = ((0, 0), (pad, pad)) + ((0, 0),) * (image.ndim - 2)

    def rows_at(index: np.ndarray) -> np.ndarray:
        inside = (index >= 0) & (index < h)
        picked = image[np.clip(index, 0, h - 1)].astype(np.float32, copy=False)
        if not edge and not inside.all():
            picked = picked.copy() if picked.base is image else picked
            picked[~inside] = 0
        return picked

    def strip(rows: slice) -> None:
        index = np.arange(rows.start, rows.stop) + oy
        mixed = rows_at(index) * (1 - ty)
        if ty:
            mixed += rows_at(index + 1) * ty
        padded = np.pad(mixed, widths, **mode)
        dst = out[rows]
        np.multiply(padded[:, cols], 1 - tx, out=dst)
        if tx:
            dst += padded[:, cols_next] * tx
        if not edge:
            # scipy's "constant" mode: a point read from outside [0, n - 1] is
            # cval, even when one of its two neighbours is inside.
            y = np.arange(rows.start, rows.stop) - dy
            dst[(y < 0) | (y > h - 1)] = 0
            x = np.arange(w) - dx
            dst[:, (x < 0) | (x > w - 1)] = 0

    map_strips(strip, h, out[0].nbytes)
    return out


def _homography(
    a: np.ndarray,
    b: np.ndarray,
    valid: np.ndarray,
    ignored: np.ndarray | None = None,
    looked: np.ndarray | None = None,
) -> Registration:
    """ORB features matched, a projective transform fitted by RANSAC.

    `ignored` (full size) and `looked` (on the copy reduced by
    :func:`_downscale_factor`) are :func:`register`'s.
    """
    # Imported here: skimage.feature pulls in scipy.stats, a second of start-up
    # that every CLI call would pay for a method few calls use.
    from skimage.feature import ORB, match_descriptors
    from skimage.measure import ransac

    factor = _downscale_factor(a.shape)
    ga, gb = _small_gray(a, factor), _small_gray(b, factor)
    if looked is not None:
        # Ignored areas (of A's frame; B moved little) are made flat, so that
        # ORB spends its keypoints on what is looked at, and the features
        # whose patch reaches the flat fill's edge are not matched.
        far = ndi.distance_transform_edt(looked) > _ORB_PATCH
        ga, gb = (np.where(looked, g, np.float32(g[looked].mean())) for g in (ga, gb))
    keypoints, descriptors = [], []
    for gray in (ga, gb):
        orb = ORB(n_keypoints=1000, fast_threshold=0.05)
        try:
            orb.detect_and_extract(gray)
        except (RuntimeError, ValueError):  # ValueError: too small for ORB's pyramid
            orb.keypoints = np.empty((0, 2))
        if looked is not None and len(orb.keypoints):
            rows, cols = np.round(orb.keypoints).astype(int).T
            seen = far[np.clip(rows, 0, far.shape[0] - 1), np.clip(cols, 0, far.shape[1] - 1)]
            orb.keypoints, orb.descriptors = orb.keypoints[seen], orb.descriptors[seen]
        if len(orb.keypoints) < 8:
            raise ImageDiffError(
                "alignment 'homography' found too few features to match (the images "
                "are too small or too flat); use align='translation' or 'none'."
            )
        keypoints.append(orb.keypoints * factor)
        descriptors.append(orb.descriptors)
    matches = match_descriptors(descriptors[0], descriptors[1], cross_check=True)
    src = keypoints[0][matches[:, 0]][:, ::-1]  # (col, row) in A
    dst = keypoints[1][matches[:, 1]][:, ::-1]  # (col, row) in B
    model, inliers = (None, None)
    if len(matches) >= 8:
        model, inliers = ransac(
            (src, dst),
            sktransform.ProjectiveTransform,
            min_samples=4,
            residual_threshold=2.0 * factor,
            max_trials=2000,
            rng=0,
        )
    if model is None or inliers is None or inliers.sum() < 8:
        raise ImageDiffError(
            "alignment 'homography' could not find a consistent transform between the "
            "images; check that they show the same scene, or use align='translation'."
        )
    # warp's Cython kernel refuses read-only buffers, and loaded images are read-only.
    warped = sktransform.warp(np.array(b), model, order=1, mode="edge", preserve_range=True)
    warped_valid = sktransform.warp(valid.astype(np.float32), model, order=1, cval=0.0) > 0.999
    seen = warped_valid if ignored is None else warped_valid & ~ignored
    if np.count_nonzero(seen) < 0.5 * np.count_nonzero(valid if ignored is None else ~ignored):
        # A transform fitted to a few matches can throw B out of the frame.
        raise ImageDiffError(
            "alignment 'homography' found a transform that moves B mostly out of A's frame; "
            "check that the images show the same scene, or use align='translation'."
        )
    # B's content moves by A's point minus where B showed it (centre - M centre):
    # a translation's own shift, and for a homography its move at the centre.
    centre = np.array([(a.shape[1] - 1) / 2, (a.shape[0] - 1) / 2, 1.0])  # (col, row, 1)
    seen = model.params @ centre
    moved = centre[:2] - seen[:2] / seen[2]
    shift = (float(moved[1]), float(moved[0]))
    return Registration(warped.astype(np.float32), warped_valid, "homography", shift, model.params)
