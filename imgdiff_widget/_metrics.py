"""Per-pixel difference maps: 0 = same, 1 = most different.

Each metric is one or more *components*, each a float32 map in [0, 1]:

``structure``
    1 - the contrast-structure term of SSIM on the lightly smoothed luminance
    (Gaussian window): edges, texture and objects that appeared, vanished or
    moved. SSIM's luminance term is left out on purpose: it explodes in near
    black areas (a clipped shadow after an exposure change scores as a
    difference), and brightness is judged by the colour component instead.
``color``
    CIEDE2000 colour difference of lightly smoothed images, divided by 100
    (black against white): recolouring, tints and hue-only changes.
``absdiff``
    The largest absolute channel difference: the plain pixel difference.
``pixel``
    pixelmatch's perceptual colour delta (OKLab HyAB), for screenshots and
    renders where one changed pixel matters; computed by
    :func:`imgdiff_widget._pixel.pixel_delta` in the pipeline's score stage,
    with its anti-aliasing detector.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from skimage.color import deltaE_ciede2000, rgb2gray, rgb2lab

from ._parallel import cpu_count, map_strips
from ._ssim import ssim_map

__all__ = [
    "METRICS",
    "color_difference",
    "components_for",
    "difference_components",
    "match_exposure",
]

#: Metric name -> the components it combines.
METRICS: dict[str, tuple[str, ...]] = {
    "combined": ("structure", "color"),
    "ssim": ("structure",),
    "color": ("color",),
    "absdiff": ("absdiff",),
    "pixel": ("pixel",),
}

# CIEDE2000 between black and white; maps Delta E onto [0, 1].
_DELTA_E_SCALE = 100.0
# With K1 this large SSIM's luminance term is exactly 1, so ssim_map returns
# the contrast-structure term alone (the fast kernel, no second code path).
_NO_LUMINANCE_K1 = 1e4
# The luminance is smoothed less than colour: structure lives in edges.
_STRUCTURE_SMOOTHING = 1 / 3
# SSIM's contrast-structure constant C2 = (K2 * data range)**2 follows the
# noise the two images differ by (:func:`_difference_noise`, on the smoothed
# luminance the term compares): 60 times that variance, kept between
# scikit-image's K2 = 0.03 and K2 = 0.08. In a flat window the structure
# score is about the window's noise variance over C2, so grain that only
# chance lifts in a few windows (the quality benchmark's grainy track: sensor
# noise of sigma 4-7/255 blurred 0.7 px, under JPEG; K2 0.048-0.08 there, 4
# of 24 pairs at the bound) stays under the structure floor, 0.12: false
# regions per pair went from 16.9 / 14.8 to 2.8 / 2.9. JPEG, a quiet sensor,
# shifts and resampling (the other tracks) keep K2 0.03, or 0.035 at most.
_STRUCTURE_K2 = 0.03
_STRUCTURE_MAX_K2 = 0.08
_STRUCTURE_NOISE_C2 = 60.0
_NOISE_BLOCK = 8
_NOISE_BLOCKS = 5_000
_NOISE_QUANTILE = 25
_NOISE_DECILES = 2.5
_NOISE_SAME_SCENE = 0.5
_SCENE_BLOCK = 32
_NOISE_MIN_BLOCKS = 16
# Channel values at or beyond these count as clipped (black 2/255, white
# 245/255): JPEG's ringing leaves a clipped highlight at 245-254, not at 255,
# and a new exposure applied to those pixels would mark them. (Not so for
# black: 10/255 there hid a small dark change on the quality benchmark.)
_CLIP_HIGH = np.float32(245 / 255)
_CLIP_LOW = np.float32(2 / 255)
# The exposure change is fitted on the means of 8 x 8 blocks (a strided
# subset of block rows, this many blocks at most).
_EXPOSURE_BLOCK = 8
_EXPOSURE_BLOCKS = 20_000
# Blocks with more than this fraction of clipped values are left out.
_EXPOSURE_MAX_CLIPPED = 1 / 8
# Block means are grouped into this many bins of B's value; a bin needs
# this many blocks to be a point of the fit.
_EXPOSURE_BINS = 24
_EXPOSURE_BIN_BLOCKS = 3
# A tone curve (B's values raised to a power before the gain and offset: a
# gamma change), one power for all three channels, is used when it puts at
# least two thirds of the bin medians within _TONE_FIT of the curves, and an
# eighth of them more than the lines did. A real change, even a large one,
# moves the bins of its own brightness only: the lines fit the rest, and a
# power that bends through its bins loses others.
_TONE_FIT = 1.5 / 255
_TONE_MIN_FITTED = 2 / 3
_TONE_MIN_GAIN = 1 / 8
# ... and only with this many bin medians in every channel: through the few
# levels of a drawing (a background and two colours) any power fits.
_TONE_MIN_LEVELS = 8
_TONE_POWERS = np.exp(np.linspace(np.log(0.5), np.log(2.0), 41))
# The curve is applied through a table of this many steps on [0, 1].
_TONE_STEPS = 16384
# The colour difference is computed on a copy reduced by one more factor per
# this much smoothing sigma (a Gaussian of sigma 3 leaves nothing finer than
# ~6 px for a 2x reduction to lose).
_COLOR_SIGMA_PER_FACTOR = 1.5
# Images smaller than this on a side get the plain computation (no reduction).
_MIN_REDUCED_SIDE = 32
# Images with this many values or more get structure and colour computed side by side.
_PARALLEL_PIXELS = 1 << 20
# Images with at least this many pixels (8 MP: a phone photo) are scored at an
# analysis scale of 1/2: the smallest region kept at that size (its automatic
# min_area, 1 px in 20,000, is 400 px or more, 20 x 20) is still 10 x 10
# reduced pixels, and regions are trimmed at full resolution afterwards.
_REDUCED_SCALE_PIXELS = 8_000_000
_REDUCED_SCALE = 2


def components_for(metric: str) -> tuple[str, ...]:
    """Return the names of the components a metric combines."""
    return METRICS[metric]


def match_exposure(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return B with a global per-channel exposure (gain, offset, tone curve) fitted to A.

    The line is fitted to A against B on the means of 8 x 8 blocks: JPEG
    keeps each block's mean (its DC coefficient) almost exactly while it
    blurs small bright details, and noise averages out, so neither pulls the
    gain. The block means are binned by B's value and each bin gives one
    point (the medians of its blocks), so that every brightness has one say
    however many blocks it has (a dark sky with a few stars would otherwise
    fix the gain on the sky's noise alone); the line through those points is
    Siegel's repeated medians (:func:`scipy.stats.siegelslopes`), which real
    differences filling up to half the points cannot pull. When the lines
    miss the points in a way one power of B's values explains (a gamma
    change), B is raised to that power before the gain and offset
    (:func:`_fit_channels`). A global exposure, white-balance or gamma
    change therefore vanishes while local changes stay.
    Where B is clipped (white or black), its true value is unknown beyond the
    clip, so the matched value is moved towards A as far as the clip allows:
    a highlight that saturated in the brighter shot is not a difference.

    Parameters
    ----------
    a, b : ndarray of float32, shape (H, W, 3)
        The reference and the image to adjust.
    valid : ndarray of bool, shape (H, W)
        Pixels both images have.

    Returns
    -------
    ndarray of float32, shape (H, W, 3)
        A new array; `b` is not modified.
    """
    exposure = fit_exposure(a, b, valid)
    if exposure is None:
        return b.copy()
    # All channels at once, in row strips (cache-sized, on both cores).
    out = np.empty_like(b)
    map_strips(
        lambda rows: apply_exposure(a[rows], b[rows], exposure, out=out[rows]),
        b.shape[0],
        b[0].nbytes,
    )
    return out


