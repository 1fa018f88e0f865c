"""Drawing the differences: overlays and the mask image (NumPy only, no pyplot).

Marks must be found at a glance, so outlines and boxes are drawn opaque with a
thickness that grows with the image, and a box is never drawn smaller than a
minimum size: a difference of a few pixels still gets a mark one can see.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from ._errors import ParameterError
from ._regions import Region

__all__ = [
    "STYLES",
    "box_geometry",
    "mask_image",
    "parse_color",
    "parse_style",
    "render_overlay",
    "to_uint8",
]

STYLES = ("fill", "outline", "boxes", "heatmap")
# pixelmatch's colour for anti-aliased pixels.
_AA_COLOUR = np.array([255, 255, 0], np.uint8)
# to_uint8 converts this many bytes of input at a time.
_STRIP_BYTES = 1 << 20
# Grey used to hatch pixels outside the compared area (no overlap, or ignored).
_HATCH_GREY = np.array([150, 150, 150], np.uint8)


def parse_color(color) -> tuple[float, float, float]:
    """Parse any matplotlib colour spec ("red", "#ff0000", (1, 0, 0), "C1") to RGB in [0, 1]."""
    from matplotlib.colors import to_rgb  # colour parsing only; no pyplot

    try:
        if isinstance(color, str) and color.lower() == "none":
            raise ValueError("no colour")
        return tuple(float(c) for c in to_rgb(color))
    except (ValueError, TypeError):
        raise ParameterError(
            f"color={color!r} is not a colour; use a matplotlib colour such as 'red', "
            "'#ff00ff', (1, 0, 0) or 'C1'."
        ) from None


def parse_style(style: str) -> tuple[str, ...]:
    """Split a style such as "fill+boxes" into its parts, validating each."""
    parts = tuple(p.strip() for p in str(style).split("+") if p.strip())
    bad = [p for p in parts if p not in STYLES]
    if not parts or bad:
        raise ParameterError(
            f"style={style!r} is not a drawing style; use one of {', '.join(STYLES)} "
            "or a combination joined by '+', e.g. 'fill+boxes'."
        )
    return parts


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a float image in [0, 1] to uint8 (rounded)."""
    out = np.empty(image.shape, np.uint8)
    # In row strips that stay in cache; the same arithmetic as on the whole.
    step = max(1, _STRIP_BYTES // max(image[:1].nbytes, 1))
    for start in range(0, image.shape[0], step):
        rows = slice(start, start + step)
        scaled = np.multiply(image[rows], 255.0, dtype=np.float32)
        scaled += 0.5
        np.clip(scaled, 0, 255, out=scaled)
        out[rows] = scaled
    return out


def line_width(shape: tuple[int, int]) -> int:
    """Outline and box thickness in pixels: 2 px, plus 1 px per 400 px of short side."""
    return 2 + min(shape) // 400


def box_geometry(bbox: Sequence[int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Grow a box to the minimum drawn size (centred, kept inside the image).

    The minimum side is 1/30 of the image's short side and at least 12 px.
    """
    row0, col0, row1, col1 = (int(v) for v in bbox)
    minimum = max(12, min(shape) // 30)
    rows = _grow(row0, row1, minimum, shape[0])
    cols = _grow(col0, col1, minimum, shape[1])
    return rows[0], cols[0], rows[1], cols[1]


def _grow(lo: int, hi: int, minimum: int, size: int) -> tuple[int, int]:
    pad = 2  # a box around, not on, the difference
    lo, hi = lo - pad, hi + pad
    if hi - lo < minimum:
        extra = minimum - (hi - lo)
        lo -= extra // 2
        hi += extra - extra // 2
    lo, hi = max(lo, 0), min(hi, size)
    short = min(minimum, size) - (hi - lo)
    if short > 0:  # cut by the image's edge: grown inwards instead
        if lo == 0:
            hi = min(hi + short, size)
        else:
            lo = max(lo - short, 0)
    return lo, hi


def render_overlay(
    base: np.ndarray,
    mask: np.ndarray,
    regions: Sequence[Region],
    *,
    color: tuple[float, float, float],
    alpha: float,
    style: tuple[str, ...],
    excluded: np.ndarray | None = None,
    score: np.ndarray | None = None,
    threshold: float = 0.5,
    antialiased: np.ndarray | None = None,
) -> np.ndarray:
    """Draw the differences on an image.

    Parameters
    ----------
    base : ndarray of uint8, shape (H, W, 3)
        The image to draw on; not modified.
    mask : ndarray of bool, shape (H, W)
    regions : sequence of Region
    color : tuple of float
        RGB in [0, 1].
    alpha : float
        Opacity of the fill and of the heatmap, in [0, 1].
    style : tuple of str
        Any of "fill", "outline", "boxes", "heatmap".
    excluded : ndarray of bool, optional
        Pixels not compared (outside the overlap, or ignored): hatched grey.
    score, threshold : optional
        The score map and the cut, for the heatmap style.
    antialiased : ndarray of bool, optional
        Changed pixels judged anti-aliasing: painted in yellow, as pixelmatch
        does, so they are seen apart from the marks.

    Returns
    -------
    ndarray of uint8, shape (H, W, 3)
    """
    out = base.copy()
    rgb = np.asarray(color, np.float32) * 255
    shape = mask.shape
    if excluded is not None and excluded.any():
        _hatch(out, excluded)
    if antialiased is not None and antialiased.any():
        out[antialiased] = _AA_COLOUR
    if "heatmap" in style and score is not None:
        _heatmap(out, score, threshold, alpha)
    if "fill" in style:
        rows, cols = np.nonzero(mask)
        pixels = out[rows, cols].astype(np.float32)
        out[rows, cols] = (pixels * (1 - alpha) + rgb * alpha + 0.5).astype(np.uint8)
    width = line_width(shape)
    colour8 = np.round(rgb).astype(np.uint8)
    if "outline" in style:
        for region in regions:
            _outline(out, mask, region.bbox, width, colour8)
    if "boxes" in style:
        for region in regions:
            row0, col0, row1, col1 = box_geometry(region.bbox, shape)
            out[row0 : row0 + width, col0:col1] = colour8
            out[max(row1 - width, row0) : row1, col0:col1] = colour8
            out[row0:row1, col0 : col0 + width] = colour8
            out[row0:row1, max(col1 - width, col0) : col1] = colour8
    return out


def _outline(out, mask, bbox, width, colour8) -> None:
    """Draw the boundary of one region, `width` px thick, outside its pixels."""
    row0, col0, row1, col1 = bbox
    pad = width + 1
    r0, c0 = max(row0 - pad, 0), max(col0 - pad, 0)
    r1, c1 = min(row1 + pad, mask.shape[0]), min(col1 + pad, mask.shape[1])
    crop = mask[r0:r1, c0:c1]
    grown = ndi.binary_dilation(crop, iterations=width)
    # A region of a few pixels gets a ring of at least a few pixels across.
    ring = grown & ~crop if crop.sum() > 4 else grown
    out[r0:r1, c0:c1][ring] = colour8


def _hatch(out: np.ndarray, excluded: np.ndarray) -> None:
    rows, cols = np.nonzero(excluded)
    stripe = ((rows + cols) // 6) % 2 == 0
    grey = out[rows, cols].astype(np.float32) * 0.4 + _HATCH_GREY * 0.6
    grey[stripe] = grey[stripe] * 0.7
    out[rows, cols] = grey.astype(np.uint8)


@lru_cache(maxsize=4)
def _colormap_lut(name: str = "inferno") -> np.ndarray:
    from matplotlib import colormaps  # the colour table only; no pyplot

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.float32)


def _heatmap(out: np.ndarray, score: np.ndarray, threshold: float, alpha: float) -> None:
    lut = _colormap_lut()
    index = np.clip(score * 255, 0, 255).astype(np.uint8)
    weight = alpha * np.clip(score / max(threshold, 1e-6), 0, 1)[..., None]
    blended = out.astype(np.float32) * (1 - weight) + lut[index] * weight
    out[...] = (blended + 0.5).astype(np.uint8)


def mask_image(mask: np.ndarray) -> np.ndarray:
    """The differences only: 255 where the images differ, 0 elsewhere (uint8, H x W)."""
    return mask.astype(np.uint8) * np.uint8(255)
