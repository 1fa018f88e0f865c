"""The staged pipeline behind :func:`compare`.

Data flows one way: frame -> register -> score -> noise -> threshold ->
cleanup -> regions -> render. Each stage is a pure function of the previous
stage's output and of the parameters it reads; a stage is recomputed only when
one of its parameters, or an earlier stage, changed. Moving the threshold
therefore never recomputes SSIM, and changing the colour never recomputes the
mask.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels

from ._align import auto_shift_fraction, fit_frame, register
from ._errors import ImageShapeError
from ._io import DEFAULT_MAX_PIXELS, ImageSource, load_image
from ._mask import (
    _SPECK_CLEAR,
    SupportMap,
    auto_min_area,
    cell_maxima,
    clean_labels,
    combine_components,
    cut_on_cells,
    estimate_noise,
    group_marks,
    ignore_mask,
    refine_to_support,
    threshold_with_cells,
)
from ._metrics import (
    apply_exposure,
    components_for,
    difference_components,
    fit_exposure,
)
from ._params import DiffParams
from ._pixel import aliased_vs_antialiased, pixel_delta
from ._regions import Region, find_regions
from ._render import mask_image, parse_color, parse_style, render_overlay, to_uint8

__all__ = ["DiffPipeline", "DiffResult", "compare"]


@dataclass(frozen=True, eq=False)
class DiffResult:
    """The outcome of one comparison.

    Attributes
    ----------
    mask : ndarray of bool, shape (H, W)
        True where the images differ.
    score_map : ndarray of float32, shape (H, W)
        Per-pixel difference, 0 = same ... 1 = most different.
    score : float
        One number for the pair: the mean of `score_map` over the compared area.
    regions : list of Region
        Connected differences, in reading order.
    overlay_a, overlay_b : ndarray of uint8, shape (H, W, 3)
        A and B (registered onto A) with the differences highlighted. Drawn
        at full resolution on first access (the widget draws its own
        screen-sized copies and never pays for these).
    mask_image : ndarray of uint8, shape (H, W)
        The differences only: 255 where the images differ, 0 elsewhere.
    timings : dict of str -> float
        Seconds spent in each stage that ran for this result; stages reused
        from the cache are absent.
    params : DiffParams
        The parameters used.
    threshold : float
        The cut applied to `score_map` (the chosen one when "auto").
    noise : dict of str -> float
        Per-component noise cut the automatic threshold derived.
    shift : tuple of float
        (rows, cols) that B was moved by to register it onto A.
    alignment : str
        The registration applied: "none", "translation", "affine" (a slight
        turn and zoom found by ``align="auto"``) or "homography".
    compared : ndarray of bool, shape (H, W)
        Pixels that were compared (in both images, not ignored).
    min_area : int
        The minimum region area applied (the chosen one when "auto").
    antialiased : ndarray of bool, shape (H, W)
        Pixels that changed but were judged anti-aliasing and so not marked
        (all False unless anti-aliasing is ignored; drawn in their own colour).

    Notes
    -----
    The arrays are read-only: a :class:`DiffPipeline` hands the same cached
    arrays to every later result that reuses them. Copy one to edit it.
    """

    mask: np.ndarray
    score_map: np.ndarray
    score: float
    regions: list[Region]
    _overlays: _Overlays = field(repr=False)
    timings: dict[str, float]
    params: DiffParams
    threshold: float
    noise: dict[str, float]
    shift: tuple[float, float]
    alignment: str
    compared: np.ndarray
    min_area: int
    antialiased: np.ndarray
    sources: tuple[Path | None, Path | None] = field(default=(None, None), repr=False)

    @property
    def overlay_a(self) -> np.ndarray:
        """A with the differences highlighted (uint8, H x W x 3)."""
        return self._overlays.overlay_a

    @property
    def overlay_b(self) -> np.ndarray:
        """B, registered onto A, with the differences highlighted (uint8, H x W x 3)."""
        return self._overlays.overlay_b

    @property
    def mask_image(self) -> np.ndarray:
        """The differences only: 255 where the images differ, else 0 (uint8, H x W)."""
        return self._overlays.mask_image

    @property
    def bases(self) -> tuple[np.ndarray, np.ndarray]:
        """The images the overlays are drawn on, unmarked: A, and B registered onto A.

        uint8, H x W x 3, in the result's frame. For drawing at another scale
        (the widget draws screen-sized copies) without the full-size overlays.
        """
        return self._overlays._bases

    @property
    def n_diff_pixels(self) -> int:
        """Number of pixels marked as different."""
        return int(np.count_nonzero(self.mask))

    @property
    def diff_fraction(self) -> float:
        """Marked pixels as a fraction of the image (0 to 1)."""
        return self.n_diff_pixels / self.mask.size

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description: regions, score, what auto chose, timings."""
        return {
            "image_size": {"height": self.mask.shape[0], "width": self.mask.shape[1]},
            "n_regions": len(self.regions),
            "regions": [r.to_dict() for r in self.regions],
            "score": self.score,
            "threshold": self.threshold,
            "noise": self.noise,
            "min_area": self.min_area,
            "shift": list(self.shift),
            "alignment": self.alignment,
            "n_diff_pixels": self.n_diff_pixels,
            "n_antialiased_pixels": int(np.count_nonzero(self.antialiased)),
            "diff_percent": 100.0 * self.diff_fraction,
            "params": self.params.to_dict(),
            "timings": self.timings,
        }

    def save(
        self, directory: str | Path, *, protect: Iterable[str | Path] = ()
    ) -> dict[str, Path]:
        """Write overlay_a.png, overlay_b.png, mask.png and regions.json.

        Files are written atomically (a temporary file, then a rename) and
        never over one of the input images.

        Parameters
        ----------
        directory : str or Path
            Created if missing.
        protect : iterable of str or Path, optional
            More files never to write over, e.g. the file an ignore mask was
            read from.

        Returns
        -------
        dict of str -> Path
            The written files by name.
        """
        from ._export import write_result

        return write_result(self, Path(directory), [Path(p) for p in protect])


