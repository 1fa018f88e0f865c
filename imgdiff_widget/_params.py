"""DiffParams: every knob of a comparison, validated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

from ._align import ALIGN_METHODS, SIZE_POLICIES
from ._errors import ParameterError
from ._metrics import METRICS
from ._render import parse_color, parse_style

__all__ = ["DiffParams", "Rectangle"]

Rectangle = tuple[int, int, int, int]
IgnoreSpec = tuple[Rectangle, ...] | np.ndarray | None


@dataclass(frozen=True, eq=False)
class DiffParams:
    """Every parameter of a comparison, with defaults that work on real photos.

    Parameters
    ----------
    metric : {"combined", "ssim", "color", "absdiff", "pixel"}
        How pixels are scored. "combined" (default) joins SSIM structure on
        luminance with the CIEDE2000 colour difference, so a hue change at
        equal brightness is found too; "ssim" is luminance SSIM alone;
        "pixel" is pixelmatch's per-pixel perceptual delta for screenshots
        (exact pixels: no morphology, minimum area 1 and no trimming; "auto"
        threshold = pixelmatch's 0.1).
    threshold : float in (0, 1] or "auto"
        Score above which a pixel differs (scores run from 0 to 1, so 1 marks
        nothing). "auto" places the cut above the pair's own noise floor.
    min_area : int or "auto"
        Smallest region kept, in pixels. "auto" scales with the image size.
    align : {"auto", "none", "translation", "homography"}
        Registration of B onto A. "auto" corrects a shift of up to 1/5 of
        the shorter side (1/16 for screenshots and drawn pictures, where
        content that moved on the page is a change), and a slight turn and
        zoom (up to about 6 degrees and 10 %), when that clearly helps; "translation" any shift;
        "homography" any perspective (ORB features + RANSAC, slower).
    size_mismatch : {"auto", "error", "crop", "pad", "resize"}
        What to do when the images differ in size. "auto" accepts a difference
        of a few pixels (a re-cropped copy), resizes a copy of the same shape
        at another scale (as "resize") and refuses other differences; with
        ``metric="pixel"`` it is "pad" (screenshots of different sizes differ
        by the area only one of them has). "resize" compares a smaller B with
        A at B's resolution (an enlarged B holds none of A's finer detail).
    win_size : int
        SSIM window side, odd, >= 3.
    smoothing : float
        Gaussian sigma (pixels) applied before the colour difference, and a
        third of it before SSIM: suppresses JPEG and sensor noise.
    morphology : int
        Radius of the opening/closing that removes speckle and joins fragments.
    fill_holes : bool
        Mark enclosed holes of a region as part of it.
    padding : int
        Grow each mark by this many pixels.
    ignore_antialiasing : bool or "auto"
        Never mark pixels judged anti-aliasing; they are reported in
        ``DiffResult.antialiased`` and drawn in yellow. True uses pixelmatch's
        detector and ``aliased_vs_antialiased`` (an edge drawn aliased in one
        image and smoothed, e.g. sub-pixel text, in the other). "auto" is
        pixelmatch's detector alone for the pixel metric (its counts), and
        False for the photo metrics.
    ignore : rectangles or bool mask, optional
        Areas never marked: ``(row0, col0, row1, col1)`` rectangles (half-open)
        or a boolean mask of A's size.
    color : matplotlib colour
        Colour of the marks, e.g. "magenta", "#00ff00", (1, 0, 0).
    alpha : float in [0, 1]
        Opacity of the fill and heatmap.
    style : str
        "fill", "outline", "boxes", "heatmap" or a combination such as
        "fill+boxes".
    """

    metric: str = "combined"
    threshold: float | Literal["auto"] = "auto"
    min_area: int | Literal["auto"] = "auto"
    align: str = "auto"
    size_mismatch: str = "auto"
    win_size: int = 7
    smoothing: float = 3.0
    morphology: int = 1
    fill_holes: bool = True
    padding: int = 0
    ignore_antialiasing: bool | Literal["auto"] = "auto"
    ignore: IgnoreSpec = field(default=None)
    color: Any = "magenta"
    alpha: float = 0.5
    style: str = "fill+boxes"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                # NumPy scalars (a slider's or a grid's values) are kept as
                # Python's own, so that parameters print and save as JSON
                # (.item() keeps a long double a NumPy type: float() does not).
                value = value.item()
                if isinstance(value, np.generic):
                    value = float(value)
                object.__setattr__(self, f.name, value)
        _choice("metric", self.metric, tuple(METRICS))
        _choice("align", self.align, ALIGN_METHODS)
        _choice("size_mismatch", self.size_mismatch, SIZE_POLICIES)
        if self.threshold != "auto":
            _number(
                "threshold",
                self.threshold,
                0.0,
                1.0,
                "a number in (0, 1] or 'auto'",
                open_low=True,
            )
        if self.min_area != "auto":
            _integer("min_area", self.min_area, 0, "a whole number >= 0 or 'auto'")
        _integer("win_size", self.win_size, 3, "an odd whole number >= 3")
        if self.win_size % 2 == 0:
            raise ParameterError(
                f"win_size={self.win_size} must be odd (e.g. 7); it is a window side."
            )
        _number("smoothing", self.smoothing, 0.0, 20.0, "a number from 0 to 20 (pixels)")
        _integer("morphology", self.morphology, 0, "a whole number >= 0 (pixels)")
        _integer("padding", self.padding, 0, "a whole number >= 0 (pixels)")
        if not isinstance(self.fill_holes, (bool, np.bool_)):
            raise ParameterError(f"fill_holes={self.fill_holes!r} must be True or False.")
        if self.ignore_antialiasing != "auto" and not isinstance(
            self.ignore_antialiasing, (bool, np.bool_)
        ):
            raise ParameterError(
                f"ignore_antialiasing={self.ignore_antialiasing!r} is not accepted; use "
                "True, False or 'auto'."
            )
        _number("alpha", self.alpha, 0.0, 1.0, "a number from 0 to 1")
        parse_color(self.color)
        parse_style(self.style)
        object.__setattr__(self, "ignore", _normalise_ignore(self.ignore))

    # Arrays cannot be compared with ==, so equality and hashing go through a key.
    def _key(self) -> tuple:
        return tuple(_hashable(getattr(self, f.name)) for f in fields(self))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DiffParams):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def replace(self, **changes: Any) -> DiffParams:
        """Return a copy with some parameters changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (an ignore mask is summarised, not listed)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "ignore" and isinstance(value, np.ndarray):
                value = {
                    "mask_shape": list(value.shape),
                    "pixels": int(value.sum()),
                    "sha1": _hashable(value)[1],  # tells two masks of one size apart
                }
            elif f.name == "ignore" and value is not None:
                value = [list(r) for r in value]
            elif isinstance(value, (tuple, list, np.ndarray)):
                value = np.asarray(value).tolist()  # e.g. an RGB colour, NumPy items too
            out[f.name] = value
        return out

    def value_key(self, names: tuple[str, ...]) -> tuple:
        """Hashable key of the named parameters (for the staged cache)."""
        return tuple(_hashable(getattr(self, n)) for n in names)


