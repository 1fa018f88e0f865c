"""Every expected failure of imgdiff-widget is an :class:`ImageDiffError`."""

from __future__ import annotations

__all__ = [
    "ImageDiffError",
    "ImageLoadError",
    "ImageShapeError",
    "ImageValueError",
    "ParameterError",
    "SizeMismatchError",
]


class ImageDiffError(ValueError):
    """Base class of every expected imgdiff-widget failure.

    The message says what was wrong and what to do about it. It subclasses
    :class:`ValueError`, so code that already catches ``ValueError`` keeps
    working.
    """


class ImageLoadError(ImageDiffError):
    """An input could not be read as an image (missing, not an image, truncated)."""


class ImageShapeError(ImageDiffError):
    """An array has a shape or dtype that is not an image (4-D, empty, 5 channels)."""


class ImageValueError(ImageDiffError):
    """An image holds values that cannot be compared (NaN or infinity)."""


class SizeMismatchError(ImageDiffError):
    """The two images differ in size and the chosen policy does not allow it."""


class ParameterError(ImageDiffError):
    """A parameter has a value outside the accepted ones."""