StageFn = Callable[[Any, DiffParams, "DiffPipeline"], Any]


@dataclass(frozen=True)
class _Stage:
    name: str
    reads: tuple[str, ...]
    run: StageFn


def _frame(_, p: DiffParams, pipe: DiffPipeline):
    policy = p.size_mismatch
    if policy == "auto" and p.metric == "pixel":
        # Screenshots of another size are a layout change: compare the common
        # area and report the rest as a difference of its own.
        policy = "pad"
    return fit_frame(pipe.image_a, pipe.image_b, policy)


def _register(frame, p: DiffParams, pipe):
    # What differs in an ignored area (a screen, half the picture replaced)
    # must not move B, nor stop a camera shift from being applied.
    ignored = ignore_mask(p.ignore, frame.valid.shape, pipe.image_a.shape[:2])
    layout = p.metric == "pixel"
    reg = register(frame.compared_a, frame.b, frame.valid, p.align, ignored=ignored, layout=layout)
    if p.align == "auto" and reg.method != "none":
        shorter = min(frame.valid.shape)
        if max(abs(v) for v in reg.shift) > auto_shift_fraction(frame.valid.shape, True) * shorter:
            # Content that moved on a page (a sidebar opened, lines deleted)
            # looks like a camera move: moved back, the change hides in the
            # strip left uncompared. Say so.
            unseen = 100 * (1 - np.count_nonzero(reg.valid) / reg.valid.size)
            warnings.warn(
                f"B was moved by ({reg.shift[0]:+.0f}, {reg.shift[1]:+.0f}) px to match A, "
                f"and {unseen:.0f} % of A has no counterpart in B and is not compared. If "
                "the content moved within the picture (a page's layout) rather than the "
                "camera, compare with align='none' or metric='pixel'.",
                stacklevel=3,  # (the caller of DiffPipeline.run)
            )
    return {
        "frame": frame,
        "registration": reg,
        "ignored": ignored,  # the areas the user asked to ignore
        # The uint8 images drawn on: made on first use (compare() alone never
        # draws), then kept for every later result of this registration.
        "bases": _Bases(frame.a, reg.b),
    }