def _hashable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return (value.shape, hashlib.sha1(np.ascontiguousarray(value)).hexdigest())
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def _choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise ParameterError(
            f"{name}={value!r} is not accepted; use one of: {', '.join(map(repr, options))}."
        )


def _number(name, value, low, high, accepted, *, open_low=False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        ok = np.isfinite(value) and (low < value if open_low else low <= value) and value <= high
    if not ok:
        raise ParameterError(f"{name}={value!r} is not accepted; use {accepted}.")


def _integer(name, value, low, accepted) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ParameterError(f"{name}={value!r} is not accepted; use {accepted}.")


def _normalise_ignore(ignore: Any) -> IgnoreSpec:
    if ignore is None:
        return None
    if isinstance(ignore, np.ndarray) and ignore.ndim == 2 and ignore.dtype == bool:
        frozen = ignore.copy()
        frozen.flags.writeable = False
        return frozen
    if isinstance(ignore, np.ndarray) and not (ignore.ndim == 2 and ignore.shape[1] == 4):
        # (An array of 4 columns may be rectangles, read below.)
        shape = "x".join(map(str, ignore.shape))
        raise ParameterError(
            f"ignore=<{ignore.dtype} array of shape {shape}> is not accepted; pass a 2-D "
            "boolean mask the size of image A (e.g. mask > 0 for a mask read from a file, "
            "mask[..., 0] > 0 for an RGB one), or (row0, col0, row1, col1) rectangles."
        )
    message = (
        f"ignore={ignore!r:.80} is not accepted; use a list of (row0, col0, row1, col1) "
        "rectangles or a boolean mask the size of image A."
    )
    try:
        rects = tuple(tuple(int(v) for v in rect) for rect in ignore)
    except (TypeError, ValueError):
        raise ParameterError(message) from None
    if any(len(r) != 4 or r[2] < r[0] or r[3] < r[1] for r in rects):
        raise ParameterError(message)
    return rects or None
