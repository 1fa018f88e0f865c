"""Small synthetic images shared by several test modules.

A module of its own (not conftest) so that tests can import it by a name
no other folder uses: tests/e2e has a conftest of its own.
"""

from __future__ import annotations

import numpy as np

__all__ = ["textured"]


def textured(shape=(48, 64), seed=0) -> np.ndarray:
    """A smooth random texture (uint8 RGB): structure everywhere, no flat areas."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    noise = rng.random((*shape, 3))
    smooth = ndi.gaussian_filter(noise, sigma=(2, 2, 0))
    lo, hi = smooth.min(), smooth.max()
    return ((smooth - lo) / (hi - lo) * 255 + 0.5).astype(np.uint8)