class _Bases:
    """A and registered B converted to uint8, each on first access."""

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self._float = (a, b)

    @cached_property
    def a(self) -> np.ndarray:
        return _read_only(to_uint8(self._float[0]))

    @cached_property
    def b(self) -> np.ndarray:
        return _read_only(to_uint8(self._float[1]))


def _read_only(array: np.ndarray) -> np.ndarray:
    """`array`, made read-only: results share the pipeline's cached arrays."""
    array.flags.writeable = False
    return array


def _score(registered, p: DiffParams, pipe):
    a = registered["frame"].compared_a
    reg = registered["registration"]
    names = components_for(p.metric)
    if "structure" in names and min(a.shape[:2]) < 3:
        raise ImageShapeError(
            f"the images are {a.shape[1]}x{a.shape[0]} px, too small for SSIM (3x3 at "
            "least); use metric='pixel', which compares pixel by pixel (the other photo "
            "metrics' clean-up drops marks this thin)."
        )
    # Photo metrics see B with A's exposure; the pixel metric sees B as it is,
    # as screenshot tools do. The overlays always show B as it is.
    ignored = registered["ignored"]
    # The exposure and the noise the structure term allows for are read where
    # the user looks: an ignored area (half the picture changed, say) or the
    # padding outside the overlap must set neither.
    looked_at = reg.valid & ~ignored if ignored.any() else reg.valid
    exposure = None
    if p.metric != "pixel":
        exposure = fit_exposure(a, reg.b, looked_at)
    # B with A's exposure is made strip by strip as it is read, never stored
    # whole; refinement makes the few crops it reads again.
    transform = None if p.metric == "pixel" else partial(_apply_on_crop, exposure)
    components = difference_components(
        a,
        reg.b,
        names,
        win_size=p.win_size,
        smoothing=p.smoothing,
        transform=transform,
        noise_where=None if looked_at.all() else looked_at,
    )
    # The changed pixels regions are trimmed to, found crop by crop on demand
    # and kept for every later threshold / min_area on this score.
    support = SupportMap(a, reg.b, transform=transform)
    valid = reg.valid
    if p.metric != "pixel" and not valid.all():
        # Windows and smoothing reach this far across the edge of the overlap,
        # where B's padding would score as a difference.
        valid = ndi.binary_erosion(valid, iterations=_reach(p), border_value=1)
    scored = {
        "registered": registered,
        "components": components,
        "support": support,
        "clean_cache": {},
        "valid": valid,
        "ignored": ignored,  # the areas the user asked to ignore
    }
    if p.metric == "pixel" or _ignores_antialiasing(p):
        # Every changed pixel is tested (threshold 0) so that the threshold
        # stage can cut anywhere without recomputing.
        # (The A shown, unless B is compared with A at B's resolution.)
        frame = registered["frame"]
        a8 = registered["bases"].a if frame.a_matched is None else to_uint8(frame.a_matched)
        found = pixel_delta(
            a8,
            registered["bases"].b,
            threshold=0.0,
            include_aa=True,
            checkerboard=False,
        )
        if p.metric == "pixel":
            components["pixel"] = found.delta
        scored["pixel_delta"] = found.delta
        scored["aa_flags"] = found.antialiased
        if not isinstance(p.ignore_antialiasing, str) and p.ignore_antialiasing:
            # Asked for explicitly (not "auto", pixelmatch's own test): edges
            # drawn aliased in one image and smoothed in the other go too.
            scored["aa_flags"] = found.antialiased | aliased_vs_antialiased(
                a8, registered["bases"].b
            )
    return scored


