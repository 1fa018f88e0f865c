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

import numpy as np
from scipy import ndimage as ndi
from skimage.color import deltaE_ciede2000, rgb2gray, rgb2lab

from ._ssim import ssim_map

__all__ = ["METRICS", "components_for", "difference_components", "match_exposure"]

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
# Channel values at or beyond these count as clipped (black 2/255, white 253/255).
_CLIP_HIGH = np.float32(253 / 255)
_CLIP_LOW = np.float32(2 / 255)
# Pixels used to fit the exposure change (a strided sample is as good as all).
_EXPOSURE_SAMPLE = 200_000


def components_for(metric: str) -> tuple[str, ...]:
    """Return the names of the components a metric combines."""
    return METRICS[metric]


def match_exposure(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return B with a global per-channel gain and offset fitted to A.

    The line is an orthogonal (total least squares) fit of A against B over
    the valid pixels, refitted without the 20 % worst residuals so that the
    real differences do not pull it. Orthogonal, because both images carry
    noise: ordinary least squares would shrink the gain towards 0 on dark,
    low-contrast images. A global exposure or white-balance change therefore
    vanishes while local changes stay. Where B is clipped (white or black),
    its true value is unknown beyond the clip, so the matched value is moved
    towards A as far as the clip allows: a highlight that saturated in the
    brighter shot is not a difference.

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
    index = np.flatnonzero(valid.ravel())
    if index.size < 16:
        return b.copy()
    step = max(1, index.size // _EXPOSURE_SAMPLE)
    index = index[::step]
    flat_a, flat_b = a.reshape(-1, 3)[index], b.reshape(-1, 3)[index]
    out = np.empty_like(b)
    for channel in range(3):
        x = flat_b[:, channel].astype(np.float64)
        y = flat_a[:, channel].astype(np.float64)
        unclipped = (x > _CLIP_LOW) & (x < _CLIP_HIGH) & (y > _CLIP_LOW) & (y < _CLIP_HIGH)
        x, y = x[unclipped], y[unclipped]
        gain, offset = _fit_line(x, y)
        residual = np.abs(y - (gain * x + offset))
        if residual.size:
            keep = residual <= np.quantile(residual, 0.8)
            gain, offset = _fit_line(x[keep], y[keep])
        matched = out[..., channel]
        np.multiply(b[..., channel], np.float32(gain), out=matched)
        matched += np.float32(offset)
        high = b[..., channel] >= _CLIP_HIGH
        matched[high] = np.maximum(matched[high], a[..., channel][high])
        low = b[..., channel] <= _CLIP_LOW
        matched[low] = np.minimum(matched[low], a[..., channel][low])
    return out


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Orthogonal-regression line y = gain * x + offset (gain 1 if x barely varies)."""
    if x.size < 16 or x.var() < 1e-6:
        return 1.0, float(np.median(y - x)) if x.size else 0.0
    sxx, syy = x.var(), y.var()
    sxy = float(np.mean((x - x.mean()) * (y - y.mean())))
    if abs(sxy) < 1e-12:
        return 1.0, float(y.mean() - x.mean())
    gain = (syy - sxx + np.sqrt((syy - sxx) ** 2 + 4 * sxy**2)) / (2 * sxy)
    # A gain far from 1 is not an exposure change but a different picture.
    gain = float(min(max(gain, 0.5), 2.0))
    return gain, float(y.mean() - gain * x.mean())


def difference_components(
    a: np.ndarray,
    b: np.ndarray,
    names: tuple[str, ...],
    *,
    win_size: int = 7,
    smoothing: float = 3.0,
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
        difference (and half of it before SSIM). It removes the high
        frequencies that JPEG quantisation (chroma is stored at half
        resolution, in 8 px blocks) and sensor noise live in.

    Returns
    -------
    dict of str -> ndarray of float32, shape (H, W)
    """
    out: dict[str, np.ndarray] = {}
    if "structure" in names:
        win = _fit_window(win_size, a.shape[:2])
        pre = smoothing * _STRUCTURE_SMOOTHING
        _, ssim = ssim_map(
            _smooth(rgb2gray(a).astype(np.float32), pre),
            _smooth(rgb2gray(b).astype(np.float32), pre),
            win_size=win,
            gaussian_weights=True,
            sigma=win / 4.67,
            data_range=1.0,
            use_sample_covariance=False,
            K1=_NO_LUMINANCE_K1,
        )
        out["structure"] = np.clip(1.0 - ssim, 0.0, 1.0, out=ssim)
    if "color" in names:
        lab_a = rgb2lab(_smooth(a, smoothing))
        lab_b = rgb2lab(_smooth(b, smoothing))
        delta = deltaE_ciede2000(lab_a, lab_b, channel_axis=-1)
        out["color"] = np.clip(delta / _DELTA_E_SCALE, 0.0, 1.0).astype(np.float32)
    if "absdiff" in names:
        out["absdiff"] = np.abs(a - b).max(axis=-1).astype(np.float32)
    return out


def _fit_window(win_size: int, shape: tuple[int, int]) -> int:
    """Shrink the SSIM window to fit a small image (odd, at least 3)."""
    side = min(win_size, *shape)
    if side % 2 == 0:
        side -= 1
    return side


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    clipped = np.clip(image, 0.0, 1.0)
    if sigma <= 0:
        return clipped
    sigmas = (sigma, sigma, 0)[: image.ndim]
    return ndi.gaussian_filter(clipped, sigma=sigmas, truncate=3.0)
