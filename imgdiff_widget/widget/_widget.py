"""DiffWidget: one pipeline, a control panel and live matplotlib views."""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from .._errors import ImageDiffError
from .._io import DEFAULT_MAX_PIXELS, ImageSource
from .._params import DiffParams
from .._pipeline import STAGE_PARAMS, DiffPipeline, DiffResult
from .._regions import Region
from .._render import parse_color, parse_style
from ._controls import Controls
from ._display import DISPLAY_LIMIT, Crop, DisplayCopy, preview, render_crop
from ._figure import VIEWS, DiffFigure, active_backend

__all__ = ["PARAM_NAMES", "DiffWidget"]

_log = logging.getLogger(__name__)

#: Every DiffParams field; each is a traitlet of DiffWidget.
PARAM_NAMES = tuple(f.name for f in fields(DiffParams))
_DEFAULTS = DiffParams()
_RENDER_ONLY = frozenset(STAGE_PARAMS["render"])
# Changes the widget can preview from the display copy of the score map.
_PREVIEWABLE = frozenset(STAGE_PARAMS["threshold"] + STAGE_PARAMS["cleanup"]) | _RENDER_ONLY
_VIEW_TRAITS = ("view", "blend", "swipe", "flicker")


def _param_traits() -> dict[str, traitlets.TraitType]:
    """One traitlet per DiffParams field, typed where the type is simple."""
    typed = {
        "metric": traitlets.Unicode,
        "align": traitlets.Unicode,
        "size_mismatch": traitlets.Unicode,
        "style": traitlets.Unicode,
        "win_size": traitlets.Int,
        "morphology": traitlets.Int,
        "padding": traitlets.Int,
        "smoothing": traitlets.Float,
        "alpha": traitlets.Float,
        "fill_holes": traitlets.Bool,
    }
    return {name: typed.get(name, traitlets.Any)(getattr(_DEFAULTS, name)) for name in PARAM_NAMES}


@dataclass
class _Shown:
    """What the panels currently draw: an exact result or a preview of one."""

    params: DiffParams
    mask: np.ndarray  # display resolution
    regions: list[Region]
    threshold: float
    exact: bool


