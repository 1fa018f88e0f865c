"""Display-resolution copies of a result, and crops of the full-resolution data.

NumPy only (no matplotlib, no ipywidgets). The widget never draws from the
full-resolution overlays of a :class:`~imgdiff_widget.DiffResult`: it keeps
copies whose long side is at most :data:`DISPLAY_LIMIT` pixels (downsampled
once per registration for the images, once per result for the mask), and when
the view is zoomed in it renders only the visible part, at screen resolution,
from the full-resolution arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .._mask import auto_min_area, clean_mask
from .._params import DiffParams
from .._regions import Region
from .._render import parse_color, parse_style, render_overlay

__all__ = ["DISPLAY_LIMIT", "Crop", "DisplayCopy", "block_max", "block_mean", "preview"]

#: Longest side, in pixels, of the images the widget draws.
DISPLAY_LIMIT = 1400


def display_step(shape: tuple[int, int], limit: int = DISPLAY_LIMIT) -> int:
    """Integer downsampling factor that brings the long side to at most `limit`."""
    return max(1, math.ceil(max(shape[:2]) / limit))


def _pad_to(array: np.ndarray, step: int, mode: str) -> np.ndarray:
    rows = -array.shape[0] % step
    cols = -array.shape[1] % step
    if not rows and not cols:
        return array
    pad = [(0, rows), (0, cols)] + [(0, 0)] * (array.ndim - 2)
    if mode == "edge":
        return np.pad(array, pad, mode="edge")
    return np.pad(array, pad, mode="constant")


def block_max(array: np.ndarray, step: int) -> np.ndarray:
    """Downsample a 2-D array by `step` keeping each block's maximum.

    A difference of one pixel stays visible at any zoom (a block is marked
    when any of its pixels is).
    """
    if step == 1:
        return array
    padded = _pad_to(array, step, "constant")
    h, w = padded.shape[0] // step, padded.shape[1] // step
    return padded.reshape(h, step, w, step).max(axis=(1, 3))


def block_mean(image: np.ndarray, step: int) -> np.ndarray:
    """Downsample a uint8 H x W x C image by `step` (box filter, no aliasing)."""
    if step == 1:
        return image
    padded = _pad_to(image, step, "edge")
    h, w = padded.shape[0] // step, padded.shape[1] // step
    total = padded.reshape(h, step, w, step, -1).sum(axis=(1, 3), dtype=np.uint32)
    return ((total + step * step // 2) // (step * step)).astype(np.uint8)


def full_bases(result) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images a result draws on: A, and B registered onto A."""
    return result.bases


def drawn_style(style: str) -> tuple[str, ...]:
    """Style parts drawn into pixels; "boxes" are drawn as matplotlib patches."""
    return tuple(p for p in parse_style(style) if p != "boxes")


@dataclass
class Crop:
    """A rendered piece of the view: pixels and where they sit in A's frame."""

    overlay_a: np.ndarray
    overlay_b: np.ndarray
    mask: np.ndarray
    score: np.ndarray
    extent: tuple[float, float, float, float]  # left, right, bottom, top (imshow)


class DisplayCopy:
    """Screen-sized copies of one pipeline state, refreshed piecewise.

    Bases are downsampled when the registration changes, the score map when
    the score changes, and the mask for each result; overlays are drawn at
    display resolution by :func:`~imgdiff_widget._render.render_overlay`.
    """

    def __init__(self, limit: int = DISPLAY_LIMIT) -> None:
        self.limit = limit
        self.step = 1
        self.shape = (0, 0)
        self._sources: list = [None, None, None, None]  # base A, base B, score, mask
        self._bases_id = 0
        self._score_id = 0
        self.base_a = self.base_b = None
        self.score = self.compared = self.mask = None
        self.histogram = None
        self.antialiased = None
        self._reduced = None
        self._reduced_score = None

    # -- refresh from a result ------------------------------------------------
    def update(self, result) -> None:
        """Refresh whatever changed since the last result."""
        base_a, base_b = full_bases(result)
        self.shape = result.mask.shape
        self.step = display_step(self.shape, self.limit)
        # Sources are compared by identity and kept referenced, so an id is never reused.
        if self._sources[0] is not base_a or self._sources[1] is not base_b:
            self.base_a = block_mean(base_a, self.step)
            self.base_b = block_mean(base_b, self.step)
            self._sources[0:2] = [base_a, base_b]
            self._bases_id += 1
        if self._sources[2] is not result.score_map:
            self.score = block_max(result.score_map, self.step)
            # A display pixel is compared when any of its pixels is.
            self.compared = block_max(result.compared, self.step)
            quantised = np.minimum(result.score_map[result.compared] * 255, 255)
            self.histogram = np.bincount(quantised.astype(np.uint8), minlength=256)
            self._sources[2] = result.score_map
            self._score_id += 1
        if self._sources[3] is not result.mask:
            self.mask = block_max(result.mask, self.step)
            antialiased = getattr(result, "antialiased", None)
            self.antialiased = (
                block_max(antialiased, self.step)
                if antialiased is not None and antialiased.any()
                else None
            )
            self._sources[3] = result.mask

    def render(
        self, params: DiffParams, threshold: float, regions, mask=None, extra: int = 1
    ) -> Crop:
        """Draw both overlays of the whole image, `extra` times coarser than the copy.

        `extra` > 1 brings the copy down to the size of the panel on screen,
        so drawing and resampling cost what the screen shows, not more.
        """
        exact = mask is None or mask is self.mask
        mask = self.mask if mask is None else mask
        key = (self._bases_id, extra)
        if self._reduced is None or self._reduced[0] != key:
            self._reduced = (
                key,
                block_mean(self.base_a, extra),
                block_mean(self.base_b, extra),
            )
        if self._reduced_score is None or self._reduced_score[0] != (self._score_id, extra):
            self._reduced_score = (
                (self._score_id, extra),
                block_max(self.score, extra),
                block_max(self.compared, extra),
            )
        base_a, base_b = self._reduced[1:]
        score, compared = self._reduced_score[1:]
        mask = block_max(mask, extra)
        style = _style_kwargs(params, threshold, score, mask, compared)
        if exact and self.antialiased is not None:
            style["antialiased"] = block_max(self.antialiased, extra)
        small = _scale_regions(regions, self.step * extra)
        h, w = mask.shape
        step = self.step * extra
        return Crop(
            render_overlay(base_a, mask, small, **style),
            render_overlay(base_b, mask, small, **style),
            mask,
            score,
            (-0.5, w * step - 0.5, h * step - 0.5, -0.5),
        )


