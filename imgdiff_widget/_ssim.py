"""SSIM map (``ssim_map``): the same numbers as scikit-image's ``structural_similarity``.

This first version delegates to scikit-image; the fast float32 kernel replaces it.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

__all__ = ["ssim_map"]


def ssim_map(
    a: np.ndarray,
    b: np.ndarray,
    *,
    win_size: int = 7,
    gaussian_weights: bool = False,
    sigma: float = 1.5,
    data_range: float | None = None,
    use_sample_covariance: bool = True,
    K1: float = 0.01,
    K2: float = 0.03,
    channel_axis: int | None = None,
) -> tuple[float, np.ndarray]:
    """Compute the mean structural similarity and its full map.

    Parameters
    ----------
    a, b : ndarray
        Images of the same shape.
    win_size : int, optional
        Side of the sliding window (odd).
    gaussian_weights : bool, optional
        Weight the window with a Gaussian of width `sigma`.
    sigma : float, optional
        Standard deviation of the Gaussian window.
    data_range : float, optional
        Dynamic range of the data; required for float input as in scikit-image.
    use_sample_covariance : bool, optional
        Normalise covariances by N - 1 instead of N.
    K1, K2 : float, optional
        Stabilising constants.
    channel_axis : int, optional
        Axis of colour channels, or None for a single-channel image.

    Returns
    -------
    mean : float
        Mean SSIM over the image, border excluded as in scikit-image.
    map : ndarray of float32
        The full SSIM map, the same shape as `a`.
    """
    mean, full = structural_similarity(
        a,
        b,
        win_size=win_size,
        gaussian_weights=gaussian_weights,
        sigma=sigma,
        data_range=data_range,
        use_sample_covariance=use_sample_covariance,
        K1=K1,
        K2=K2,
        channel_axis=channel_axis,
        full=True,
    )
    return float(mean), full.astype(np.float32, copy=False)
