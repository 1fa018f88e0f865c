"""Shared fixtures: small real-photo pairs with known truth, and the peer fixtures.

Peer pairs from other image-diff tools live next to the checkout in
``../shared/peers`` (never copied into the repository); tests that need them
skip cleanly when the folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data
from skimage.transform import rescale
from testing_images import textured

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"


def peer_path(relative: str) -> Path:
    """Path of a peer fixture; skips the calling test when it is absent."""
    path = PEERS / relative
    if not path.is_file():
        pytest.skip(f"peer fixture not available: {path}")
    return path


@pytest.fixture
def peers():
    """A function mapping a path inside ../shared/peers to a Path (skips if absent)."""
    return peer_path


def _half(image: np.ndarray) -> np.ndarray:
    small = rescale(image, 0.5, channel_axis=-1, anti_aliasing=True)
    return (small * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="session")
def coffee_small() -> np.ndarray:
    """scikit-image's coffee photo at half size: uint8, (200, 300, 3), read-only."""
    image = _half(data.coffee())
    image.flags.writeable = False
    return image


@pytest.fixture(scope="session")
def astronaut_small() -> np.ndarray:
    """scikit-image's astronaut at half size: float32 RGB in [0, 1], (256, 256, 3)."""
    image = (_half(data.astronaut()) / np.float32(255)).astype(np.float32)
    image.flags.writeable = False
    return image


@pytest.fixture
def make_texture():
    """The :func:`textured` factory: ``make_texture(shape, seed)``."""
    return textured