def render_crop(result, params: DiffParams, view, step: int) -> Crop | None:
    """Render the visible part of `result`, `step` full-resolution pixels per pixel.

    Parameters
    ----------
    view : (x0, x1, y0, y1)
        Visible rectangle in A's pixel coordinates.
    step : int
        Downsampling of the crop (1 = full resolution).

    Returns
    -------
    Crop, or None when nothing is visible.
    """
    height, width = result.mask.shape
    x0, x1 = sorted(view[:2])
    y0, y1 = sorted(view[2:])
    c0, c1 = max(0, math.floor(x0 + 0.5)), min(width, math.ceil(x1 + 0.5))
    r0, r1 = max(0, math.floor(y0 + 0.5)), min(height, math.ceil(y1 + 0.5))
    if c1 <= c0 or r1 <= r0:
        return None
    window = (slice(r0, r1), slice(c0, c1))
    base_a, base_b = full_bases(result)
    mask = block_max(result.mask[window], step)
    score = block_max(result.score_map[window], step)
    compared = block_max(result.compared[window], step)
    style = _style_kwargs(params, result.threshold, score, mask, compared)
    antialiased = getattr(result, "antialiased", None)
    if antialiased is not None and antialiased[window].any():
        style["antialiased"] = block_max(antialiased[window], step)
    regions = [
        _shifted(r, r0, c0, step)
        for r in result.regions
        if r.bbox[0] < r1 and r.bbox[2] > r0 and r.bbox[1] < c1 and r.bbox[3] > c0
    ]
    h, w = mask.shape
    return Crop(
        render_overlay(block_mean(base_a[window], step), mask, regions, **style),
        render_overlay(block_mean(base_b[window], step), mask, regions, **style),
        mask,
        score,
        (c0 - 0.5, c0 + w * step - 0.5, r0 + h * step - 0.5, r0 - 0.5),
    )


def _style_kwargs(params, threshold, score, mask, compared) -> dict:
    return {
        "color": parse_color(params.color),
        "alpha": float(params.alpha),
        "style": drawn_style(params.style),
        "excluded": ~compared & ~mask,
        "score": score,
        "threshold": threshold,
    }


def _shifted(region: Region, row: int, col: int, step: int) -> Region:
    r0, c0, r1, c1 = region.bbox
    return Region(
        region.label,
        ((r0 - row) // step, (c0 - col) // step, -(-(r1 - row) // step), -(-(c1 - col) // step)),
        region.area,
        region.centroid,
        region.peak,
        region.mean_score,
    )


def _scale_regions(regions, step: int) -> list[Region]:
    return [_shifted(r, 0, 0, step) for r in regions]


def preview(copy: DisplayCopy, params: DiffParams, threshold: float) -> tuple:
    """Threshold and clean the display copy of the score map.

    A fast approximation of the threshold and clean-up stages shown while the
    full-resolution result is computed: sizes are scaled by the display step.

    Returns
    -------
    mask : ndarray of bool
        At display resolution.
    regions : list of Region
        In A's full-resolution coordinates (areas approximate).
    """
    step = copy.step
    raw = (copy.score > threshold) & copy.compared
    min_area = auto_min_area(copy.shape) if params.min_area == "auto" else int(params.min_area)
    mask = clean_mask(
        raw,
        min_area=max(1, round(min_area / step**2)),
        morphology_radius=round(params.morphology / step),
        fill_holes=params.fill_holes,
        padding=round(params.padding / step),
    )
    labels, _count = ndi.label(mask, structure=np.ones((3, 3), bool))
    regions = []
    for number, box in enumerate(ndi.find_objects(labels)[:1000], start=1):
        inside = labels[box] == number
        scores = copy.score[box][inside]
        rows, cols = np.nonzero(inside)
        regions.append(
            Region(
                number,
                (
                    box[0].start * step,
                    box[1].start * step,
                    min(box[0].stop * step, copy.shape[0]),
                    min(box[1].stop * step, copy.shape[1]),
                ),
                int(inside.sum()) * step * step,
                (
                    float((rows.mean() + box[0].start + 0.5) * step),
                    float((cols.mean() + box[1].start + 0.5) * step),
                ),
                float(scores.max()),
                float(scores.mean()),
            )
        )
    return mask, regions