def _apply_on_crop(exposure, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return apply_exposure(a, b, exposure)


def _ignores_antialiasing(p: DiffParams) -> bool:
    if p.ignore_antialiasing == "auto":
        return p.metric == "pixel"
    return bool(p.ignore_antialiasing)


def _reach(p: DiffParams) -> int:
    """How far, in pixels, the photo metrics' windows and smoothing see."""
    return p.win_size // 2 + int(np.ceil(2 * p.smoothing))


def _noise(scored, p: DiffParams, _pipe):
    registered = scored["registered"]
    ignored = asked = scored["ignored"]
    if p.metric != "pixel" and ignored.any():
        # A change inside an ignored area reaches its neighbours through the
        # windows and smoothing: they are left out too, so it marks nothing.
        ignored = ndi.binary_dilation(ignored, iterations=_reach(p))
    if _ignores_antialiasing(p) and p.metric == "pixel":
        # Anti-aliased pixels are never marked (the photo metrics judge whole
        # regions instead, in the clean-up stage).
        ignored = ignored | scored["aa_flags"]
    compared = scored["valid"] & ~ignored
    levels = estimate_noise(scored["components"], compared)
    score_map = combine_components(scored["components"], levels)
    if not compared.all():
        score_map[~compared] = 0.0
    return {
        "registered": registered,
        "support": scored["support"],
        "clean_cache": scored["clean_cache"],
        "aa_flags": scored.get("aa_flags") if _ignores_antialiasing(p) else None,
        "pixel_delta": scored.get("pixel_delta"),
        "ignored": asked,  # the areas the user asked to ignore
        "levels": levels,
        "score_map": score_map,
        "compared": compared,
        "auto_threshold": levels[next(iter(scored["components"]))],
        # Per-cell maxima: a threshold change reads only the cells near the cut.
        "cell_max": cell_maxima(score_map),
        # DiffResult.score, computed once for every threshold / min_area / colour.
        "score": _pair_score(score_map, compared),
    }


def _pair_score(score_map: np.ndarray, compared: np.ndarray) -> float:
    """The mean of the score map over the compared pixels (0 when none is)."""
    if compared.all():  # the same values in the same order, without a copy
        return float(score_map.mean())
    return float(score_map[compared].mean()) if compared.any() else 0.0


def _threshold(noise, p: DiffParams, _pipe):
    threshold = noise["auto_threshold"] if p.threshold == "auto" else float(p.threshold)
    if p.metric == "pixel":
        # One changed pixel matters: an exact cut, as pixelmatch makes it
        # (read only on the cells whose maximum passes it).
        raw = cut_on_cells(noise["score_map"], threshold, noise["compared"], noise["cell_max"])
        cells = None
    else:
        raw, cells = threshold_with_cells(
            noise["score_map"], threshold, noise["compared"], cell_max=noise["cell_max"]
        )
    antialiased = np.zeros(raw.shape, bool)  # pages never written stay untouched
    if noise["aa_flags"] is not None:
        # Anti-aliased pixels changed enough to count: reported and drawn
        # apart, never marked (pixelmatch's cut for the photo metrics).
        cut = threshold if p.metric == "pixel" else _AA_REPORT_DELTA
        antialiased = noise["aa_flags"] & (noise["pixel_delta"] > cut)
        antialiased &= noise["registered"]["registration"].valid
        antialiased &= ~noise["ignored"]  # nothing is reported where the user looks away
    return {
        "noise": noise,
        "threshold": threshold,
        "raw": raw,
        "cells": cells,  # the cells holding a mark (photo metrics)
        "antialiased": antialiased,
    }


def _cleanup(thresholded, p: DiffParams, _pipe):
    raw = thresholded["raw"]
    noise = thresholded["noise"]
    registered = noise["registered"]
    if p.metric == "pixel":
        min_area = 1 if p.min_area == "auto" else int(p.min_area)
        # The mask stays exact (pixel counts match pixelmatch's); only the
        # grouping into regions looks across small gaps, so that a changed
        # word is one region, not one per letter.
        cells = noise["cell_max"] > thresholded["threshold"]
        labels, boxes = group_marks(
            raw, _PIXEL_GROUPING, min_area, cells, cache=noise["clean_cache"]
        )
        count = len(boxes)
        mask = None
    else:
        min_area = auto_min_area(raw.shape) if p.min_area == "auto" else int(p.min_area)
        labels, boxes = clean_labels(
            raw,
            min_area=min_area,
            morphology_radius=p.morphology,
            fill_holes=p.fill_holes,
            cells=thresholded["cells"],
            cache=noise["clean_cache"],
        )
        count = len(boxes)
        mask = np.zeros(raw.shape, bool)  # pages never written stay untouched
        # In place: the labels were made for this call alone.
        score_map, cut = noise["score_map"], np.float32(thresholded["threshold"])
        support = noise["support"]

        def keep_speck(crop, speck):
            # A region trimmed to a speck stays when the speck itself passed the
            # cut or changed clearly: a real change of a few pixels does; noise
            # that only the region's halo lifted over the cut (a dark, grainy
            # edge) does neither.
            if np.any(score_map[crop][speck] > cut):
                return True
            return bool(support.difference(crop)[speck].max() >= _SPECK_CLEAR)

        labels = refine_to_support(
            labels,
            None,
            None,
            boxes=boxes,
            support=support,
            overwrite=True,
            marked=mask,
            keep_speck=keep_speck,
        )
        if noise["aa_flags"] is not None:
            _drop_antialiasing_regions(labels, boxes, noise["aa_flags"], noise["pixel_delta"])
            mask = None
    if p.padding:
        labels = expand_labels(labels, distance=p.padding)
        boxes = mask = None
    extra = registered["frame"].extra
    if extra.any():
        # The area only one image has (size_mismatch="pad") is a region of its own.
        extra_labels, _ = ndi.label(extra & (labels == 0))
        labels = np.where(extra_labels > 0, extra_labels + count, labels)
        boxes = mask = None
    return {
        "thresholded": thresholded,
        "labels": labels,
        "boxes": boxes,  # each label's box, when known (the regions stage reads only those)
        "mask": _marked(labels, boxes) if mask is None else mask,
        "min_area": min_area,
    }


def _marked(labels: np.ndarray, boxes: list | None) -> np.ndarray:
    """``labels > 0``, read from the labels' boxes alone when they are known."""
    if boxes is None:
        return labels > 0
    mask = np.zeros(labels.shape, bool)  # pages never written stay untouched
    for box in boxes:
        if box is not None:
            np.greater(labels[box], 0, out=mask[box])
    return mask


def _drop_antialiasing_regions(
    labels: np.ndarray, boxes: list, aa_flags: np.ndarray, delta: np.ndarray
) -> None:
    """Remove (in place) the regions whose only changed pixels are anti-aliasing.

    A region goes when it holds anti-aliased pixels changed by more than
    pixelmatch's cut (``delta``, :data:`_AA_REPORT_DELTA`) and the other
    pixels changed that much number less than a tenth of them: pixelmatch
    would mark (next to) nothing there. Masking the flagged pixels before
    scoring instead cuts holes in real changes, whose edges the detector
    flags too (10-27 % of each region of odiff's changed text), and erases
    small ones (the 3 px highlights in Resemble's ghost). A region with no
    flagged pixel at all (a tint) is left alone.
    """
    for index, box in enumerate(boxes):
        if box is None:
            continue
        region = labels[box] == index + 1
        changed = region & (delta[box] > _AA_REPORT_DELTA)
        flagged = aa_flags[box]
        antialiased = np.count_nonzero(changed & flagged)
        if antialiased and np.count_nonzero(changed & ~flagged) < _AA_REAL_FRACTION * antialiased:
            labels[box][region] = 0
            boxes[index] = None


def _regions(cleaned, _p: DiffParams, _pipe):
    noise = cleaned["thresholded"]["noise"]
    return {
        "cleaned": cleaned,
        "regions": find_regions(cleaned["labels"], noise["score_map"], boxes=cleaned["boxes"]),
    }


class _Overlays:
    """The full-resolution drawings of one result, each made on first access."""

    def __init__(self, found, p: DiffParams) -> None:
        cleaned = found["cleaned"]
        noise = cleaned["thresholded"]["noise"]
        self._uint8 = noise["registered"]["bases"]
        self._mask = cleaned["mask"]
        self._regions = found["regions"]
        self._noise = noise
        self._thresholded = cleaned["thresholded"]
        # Parsed now, so that a bad colour or style fails in compare(), not on drawing.
        self._look = {
            "color": parse_color(p.color),
            "alpha": float(p.alpha),
            "style": parse_style(p.style),
        }

    @cached_property
    def _style(self) -> dict:
        # Full-size work, done only when a full-resolution drawing is made.
        return {
            **self._look,
            "excluded": ~self._noise["compared"] & ~self._mask,
            "score": self._noise["score_map"],
            "threshold": self._thresholded["threshold"],
            "antialiased": self._thresholded["antialiased"],
        }

    @property
    def _bases(self) -> tuple[np.ndarray, np.ndarray]:
        """A and registered B in uint8 (the same arrays for every result)."""
        return self._uint8.a, self._uint8.b

    @cached_property
    def overlay_a(self) -> np.ndarray:
        return _read_only(render_overlay(self._bases[0], self._mask, self._regions, **self._style))

    @cached_property
    def overlay_b(self) -> np.ndarray:
        return _read_only(render_overlay(self._bases[1], self._mask, self._regions, **self._style))

    @cached_property
    def mask_image(self) -> np.ndarray:
        return _read_only(mask_image(self._mask))


def _render(found, p: DiffParams, _pipe):
    return _Overlays(found, p)


# pixelmatch's default cut: with a photo metric, anti-aliased pixels changed
# more than this are reported (DiffResult.antialiased) when ignored.
_AA_REPORT_DELTA = 0.1
# With a photo metric, a region is anti-aliasing when its other changed
# pixels number less than this fraction of its anti-aliased ones.
_AA_REAL_FRACTION = 0.1
# Changed pixels this close (pixel metric) belong to one region.
_PIXEL_GROUPING = 3

_STAGES: tuple[_Stage, ...] = (
    _Stage("frame", ("size_mismatch", "metric"), _frame),
    _Stage("register", ("align", "ignore"), _register),  # (and metric, read by frame)
    # "metric" is keyed at the frame stage (the pixel metric pads other-sized
    # screenshots), so it re-runs everything from there; score reads it too.
    _Stage("score", ("win_size", "smoothing", "ignore_antialiasing"), _score),
    _Stage("noise", (), _noise),
    _Stage("threshold", ("threshold",), _threshold),
    _Stage("cleanup", ("min_area", "morphology", "fill_holes", "padding"), _cleanup),
    _Stage("regions", (), _regions),
    _Stage("render", ("color", "alpha", "style"), _render),
)

#: Stage names in order, and the parameters whose change re-runs that stage
#: and every later one (each parameter is keyed at the first stage reading it).
STAGE_PARAMS: dict[str, tuple[str, ...]] = {s.name: s.reads for s in _STAGES}


class DiffPipeline:
    """Two loaded images and a cache of every stage's last output.

    Parameters
    ----------
    a, b : path, bytes, PIL image or ndarray
        The images to compare (see :func:`load_image`).
    max_pixels : int or None, optional
        Decompression-bomb limit passed to :func:`load_image`.

    Examples
    --------
    >>> pipe = DiffPipeline(a, b)                       # doctest: +SKIP
    >>> result = pipe.run(DiffParams())                 # doctest: +SKIP
    >>> result = pipe.run(result.params.replace(threshold=0.3))  # no SSIM rerun
    """

    def __init__(
        self,
        a: ImageSource,
        b: ImageSource,
        *,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        start = time.perf_counter()
        self.image_a = load_image(a, name=_label(a, "A"), max_pixels=max_pixels)
        self.image_b = load_image(b, name=_label(b, "B"), max_pixels=max_pixels)
        self.sources = (_path_of(a), _path_of(b))
        self._load_seconds = time.perf_counter() - start
        self._cache: dict[str, tuple[tuple, Any]] = {}

    def run(self, params: DiffParams | None = None) -> DiffResult:
        """Run (or reuse) every stage for `params` and return the result."""
        params = params if params is not None else DiffParams()
        timings: dict[str, float] = {}
        if self._load_seconds is not None:
            timings["load"] = self._load_seconds
            self._load_seconds = None
        key: tuple = ()
        output: Any = None
        for stage in _STAGES:
            key = (key, params.value_key(stage.reads))
            cached = self._cache.get(stage.name)
            if cached is not None and cached[0] == key:
                output = cached[1]
                continue
            start = time.perf_counter()
            output = stage.run(output, params, self)
            timings[stage.name] = time.perf_counter() - start
            self._cache[stage.name] = (key, output)
        return self._result(params, timings)

    def _result(self, params: DiffParams, timings: dict[str, float]) -> DiffResult:
        overlays = self._cache["render"][1]
        found = self._cache["regions"][1]
        cleaned = found["cleaned"]
        thresholded = cleaned["thresholded"]
        noise = thresholded["noise"]
        reg = noise["registered"]["registration"]
        compared = noise["compared"]
        score_map = noise["score_map"]
        return DiffResult(
            mask=_read_only(cleaned["mask"]),
            score_map=_read_only(score_map),
            score=noise["score"],
            regions=list(found["regions"]),  # Region is frozen; the list is the caller's
            _overlays=overlays,
            timings=timings,
            params=params,
            threshold=float(thresholded["threshold"]),
            noise=dict(noise["levels"]),
            shift=tuple(float(s) for s in reg.shift),
            alignment=reg.method,
            compared=_read_only(compared),
            min_area=int(cleaned["min_area"]),
            antialiased=_read_only(thresholded["antialiased"]),
            sources=self.sources,
        )


def _label(source: Any, which: str) -> str:
    path = _path_of(source)
    return f"image {which} ({path})" if path is not None else f"image {which}"


def _path_of(source: Any) -> Path | None:
    """The file an input was read from: a path, or a PIL image opened from a file."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source)
    if isinstance(source, Image.Image) and getattr(source, "filename", ""):
        return Path(source.filename)
    return None


def compare(
    a: ImageSource,
    b: ImageSource,
    params: DiffParams | None = None,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    **kwargs: Any,
) -> DiffResult:
    """Find where two images differ.

    Parameters
    ----------
    a, b : path, bytes, PIL image or ndarray
        The two images: grey, RGB or RGBA; uint8, uint16 or float in [0, 1].
        They are never modified.
    params : DiffParams, optional
        All parameters at once; keyword arguments override its fields.
    max_pixels : int or None, optional
        Refuse larger images (decompression-bomb guard).
    **kwargs
        Any :class:`DiffParams` field, e.g. ``threshold=0.3, color="lime"``.

    Returns
    -------
    DiffResult

    Raises
    ------
    ImageDiffError
        For every expected failure (unreadable input, bad parameter, sizes
        that differ), with a message that says what to do.
    TypeError
        For a keyword that is not a parameter.

    Examples
    --------
    >>> from imgdiff_widget import compare
    >>> result = compare("before.jpg", "after.jpg")          # doctest: +SKIP
    >>> len(result.regions), result.save("out")              # doctest: +SKIP
    """
    base = params if params is not None else DiffParams()
    resolved = base.replace(**kwargs) if kwargs else base
    return DiffPipeline(a, b, max_pixels=max_pixels).run(resolved)