class Exposure(NamedTuple):
    """Per-channel ``gains * B**powers + offsets``, as :func:`fit_exposure` finds it."""

    gains: np.ndarray
    offsets: np.ndarray
    powers: np.ndarray


def fit_exposure(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> Exposure | None:
    """The per-channel exposure :func:`match_exposure` applies to B; None: B as it is."""
    f = _EXPOSURE_BLOCK
    if a.shape[0] // f == 0 or a.shape[1] // f == 0:
        return None
    blocks = _SampledBlocks(a.shape[:2], f, None if valid.all() else valid, _EXPOSURE_BLOCKS)

    def sample(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.ascontiguousarray(blocks(image))  # (the block sums run on a copy)
        return (rows <= _CLIP_LOW) | (rows >= _CLIP_HIGH), _float32_block_means(rows)

    # A and B side by side (numpy's reductions release the GIL).
    with ThreadPoolExecutor(max_workers=2 if cpu_count() > 1 else 1) as pool:
        found_b = pool.submit(sample, b)
        clipped, mean_a = sample(a)
        clipped_b, mean_b = found_b.result()
    clipped |= clipped_b
    usable = _float32_block_means(clipped) <= _EXPOSURE_MAX_CLIPPED
    samples = []
    for c in range(3):
        keep = blocks.inside(usable[..., c])
        samples.append(
            (
                blocks.inside(mean_b[..., c])[keep].astype(np.float64),
                blocks.inside(mean_a[..., c])[keep].astype(np.float64),
            )
        )
    return _fit_channels(samples)


def _float32_block_means(blocks: np.ndarray) -> np.ndarray:
    """``blocks.mean(axis=(1, 3), dtype=np.float32)`` of ``(rows, f, cols, f, channels)`` blocks.

    For colour values (or any bool mask, whose sums are exact) numpy's
    float32 sums add a block's pixels one after the other, row after row;
    here each pixel of the block is one whole-array add, in that order: the
    same values, 4x faster than numpy's reduction over two strided axes.
    (With one float channel numpy sums in another order.)
    """
    sums = blocks[:, 0, :, 0].astype(np.float32)
    for i in range(blocks.shape[1]):
        for j in range(1 if i == 0 else 0, blocks.shape[3]):
            sums += blocks[:, i, :, j]
    sums /= np.float32(blocks.shape[1] * blocks.shape[3])
    return sums


def apply_exposure(
    a: np.ndarray,
    b: np.ndarray,
    exposure: Exposure | None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`match_exposure`'s values on any crop of A and B (the same crop of each).

    Element-wise, so a crop gets exactly the values of the whole image's result.
    B's values lie in [0, 1], as loaded images' do (a tone curve is read from
    a table on that range).
    """
    if exposure is None:
        if out is None:
            return b.copy()
        out[...] = b
        return out
    gains, offsets, powers = exposure
    if out is None:
        out = np.empty(b.shape, np.float32)
    flat_b, flat_out = _rows_of_values(b), _rows_of_values(out)
    if np.any(powers != 1):
        # A tone curve: through a table (B lies in [0, 1]), channel by channel.
        index = np.empty(b.shape[:-1], np.intp)
        for channel, (gain, offset, power) in enumerate(zip(gains, offsets, powers, strict=True)):
            values = out[..., channel]
            if power == 1:  # a channel with no line of its own (too few levels)
                np.multiply(b[..., channel], gain, out=values)
                values += offset
                continue
            np.multiply(b[..., channel], _TONE_STEPS - 1, out=values)
            index[...] = np.rint(values, out=values)
            table = _tone_table(float(gain), float(offset), float(power))
            np.take(table, index, out=values, mode="clip")
    elif flat_b is not None and flat_out is not None:
        # Whole rows of values against a row of repeated gains: numpy's inner
        # loop runs over the row, not over 3 channels (5x faster, same values).
        width = b.shape[-2]
        np.multiply(flat_b, np.tile(gains, width), out=flat_out)
        flat_out += np.tile(offsets, width)
    else:
        np.multiply(b, gains, out=out)
        out += offsets
    # (A masked ufunc costs as much as the whole gain and offset: skipped
    # where nothing is clipped, as in most crops.)
    high = b >= _CLIP_HIGH
    if high.any():
        np.maximum(out, a, out=out, where=high)
    low = np.less_equal(b, _CLIP_LOW, out=high)
    if low.any():
        np.minimum(out, a, out=out, where=low)
    return out


def _rows_of_values(image: np.ndarray) -> np.ndarray | None:
    """An (..., H, W, C) array as an (..., H, W * C) view, or None when that needs a copy."""
    if image.ndim < 2:
        return None
    item = image.itemsize
    if image.strides[-1] != item or image.strides[-2] != image.shape[-1] * item:
        return None
    return image.reshape(*image.shape[:-2], image.shape[-2] * image.shape[-1])


def _fit_channels(samples: list[tuple[np.ndarray, np.ndarray]]) -> Exposure:
    """Each channel's ``y = gain * x**power + offset`` through bins of its (x, y) block means.

    x (B's block means) is binned by value; each bin with enough blocks
    gives one point, the medians of its x and y, so that every brightness
    has one say. Through each channel's points: Siegel's repeated-medians
    line (:func:`scipy.stats.siegelslopes`), which points filling up to half
    cannot pull. Then one power for all channels, when it puts far more
    points on the curves than the lines did (see :data:`_TONE_FIT`).

    A channel gets gain 1 (its offset alone) when x spans less than 4/255,
    fills fewer than three bins, or its gain is beyond [0.5, 2]: that is not
    an exposure change but a different picture.
    """
    gains = np.ones(3, np.float32)
    offsets = np.zeros(3, np.float32)
    fitted = []  # (channel, points x, points y) of the channels with a line
    for channel, (x, y) in enumerate(samples):
        if x.size == 0:
            continue
        points = _bin_points(x, y)
        line = _siegel_line(*points) if points is not None else None
        if line is None:
            offsets[channel] = np.median(y - x)
            continue
        gains[channel], offsets[channel] = line
        fitted.append((channel, *points))
    powers = np.ones(3, np.float32)
    total = sum(xs.size for _, xs, _ in fitted)
    lines_fit = sum(_count_fitted(xs, ys, (gains[c], offsets[c])) for c, xs, ys in fitted)
    levels = min((xs.size for _, xs, _ in fitted), default=0)
    if levels >= _TONE_MIN_LEVELS and lines_fit < (1 - _TONE_MIN_GAIN) * total:
        best = (max(_TONE_MIN_FITTED * total, lines_fit + _TONE_MIN_GAIN * total), None)
        for power in _TONE_POWERS:
            curves = [_siegel_line(xs**power, ys) for _, xs, ys in fitted]
            if any(curve is None for curve in curves):
                continue
            count = sum(
                _count_fitted(xs**power, ys, curve)
                for (_, xs, ys), curve in zip(fitted, curves, strict=True)
            )
            if count >= best[0]:
                best = (count, (power, curves))
        if best[1] is not None:
            power, curves = best[1]
            for (channel, _, _), (gain, offset) in zip(fitted, curves, strict=True):
                gains[channel], offsets[channel], powers[channel] = gain, offset, power
    return Exposure(gains, offsets, powers)


def _bin_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The medians of x and y in each bin of x holding enough blocks (None: too few bins)."""
    low, span = x.min(), np.ptp(x)
    if span <= 4 / 255:
        return None
    bins = np.minimum(((x - low) / span * _EXPOSURE_BINS).astype(int), _EXPOSURE_BINS - 1)
    counts = np.bincount(bins, minlength=_EXPOSURE_BINS)
    members = np.split(np.argsort(bins, kind="stable"), np.cumsum(counts)[:-1])
    full = [m for m, n in zip(members, counts, strict=True) if n >= _EXPOSURE_BIN_BLOCKS]
    if len(full) < 3:
        return None
    return np.array([np.median(x[m]) for m in full]), np.array([np.median(y[m]) for m in full])


def _siegel_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float] | None:
    """Siegel's repeated-medians ``(gain, offset)`` of y on x; None beyond gain [0.5, 2]."""
    # scipy.stats takes 0.4 s to import: only when a fit is made.
    from scipy.stats import siegelslopes

    gain, offset = siegelslopes(y, x)
    return (float(gain), float(offset)) if 0.5 <= gain <= 2.0 else None


def _count_fitted(x: np.ndarray, y: np.ndarray, line: tuple[float, float]) -> int:
    """How many points lie within :data:`_TONE_FIT` of the line."""
    return int(np.count_nonzero(np.abs(y - (line[0] * x + line[1])) <= _TONE_FIT))


@lru_cache(maxsize=16)
def _tone_table(gain: float, offset: float, power: float) -> np.ndarray:
    """``gain * v**power + offset`` at :data:`_TONE_STEPS` steps of v on [0, 1] (read-only)."""
    values = np.linspace(0.0, 1.0, _TONE_STEPS) ** power * gain + offset
    table = values.astype(np.float32)
    table.flags.writeable = False
    return table


def difference_components(
    a: np.ndarray,
    b: np.ndarray,
    names: tuple[str, ...],
    *,
    win_size: int = 7,
    smoothing: float = 3.0,
    transform=None,
    noise_where: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Compute the named difference components of two registered images.

    Parameters
    ----------
    a, b : ndarray of float32, shape (H, W, 3)
        Registered, exposure-matched images in [0, 1].
    names : tuple of str
        Components to compute ("structure", "color", "absdiff").
    win_size : int, optional
        SSIM window side (odd); the Gaussian window's sigma is win_size / 4.67,
        which gives scikit-image's sigma = 1.5 for the default 7.
    smoothing : float, optional
        Gaussian sigma, in pixels, applied to both images before the colour
        difference (and a third of it before SSIM). It removes the high
        frequencies that JPEG quantisation (chroma is stored at half
        resolution, in 8 px blocks) and sensor noise live in.
    transform : callable, optional
        ``transform(a_rows, b_rows)`` -> the B to compare on those rows (e.g.
        :func:`apply_exposure`): applied strip by strip as B is read, so that
        the adjusted B is never stored whole.
    noise_where : ndarray of bool, shape (H, W), optional
        The pixels whose noise sets the structure term's constant (e.g. the
        overlap, without the areas the user ignores); all when None.

    Returns
    -------
    dict of str -> ndarray of float32, shape (H, W)
    """
    out: dict[str, np.ndarray] = {}
    color = None
    scale = _analysis_scale(a.shape[:2])
    if scale > 1 and ("structure" in names or "color" in names):
        # Both photo components read one reduced copy of each image (B with
        # A's exposure, made strip by strip), then each is interpolated back.
        reduced = _reduced_components(
            a, b, names, win_size, smoothing, transform, scale, noise_where
        )
        if "absdiff" not in names:
            return reduced
        out.update(reduced)
        names = ("absdiff",)
    if transform is not None and (
        "absdiff" in names or ("color" in names and _color_factor(smoothing) == 1)
    ):
        matched = np.empty_like(b)
        map_strips(
            lambda rows: np.copyto(matched[rows], transform(a[rows], b[rows])),
            b.shape[0],
            b[0].nbytes,
        )
        b, transform = matched, None
    with ThreadPoolExecutor(max_workers=1) as pool:
        if (
            "color" in names
            and "structure" in names
            and a.size >= _PARALLEL_PIXELS
            and cpu_count() > 1
        ):
            # The colour difference's serial steps run beside the structure's.
            color = pool.submit(color_difference, a, b, smoothing, transform)
        if "structure" in names:
            out["structure"] = _structure(
                a, b, win_size, smoothing, transform, noise_where=noise_where
            )
        if "color" in names:
            out["color"] = (
                color.result() if color else color_difference(a, b, smoothing, transform)
            )
    if "absdiff" in names:
        out["absdiff"] = max_channel_difference(a, b).astype(np.float32, copy=False)
    return out


def max_channel_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.abs(a - b).max(axis=-1)`` for images with channels last.

    The maximum is taken over the channels' strided views: numpy reduces a
    3-long last axis about 15x slower, for the same values (NaN included).
    """
    diff = np.subtract(a, b)
    np.abs(diff, out=diff)
    out = diff[..., 0].copy()
    for channel in range(1, diff.shape[-1]):
        np.maximum(out, diff[..., channel], out=out)
    return out


def _analysis_scale(shape: tuple[int, int]) -> int:
    """1, or the reduction the photo components are computed at for a large image."""
    return _REDUCED_SCALE if shape[0] * shape[1] >= _REDUCED_SCALE_PIXELS else 1


def _reduced_components(a, b, names, win_size, smoothing, transform, scale, noise_where=None):
    """Structure and colour computed on `scale`-times reduced copies, interpolated back.

    Each block of scale x scale pixels is averaged; that box filter's
    variance, ``(scale**2 - 1) / 12`` px², is part of every smoothing sigma
    (the rest is applied at the reduced size); the SSIM window's sigma is
    divided by `scale`. The colour difference is reduced once more by its own
    factor.
    """
    shape = a.shape[:2]
    small_a = _block_mean(a, scale)
    small_b = _block_mean(b, scale, a, transform)
    box = (scale**2 - 1) / 12
    out: dict[str, np.ndarray] = {}
    with ThreadPoolExecutor(max_workers=1) as pool:
        color = None
        if "color" in names:
            rest = np.sqrt(max(smoothing**2 - box, 0.0)) / scale
            factor = _color_factor(smoothing)
            job = partial(color_difference, small_a, small_b, rest, factor=factor)
            color = pool.submit(job) if "structure" in names and cpu_count() > 1 else None
        if "structure" in names:
            pre = np.sqrt(max((smoothing * _STRUCTURE_SMOOTHING) ** 2 - box, 0.0)) / scale
            if noise_where is not None:
                # The reduced pixels made of compared pixels alone.
                noise_where = _block_mean(noise_where[..., None].astype(np.float32), scale)
                noise_where = noise_where[..., 0] == 1
            found = _structure(
                small_a,
                small_b,
                win_size,
                smoothing,
                pre=pre,
                sigma_scale=1 / scale,
                noise_where=noise_where,
            )
            out["structure"] = _upsample(found, scale, shape)
        if "color" in names:
            found = color.result() if color else job()
            out["color"] = _upsample(found, scale, shape)
    return {name: out[name] for name in names if name in out}


def _structure(
    a: np.ndarray,
    b: np.ndarray,
    win_size: int,
    smoothing: float,
    transform=None,
    *,
    pre: float | None = None,
    sigma_scale: float = 1.0,
    noise_where: np.ndarray | None = None,
) -> np.ndarray:
    """1 - SSIM's contrast-structure term on the lightly smoothed luminance.

    `pre` (the pre-smoothing sigma, default ``smoothing / 3``) and
    `sigma_scale` (on the window's sigma) serve the reduced analysis scale.
    The constant C2 follows the noise of the pixels in `noise_where` (all
    when None; see :data:`_STRUCTURE_NOISE_C2`).
    """
    win = _fit_window(win_size, a.shape[:2])
    sigma = win / 4.67 * sigma_scale
    if pre is None:
        pre = smoothing * _STRUCTURE_SMOOTHING
    gray_a = _smooth(_gray(a), pre, copy=False)
    gray_b = _smooth(_gray(b, a, transform), pre, copy=False)
    c2 = np.clip(
        _STRUCTURE_NOISE_C2 * _difference_noise(gray_a, gray_b, noise_where),
        _STRUCTURE_K2**2,
        _STRUCTURE_MAX_K2**2,
    )
    _, ssim = ssim_map(
        gray_a,
        gray_b,
        win_size=win,
        gaussian_weights=True,
        sigma=sigma,
        data_range=1.0,
        use_sample_covariance=False,
        K1=_NO_LUMINANCE_K1,
        K2=float(np.sqrt(c2)),
    )
    return np.clip(1.0 - ssim, 0.0, 1.0, out=ssim)


def _difference_noise(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """The noise the two images differ by: the variance of ``a - b`` over 8 x 8 blocks.

    The lower quartile of the blocks' variances (JPEG's, the sensor's noise):
    a real change raises the variance of the blocks it covers only, and a
    tint or an exposure left over moves a block's mean, not its variance. At
    most 2.5 times the lowest decile, though: noise spreads evenly (the
    quartile is 1.3-1.9x the decile), while a picture that changed over
    most of its area keeps a decile of unchanged, quiet blocks far under its
    quartile. And 0 unless the two images show the same scene
    (:func:`_same_scene`): there is no noise level to find in a pair that
    differs everywhere.

    Only blocks wholly inside `where` count (all when None). Read on every
    few rows of blocks (about :data:`_NOISE_BLOCKS` blocks); 0 when fewer than
    :data:`_NOISE_MIN_BLOCKS` blocks count.
    """
    blocks = _SampledBlocks(a.shape[:2], _NOISE_BLOCK, where)
    difference = blocks.inside((blocks(a) - blocks(b)).var(axis=(1, 3)))
    if difference.size < _NOISE_MIN_BLOCKS or not _same_scene(a, b, where):
        return 0.0
    decile, quartile = np.percentile(difference, [10, _NOISE_QUANTILE])
    return float(min(quartile, _NOISE_DECILES * decile))


def _same_scene(a: np.ndarray, b: np.ndarray, where: np.ndarray | None) -> bool:
    """Whether A and B show the same scene: their 32 x 32 block means correlate (over 0.5).

    Grain averages out in a block's mean, so a grainy pair of one scene,
    even dark or flat, correlates at 0.73-1; a picture 60 % replaced gives
    0.25, two different photos -0.15 (and a gain or an offset changes
    nothing). Too few blocks to tell: True.
    """
    blocks = _SampledBlocks(a.shape[:2], _SCENE_BLOCK, where)
    means_a = blocks.inside(blocks(a).mean(axis=(1, 3)))
    if means_a.size < _NOISE_MIN_BLOCKS:
        return True
    means_b = blocks.inside(blocks(b).mean(axis=(1, 3)))
    centred_a = means_a - means_a.mean(dtype=np.float64)
    centred_b = means_b - means_b.mean(dtype=np.float64)
    spread = np.sqrt(np.dot(centred_a, centred_a) * np.dot(centred_b, centred_b))
    if not spread > 0:
        return True  # a flat picture: nothing to compare
    return bool(np.dot(centred_a, centred_b) / spread > _NOISE_SAME_SCENE)


class _SampledBlocks:
    """Every few rows of n x n blocks of an image (about `budget` blocks).

    ``blocks(image)`` is a (block rows, n, columns of blocks, n, ...) view of
    the rows read; ``blocks.inside(per_block)`` keeps the blocks wholly inside
    `where` (all when None), flat. The rows are spaced by the blocks inside
    `where`, so that a narrow area looked at is read too.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        n: int,
        where: np.ndarray | None,
        budget: int = _NOISE_BLOCKS,
    ) -> None:
        self._rows, self._cols, self._n = shape[0] // n, shape[1] // n, n
        count = self._rows * self._cols
        self._inside = None
        if where is not None and count:
            self._inside = self._view(where, 1).all(axis=(1, 3))
            count = int(np.count_nonzero(self._inside))
        self._step = max(1, count // budget)
        if self._inside is not None:
            self._inside = self._inside[:: self._step]

    def _view(self, image: np.ndarray, step: int) -> np.ndarray:
        n = self._n
        blocks = image[: self._rows * n, : self._cols * n]
        return blocks.reshape(self._rows, n, self._cols, n, *image.shape[2:])[::step]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self._view(image, self._step)

    def inside(self, per_block: np.ndarray) -> np.ndarray:
        return (per_block if self._inside is None else per_block[self._inside]).ravel()


def _gray(image: np.ndarray, a: np.ndarray | None = None, transform=None) -> np.ndarray:
    """``rgb2gray(image)`` in float32, strip by strip (`transform` applied to each first)."""
    out = np.empty(image.shape[:2], np.float32)

    def strip(rows: slice) -> None:
        src = image[rows] if transform is None else transform(a[rows], image[rows])
        out[rows] = rgb2gray(src)

    map_strips(strip, image.shape[0], image[0].nbytes)
    return out


def color_difference(
    a: np.ndarray,
    b: np.ndarray,
    smoothing: float,
    transform=None,
    *,
    factor: int | None = None,
) -> np.ndarray:
    """CIEDE2000 / 100 between the two images smoothed with a Gaussian of sigma `smoothing`.

    The smoothed images hold no detail finer than a few `smoothing`, so the
    difference is computed on copies reduced by an integer factor (about
    ``smoothing / 1.5``: 2 for the default 3 px): each block of factor x
    factor pixels is averaged (that box filter is part of the smoothing), the
    rest of the Gaussian is applied at the low resolution, and the colour
    difference, computed there on factor² fewer pixels, is interpolated back
    (bilinear, pixel centres aligned). With ``smoothing < 3``, or an image
    under 32 px on a side, the factor is 1 and this is the plain
    full-resolution computation.

    Parameters
    ----------
    a, b : ndarray of float32, shape (H, W, 3)
    smoothing : float
    transform : callable, optional
        As for :func:`difference_components`.
    factor : int, optional
        The reduction factor (default: from `smoothing`, as above).

    Returns
    -------
    ndarray of float32, shape (H, W), in [0, 1]
    """
    shape = a.shape[:2]
    if factor is None:
        factor = _color_factor(smoothing)
    if min(shape) < _MIN_REDUCED_SIDE:
        factor = 1
    if factor == 1:
        if transform is not None:
            b = transform(a, b)
        small_a, small_b = _smooth(a, smoothing), _smooth(b, smoothing)
    else:
        # The box filter's variance, (f² - 1) / 12 per axis, is part of sigma².
        rest = np.sqrt(max(smoothing**2 - (factor**2 - 1) / 12, 0.0)) / factor
        small_a = _smooth(_block_mean(a, factor), rest, copy=False)
        small_b = _smooth(_block_mean(b, factor, a, transform), rest, copy=False)
    delta = np.empty(small_a.shape[:2], np.float32)

    def strip(rows: slice) -> None:
        lab_a, lab_b = rgb2lab(small_a[rows]), rgb2lab(small_b[rows])
        found = deltaE_ciede2000(lab_a, lab_b, channel_axis=-1)
        np.clip(found / np.float32(_DELTA_E_SCALE), 0.0, 1.0, out=delta[rows])

    map_strips(strip, delta.shape[0], small_a[0].nbytes)
    if factor == 1:
        return delta
    return _upsample(delta, factor, shape)


def _upsample(small: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a map reduced `factor` times back to `shape`.

    Pixel centres aligned (a reduced pixel covers factor x factor pixels),
    edges repeated: ``ndi.zoom(small, factor, order=1, mode="nearest",
    grid_mode=True)`` cropped to `shape`, in float32 (it differs from that by
    float32 rounding). Output row (column) ``factor * k + p`` reads reduced
    rows (columns) ``k + o_p`` and ``k + o_p + 1`` with weights that depend on
    the phase ``p`` alone, so each phase is two shifted slices of the reduced
    map (edge-padded by one); in row strips on all cores, columns first on
    the few reduced rows a strip reads.
    """
    if factor == 1:
        return small[: shape[0], : shape[1]]
    padded = np.pad(np.asarray(small, np.float32), 1, mode="edge")
    height, width = shape
    phases = [_phase_taps(phase, factor) for phase in range(factor)]
    out = np.empty(shape, np.float32)

    def strip(blocks: slice) -> None:
        r0, r1 = blocks.start * factor, min(blocks.stop * factor, height)
        # Padded reduced rows this strip reads, interpolated along columns.
        k0 = blocks.start + min(first for first, _ in phases)
        k1 = blocks.stop + max(first for first, _ in phases) + 1
        wide = np.empty((k1 - k0, width), np.float32)
        for phase, (first, weight) in enumerate(phases[:width]):
            n = len(range(phase, width, factor))
            dst = wide[:, phase::factor]
            np.multiply(padded[k0:k1, first : first + n], 1 - weight, out=dst)
            dst += padded[k0:k1, first + 1 : first + 1 + n] * weight
        for phase, (first, weight) in enumerate(phases):
            dst = out[r0 + phase : r1 : factor]
            start = blocks.start + first - k0
            np.multiply(wide[start : start + len(dst)], 1 - weight, out=dst)
            dst += wide[start + 1 : start + 1 + len(dst)] * weight

    map_strips(strip, -(-height // factor), factor * out[0].nbytes)
    return out


def _phase_taps(phase: int, factor: int) -> tuple[int, np.float32]:
    """Output pixel ``factor * k + phase`` reads padded pixels ``k + first`` and ``k + first + 1``.

    Returns ``first`` and the second one's weight.
    """
    offset = (phase + 0.5) / factor - 0.5  # in reduced pixels, from k
    first = int(np.floor(offset)) + 1  # + 1: the edge padding
    return first, np.float32(offset - np.floor(offset))


def _color_factor(smoothing: float) -> int:
    """Reduction factor of the colour difference for a smoothing sigma (1 = none)."""
    return max(1, int(smoothing / _COLOR_SIGMA_PER_FACTOR))


def _block_mean(image: np.ndarray, factor: int, a=None, transform=None) -> np.ndarray:
    """Mean of each `factor` x `factor` block of the image clipped to [0, 1].

    A last row or column of blocks cut by the image edge averages what it has.
    Rows are summed as whole rows; the columns of each block by one small
    matrix product (a sum of `factor` values per channel, in BLAS).
    """
    h, w = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    rows, cols = -(-h // factor), -(-w // factor)
    whole = w // factor  # column blocks not cut by the edge
    out = np.empty((rows, cols, *image.shape[2:]), np.float32)
    summing = np.zeros((factor * channels, channels), np.float32)
    summing[np.arange(factor * channels), np.tile(np.arange(channels), factor)] = 1.0
    n_cols = np.minimum(factor, w - factor * np.arange(cols)).astype(np.float32)

    def strip(block_rows: slice) -> None:
        r0, r1 = block_rows.start * factor, min(block_rows.stop * factor, h)
        if transform is None:
            clipped = np.clip(image[r0:r1], 0.0, 1.0)
        else:
            src = transform(a[r0:r1], image[r0:r1])
            # The transform's own new array is clipped in place (never an input).
            own = not (np.shares_memory(src, image) or np.shares_memory(src, a))
            clipped = np.clip(src, 0.0, 1.0, out=src if own else None)
        clipped = clipped.reshape(r1 - r0, w, channels)
        first, second = clipped[::factor], clipped[1::factor]
        if factor > 1 and len(second) == len(first):
            sums = first + second
            rest = range(2, factor)
        else:
            sums = first.copy()
            rest = range(1, factor)
        for i in rest:
            part = clipped[i::factor]
            sums[: part.shape[0]] += part
        n = sums.shape[0]
        dst = out[block_rows].reshape(n, cols, channels)
        blocks = sums[:, : whole * factor].reshape(n * whole, factor * channels)
        dst[:, :whole] = (blocks @ summing).reshape(n, whole, channels)
        if whole < cols:
            dst[:, whole] = sums[:, whole * factor :].sum(axis=1)
        # Blocks cut by the image edge hold fewer pixels.
        n_rows = np.minimum(factor, (r1 - r0) - factor * np.arange(n)).astype(np.float32)
        dst /= (n_rows[:, None] * n_cols[None, :])[..., None]

    map_strips(strip, rows, factor * image[0].nbytes)
    return out


def _fit_window(win_size: int, shape: tuple[int, int]) -> int:
    """Shrink the SSIM window to fit a small image (odd, at least 3)."""
    side = min(win_size, *shape)
    if side % 2 == 0:
        side -= 1
    return side


def _smooth(image: np.ndarray, sigma: float, *, copy: bool = True) -> np.ndarray:
    """Clip to [0, 1] (in place unless `copy`), then a Gaussian of `sigma` on the image axes."""
    clipped = np.clip(image, 0.0, 1.0, out=None if copy else image)
    if sigma <= 0:
        return clipped
    sigmas = (sigma, sigma, 0)[: image.ndim]
    # scipy filters one line at a time from a copy of it, so the result can
    # overwrite a scratch input.
    output = None if copy else clipped
    return ndi.gaussian_filter(clipped, sigma=sigmas, truncate=3.0, output=output)