class DiffWidget(widgets.VBox):
    """Compare two images interactively: controls, linked views, region table.

    Every :class:`~imgdiff_widget.DiffParams` field is a traitlet kept in sync
    with its control both ways (``w.threshold = 0.2`` moves the slider and
    redraws; moving the slider sets ``w.threshold``). The widget holds one
    :class:`~imgdiff_widget.DiffPipeline`, so a change recomputes only the
    stages that read it.

    Parameters
    ----------
    a, b : path, bytes, PIL image or ndarray
        The images to compare.
    params : DiffParams, optional
        Starting parameters; keyword arguments override its fields.
    backend : {"ipympl", "png"}, optional
        How the figure is shown. Default: ipympl's interactive canvas when the
        ``widget`` (ipympl) backend is active, else a PNG in an
        :class:`ipywidgets.Image` (VS Code, Colab, Voila, JupyterLab inline).
    background : bool, optional
        Compute slow stages in a worker thread and show a display-resolution
        preview meanwhile. Default: True when an event loop runs (a Jupyter
        kernel), False in plain scripts and tests (every change is applied
        before the setter returns).
    display_limit : int
        Longest side, in pixels, of the images drawn (zoomed views are
        re-rendered at this size from the full-resolution data).
    figsize : (float, float), optional
        Figure size in inches (100 dpi); by default 12 wide and as tall as
        the side-by-side panels need for the image's aspect ratio.
    max_pixels : int or None, optional
        Refuse images with more pixels than this, as :func:`~imgdiff_widget.compare`
        does (None: no limit).
    **kwargs
        Any DiffParams field, and the view settings ``view``, ``blend``,
        ``swipe``, ``flicker``.

    Attributes
    ----------
    result : DiffResult or None
        The current result (observable: ``w.observe(callback, "result")``).
    params : DiffParams
        The current parameters.
    figure : matplotlib.figure.Figure
        The figure drawn (owned by the widget; closed by :meth:`close`).
    error : str
        The last error shown in the panel ("" when none).
    busy : bool
        True while a slow change is being computed.

    Examples
    --------
    >>> from imgdiff_widget import DiffWidget
    >>> w = DiffWidget("before.jpg", "after.jpg", color="lime")  # doctest: +SKIP
    >>> w                                                          # doctest: +SKIP
    >>> w.threshold = 0.3; len(w.result.regions)                   # doctest: +SKIP
    """

    # Every DiffParams field is a trait (see _param_traits).
    locals().update(_param_traits())
    # View settings.
    view = traitlets.Enum(VIEWS, default_value="side")
    blend = traitlets.Float(0.5)
    swipe = traitlets.Float(0.5)
    flicker = traitlets.Enum(("A", "B"), default_value="A")
    # Outputs.
    result = traitlets.Instance(DiffResult, allow_none=True)
    error = traitlets.Unicode("")
    busy = traitlets.Bool(False)

    def __init__(
        self,
        a: ImageSource,
        b: ImageSource,
        params: DiffParams | None = None,
        *,
        backend: str | None = None,
        background: bool | None = None,
        display_limit: int = DISPLAY_LIMIT,
        figsize: tuple[float, float] | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        **kwargs: Any,
    ) -> None:
        param_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in PARAM_NAMES}
        view_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _VIEW_TRAITS}
        unknown = [k for k in kwargs if k not in ("layout",)]
        if unknown:
            raise TypeError(f"DiffWidget got unexpected keyword argument(s): {unknown}")
        super().__init__(**kwargs)
        self._closed = False
        self._syncing = 0
        self._lock = threading.RLock()  # pipeline, figure and display copy
        self._worker: threading.Thread | None = None
        self._delivery = None  # a finished result waiting for the kernel's loop
        self._busy_since = 0.0
        self._busy_text: str | None = None
        self._loop = _running_loop()
        self._background = (self._loop is not None) if background is None else bool(background)
        self._display_limit = int(display_limit)
        self._display = DisplayCopy(self._display_limit)
        self._shown: _Shown | None = None
        self._crop_cache: tuple | None = None
        self._zoom_cache: tuple | None = None
        self._selected: Region | None = None  # the region zoomed to from the table
        self._idle = threading.Event()
        self._idle.set()

        messages = []
        try:
            base = params if params is not None else DiffParams()
            self._params = base.replace(**param_kwargs) if param_kwargs else base
        except ImageDiffError as exc:
            messages.append(str(exc))
            self._params = DiffParams()
        self._wanted = self._params
        try:
            self._pipe: DiffPipeline | None = DiffPipeline(a, b, max_pixels=max_pixels)
            shape = self._pipe.image_a.shape[:2]
        except ImageDiffError as exc:
            messages.append(str(exc))
            self._pipe = None
            shape = (2, 2)

        self._controls = Controls(
            self._on_control, self._on_action, max_area=max(1000, shape[0] * shape[1] // 1000)
        )
        self._figure = DiffFigure(backend or active_backend(), shape, figsize=figsize, dpi=100)
        self._figure.source = self._source
        c = self._controls
        self.children = [
            c.top,
            c.error,
            self._figure.widget,
            c.status,
            c.panel,
        ]
        self.add_class("imgdiff-widget")

        with self._quiet_traits():
            for name in PARAM_NAMES:
                setattr(self, name, getattr(self._params, name))
            for name, value in view_kwargs.items():
                setattr(self, name, value)
        for name in PARAM_NAMES:
            c.set(name, getattr(self._params, name))
        for name in _VIEW_TRAITS:
            c.set(name, getattr(self, name))
        self._apply_view_settings()

        if messages:
            self._show_error(" ".join(messages))
        if self._pipe is not None:
            self._request(self._params, first=True)
        else:
            c.set_status("no images loaded")
            self._figure.redraw()

    # -- public API -----------------------------------------------------------
    @property
    def params(self) -> DiffParams:
        """The current parameters (setting it applies all fields at once)."""
        return self._params

    @params.setter
    def params(self, params: DiffParams) -> None:
        if not isinstance(params, DiffParams):
            raise TypeError(f"params must be a DiffParams, not {type(params).__name__}")
        changed = {
            n for n in PARAM_NAMES if params.value_key((n,)) != self._params.value_key((n,))
        }
        if not changed:
            return
        with self._quiet_traits():
            for name in changed:
                setattr(self, name, getattr(params, name))
        for name in changed:
            self._controls.set(name, getattr(params, name))
        self._params = params
        self._request(params)

    @property
    def figure(self):
        """The matplotlib Figure (owned by this widget)."""
        return self._figure.figure

    @property
    def controls(self) -> Controls:
        """The control widgets (for custom layouts and tests)."""
        return self._controls

    def wait(self, timeout: float | None = 60.0) -> DiffResult | None:
        """Block until background work is done; return the current result."""
        if not self._on_loop_thread():
            if not self._idle.wait(timeout):
                raise TimeoutError("the comparison is still running")
            return self.result
        # Called from a notebook cell: the kernel's loop (this thread) is what
        # would hand the worker's result over, so hand it over here instead.
        deadline = None if timeout is None else time.perf_counter() + timeout
        while not self._idle.is_set():
            worker = self._worker
            remaining = None if deadline is None else max(deadline - time.perf_counter(), 0)
            if worker is not None:
                worker.join(remaining)
            self._run_delivery()
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeoutError("the comparison is still running")
            if not self._idle.is_set():
                time.sleep(0.01)
        return self.result

    def _on_loop_thread(self) -> bool:
        if self._loop is None:
            return False
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _run_delivery(self) -> None:
        """Apply a finished computation's result, if one is waiting."""
        with self._lock:
            apply, self._delivery = self._delivery, None
        if apply is not None:
            apply()

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write overlay_a.png, overlay_b.png, mask.png and regions.json.

        The same files as :meth:`DiffResult.save` for the current result (after
        waiting for any computation in progress).
        """
        self.wait()
        if self.result is None:
            raise ImageDiffError("nothing to save: the images could not be compared.")
        return self.result.save(directory)

    def select_region(self, label: int | None) -> None:
        """Zoom every panel to region `label` (1-based), or reset for None."""
        regions = self._shown.regions if self._shown else []
        region = next((r for r in regions if r.label == label), None)
        if region is None:
            self._selected = None
            self.reset_zoom()
            return
        self._selected = region
        with self._controls.quiet():
            self._controls.regions.value = region.label
        with self._lock:
            self._figure.zoom_to(region.bbox)
            self._figure.redraw()

    def next_region(self) -> None:
        """Zoom to the next difference (wraps around)."""
        self._step_region(+1)

    def previous_region(self) -> None:
        """Zoom to the previous difference (wraps around)."""
        self._step_region(-1)

    def reset_zoom(self) -> None:
        """Show the whole images."""
        self._selected = None
        with self._controls.quiet():
            self._controls.regions.value = None
        with self._lock:
            self._figure.reset_zoom()
            self._figure.redraw()

    def close(self) -> None:
        """Close the figure, every child widget and release the images."""
        if getattr(self, "_closed", True):
            return super().close()
        self._closed = True
        self._wanted = None
        self._idle.set()
        with self._lock:
            figure_widget = self._figure.widget
            self._figure.close()
            for child in _reachable_widgets([self, figure_widget, *self._controls.all_widgets()]):
                if child is not self:
                    child.close()
            self._pipe = None
            self._display = None
            self._shown = None
            self._crop_cache = None
            with self._quiet_traits():
                self.result = None
        super().close()

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if not self._closed:
            # Saved notebooks show the last view as a static image.
            with self._lock:
                png = self._figure.png()
            bundle["image/png"] = base64.b64encode(png).decode("ascii")
        return bundle

    # -- trait and control events -----------------------------------------------
    def _quiet_traits(self):
        widget = self

        class _Quiet:
            def __enter__(self):
                widget._syncing += 1

            def __exit__(self, *exc):
                widget._syncing -= 1

        return _Quiet()

    @traitlets.observe(*PARAM_NAMES)
    def _param_trait_changed(self, change) -> None:
        if self._syncing or self._closed:
            return
        name, value = change["name"], change["new"]
        try:
            params = self._params.replace(**{name: value})
        except ImageDiffError as exc:
            self._show_error(str(exc))
            with self._quiet_traits():
                setattr(self, name, getattr(self._params, name))
            self._controls.set(name, getattr(self._params, name))
            return
        self._controls.set(name, value)
        if params == self._params:
            return
        self._params = params
        self._request(params)

    @traitlets.observe(*_VIEW_TRAITS)
    def _view_trait_changed(self, change) -> None:
        if self._syncing or self._closed:
            return
        self._controls.set(change["name"], change["new"])
        self._apply_view_settings()
        with self._lock:
            self._figure.redraw()

    def _apply_view_settings(self) -> None:
        fig = self._figure
        fig.blend, fig.flicker = float(self.blend), self.flicker
        fig.set_view(self.view)
        fig.set_swipe(float(self.swipe))

    def _on_control(self, name: str, value: Any) -> None:
        setattr(self, name, value)

    def _on_action(self, name: str, value: Any) -> None:
        if name == "error":
            self._show_error(str(value))
        elif name == "region":
            self.select_region(value)
        elif name == "next":
            self.next_region()
        elif name == "previous":
            self.previous_region()
        elif name == "reset":
            self.reset_zoom()
        elif name == "ignore_zoom":
            self._ignore_zoomed()
        elif name == "export":
            self._export()

    def _export(self) -> None:
        folder = self._controls.folder.value.strip() or "imgdiff-output"
        try:
            written = self.save(folder)
        except (ImageDiffError, OSError) as exc:
            self._controls.export_status.value = (
                f"<span style='color:#a00000'>not saved: {_esc(exc)}</span>"
            )
            return
        where = Path(folder).resolve()
        names = ", ".join(p.name for p in written.values())
        self._controls.export_status.value = f"saved {_esc(names)} in <code>{_esc(where)}</code>"

    def _ignore_zoomed(self) -> None:
        x0, x1, y0, y1 = self._figure.view_rect()
        height, width = self._figure.shape
        rect = (
            max(0, round(min(y0, y1) + 0.5)),
            max(0, round(min(x0, x1) + 0.5)),
            min(height, round(max(y0, y1) + 0.5)),
            min(width, round(max(x0, x1) + 0.5)),
        )
        if rect == (0, 0, height, width):
            self._show_error("zoom in first: the ignore region is the zoomed area.")
            return
        current = self._params.ignore
        if isinstance(current, np.ndarray):
            self._show_error("ignore is a mask; set w.ignore to change it.")
            return
        self.ignore = (*(current or ()), rect)
        self.reset_zoom()

    def _step_region(self, step: int) -> None:
        regions = self._shown.regions if self._shown else []
        if not regions:
            return
        labels = [r.label for r in regions]
        if self._selected is not None and self._selected.label in labels:
            index = (labels.index(self._selected.label) + step) % len(labels)
        else:
            index = 0 if step > 0 else len(labels) - 1
        self.select_region(labels[index])

    # -- computing ------------------------------------------------------------
    def _request(self, params: DiffParams, *, first: bool = False) -> None:
        if self._pipe is None or self._closed:
            return
        self._show_error(None)
        shown = self._shown
        changed = (
            set(PARAM_NAMES)
            if shown is None
            else {n for n in PARAM_NAMES if params.value_key((n,)) != shown.params.value_key((n,))}
        )
        if not self._background:
            self._set_busy(_busy_text(changed, first))
            try:
                with self._lock:
                    result = self._pipe.run(params)
            except ImageDiffError as exc:
                self._set_busy(None)
                self._rejected(exc)
                return
            self._set_busy(None)
            self._apply(result)
            return
        with self._lock:
            self._wanted = params
            running = self._worker is not None
            if changed <= _RENDER_ONLY and not running:
                try:
                    result = self._pipe.run(params)
                except ImageDiffError as exc:
                    self._rejected(exc)
                    return
                self._apply(result)
                return
            if shown is not None and changed <= _PREVIEWABLE:
                # Drawn before the worker starts, so it does not compete for the CPU.
                self._show_preview(params, now=True)
            if not running:
                self._idle.clear()
                self._busy_since = time.perf_counter()
                self._worker = threading.Thread(
                    target=self._work, name="imgdiff-widget", daemon=True
                )
                self._worker.start()
                threading.Thread(target=self._heartbeat, daemon=True).start()
        self._set_busy(_busy_text(changed, first))

    def _work(self) -> None:
        while True:
            params = self._wanted
            if params is None or self._pipe is None:  # closed
                self._worker = None
                return
            try:
                result, error = self._pipe.run(params), None
            except ImageDiffError as exc:
                result, error = None, exc
            except Exception as exc:  # a bug: report it in the panel, log the traceback
                _log.exception("imgdiff-widget: comparison failed")
                result, error = None, exc
            with self._lock:
                if self._wanted is not params and self._wanted is not None:
                    continue  # a newer request arrived: drop this result
                self._worker = None
            self._deliver(result, error)
            return

    def _deliver(self, result, error) -> None:
        def apply():
            try:
                if self._closed:
                    return
                if error is not None:
                    message = (
                        error
                        if isinstance(error, ImageDiffError)
                        else (f"internal error ({type(error).__name__}: {error})")
                    )
                    self._rejected(message)
                elif result is not None:
                    self._apply(result)
            finally:
                if self._worker is None:
                    self._set_busy(None)
                    self._idle.set()

        if self._loop is not None and self._loop.is_running():
            with self._lock:
                self._delivery = apply
            self._loop.call_soon_threadsafe(self._run_delivery)
        else:
            with self._lock:
                apply()

    def _heartbeat(self) -> None:
        # A slow stage never leaves the panel silent: the busy line ticks.
        while not self._idle.wait(0.5):
            if self._closed:
                return
            elapsed = time.perf_counter() - self._busy_since
            if self._busy_text:
                self._controls.set_busy(f"{self._busy_text} · {elapsed:.1f} s")

    def _rejected(self, error) -> None:
        """A change failed: say why and go back to the last good parameters."""
        self._show_error(str(error))
        if self.result is None:
            # Nothing shown yet: keep every parameter as given, so that the
            # one at fault (e.g. size_mismatch) can be changed alone.
            return
        good = self.result.params
        self._wanted = good
        with self._quiet_traits():
            for name in PARAM_NAMES:
                if good.value_key((name,)) != self._params.value_key((name,)):
                    setattr(self, name, getattr(good, name))
                    self._controls.set(name, getattr(good, name))
        self._params = good
        self._show_result(self.result)

    def _set_busy(self, text: str | None) -> None:
        self._busy_text = text  # (the heartbeat adds the time to it)
        self.busy = bool(text)
        self._controls.set_busy(text)

    def _show_error(self, message: str | None) -> None:
        self.error = message or ""
        self._controls.set_error(message)

    # -- drawing ------------------------------------------------------------
    def _apply(self, result: DiffResult) -> None:
        with self._lock:
            # The compared frame, not image A, when a size policy crops or pads.
            self._figure.set_shape(result.mask.shape)
            self._display.update(result)
            self._show_result(result)
        self.result = result  # observers see a widget already showing it

    def _show_result(self, result: DiffResult) -> None:
        self._draw(
            _Shown(result.params, self._display.mask, result.regions, result.threshold, True)
        )
        c = self._controls
        c.show_chosen(result.threshold, result.min_area)
        c.set_status(_status(result))

    def _show_preview(self, params: DiffParams, now: bool = False) -> None:
        result = self.result
        if result is None:
            return
        exact = self._shown.exact and self._shown.params.value_key(
            tuple(_PREVIEWABLE - _RENDER_ONLY)
        ) == params.value_key(tuple(_PREVIEWABLE - _RENDER_ONLY))
        if exact:
            shown = _Shown(params, self._display.mask, result.regions, result.threshold, True)
        else:
            threshold = (
                next(iter(result.noise.values()), result.threshold)
                if params.threshold == "auto"
                else float(params.threshold)
            )
            mask, regions = preview(self._display, params, threshold)
            shown = _Shown(params, mask, regions, threshold, False)
        self._draw(shown, now=now)
        self._controls.set_status(
            f"preview at display resolution: {len(shown.regions)} region(s); "
            "computing the full-resolution result…"
        )

    def _draw(self, shown: _Shown, now: bool = False) -> None:
        with self._lock:
            self._shown = shown
            fig = self._figure
            fig.invalidate()
            self._crop_cache = self._zoom_cache = None
            style = parse_style(shown.params.style)
            color = parse_color(shown.params.color)
            fig.set_boxes(shown.regions, color, 1.5, "boxes" in style)
            fig.set_color(color)
            fig.set_threshold(shown.threshold, self._display.histogram)
            # Labels are renumbered by every result: follow the selected region
            # by where it is, not by its old number.
            self._selected = _same_region(self._selected, shown.regions)
            selected = self._selected.label if self._selected is not None else None
            self._controls.set_regions(shown.regions, selected)
            fig.redraw(now)

    def _crop(self, view, pixels) -> Crop:
        """Pixels for a view at the panel's screen resolution (cached per state and view)."""
        display = self._display
        version = self._figure.version
        vis_w, vis_h = abs(view[1] - view[0]), abs(view[3] - view[2])
        # Full-resolution pixels per screen pixel (never coarser than the screen).
        step = max(1, math.floor(min(vis_w / max(pixels[0], 1), vis_h / max(pixels[1], 1))))
        shown = self._shown
        if step < display.step and shown.exact and self.result is not None:
            key = (version, tuple(round(v, 2) for v in view), step)
            if self._zoom_cache is not None and self._zoom_cache[0] == key:
                return self._zoom_cache[1]
            crop = render_crop(self.result, shown.params, view, step)
            if crop is not None:
                self._zoom_cache = (key, crop)
                return crop
        extra = max(1, step // display.step)
        if self._crop_cache is None or self._crop_cache[0] != (version, extra):
            crop = display.render(
                shown.params, shown.threshold, shown.regions, shown.mask, extra=extra
            )
            self._crop_cache = ((version, extra), crop)
        return self._crop_cache[1]

    def _source(self, kind: str, view, pixels) -> tuple[np.ndarray, tuple]:
        with self._lock:
            if self._shown is None:
                return np.zeros((2, 2, 3), np.uint8), (-0.5, 1.5, 1.5, -0.5)
            crop = self._crop(view, pixels)
        if kind == "a":
            return crop.overlay_a, crop.extent
        if kind == "b":
            return crop.overlay_b, crop.extent
        if kind == "mask":
            return crop.mask.view(np.uint8), crop.extent
        if kind == "heatmap":
            return crop.score, crop.extent
        view_name = self._figure.view
        if view_name == "blend":
            t = float(self.blend)
            mixed = crop.overlay_a * np.float32(1 - t) + crop.overlay_b * np.float32(t)
            return (mixed + 0.5).astype(np.uint8), crop.extent
        if view_name == "swipe":
            x0, x1 = sorted(view[:2])
            split_x = x0 + float(self.swipe) * (x1 - x0)
            left, right = crop.extent[:2]
            split = round((split_x - left) / (right - left) * crop.overlay_a.shape[1])
            split = min(max(split, 0), crop.overlay_a.shape[1])
            return np.concatenate(
                [crop.overlay_a[:, :split], crop.overlay_b[:, split:]], axis=1
            ), crop.extent
        return (crop.overlay_b if self.flicker == "B" else crop.overlay_a), crop.extent


def _same_region(old: Region | None, regions) -> Region | None:
    """The region of `regions` overlapping `old`'s box most (None if none does)."""
    if old is None:
        return None
    r0, c0, r1, c1 = old.bbox
    best, best_overlap = None, 0
    for region in regions:
        q0, p0, q1, p1 = region.bbox
        overlap = max(0, min(r1, q1) - max(r0, q0)) * max(0, min(c1, p1) - max(c0, p0))
        if overlap > best_overlap:
            best, best_overlap = region, overlap
    return best


def _reachable_widgets(roots) -> list[widgets.Widget]:
    """Widgets reachable from `roots` through widget-valued traits (children, layout, style)."""
    found: dict[int, widgets.Widget] = {}
    stack = list(roots)
    while stack:
        w = stack.pop()
        if not isinstance(w, widgets.Widget) or id(w) in found:
            continue
        found[id(w)] = w
        for name in w.trait_names():
            if name in ("comm", "keys", "log"):
                continue
            value = getattr(w, name, None)
            if isinstance(value, widgets.Widget):
                stack.append(value)
            elif isinstance(value, (list, tuple)):
                stack.extend(v for v in value if isinstance(v, widgets.Widget))
    return list(found.values())


def _running_loop():
    """The kernel's event loop, when this runs in a Jupyter kernel; else None.

    Only a kernel's loop means "a front end is waiting on this thread": other
    loops (a test's Playwright session, an async script) do not.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _busy_text(changed: set[str], first: bool) -> str:
    if first:
        return "computing the comparison…"
    slow = sorted(changed - _PREVIEWABLE)
    if slow:
        return f"computing ({', '.join(slow)} changed: comparing again)…"
    return "computing the full-resolution result…"


def _status(result: DiffResult) -> str:
    p = result.params
    auto_t = " (auto)" if p.threshold == "auto" else ""
    auto_a = " (auto)" if p.min_area == "auto" else ""
    shift = result.shift
    timing = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items())
    return (
        f"{len(result.regions)} region(s), {100 * result.diff_fraction:.2f} % of pixels · "
        f"score {result.score:.4f} · threshold {result.threshold:.3f}{auto_t} · "
        f"min area {result.min_area} px{auto_a} · {result.alignment} "
        f"shift ({shift[0]:+.1f}, {shift[1]:+.1f}) px · stages: {timing or 'none (cached)'}"
    )


def _esc(value) -> str:
    import html

    return html.escape(str(value))
