"""The widget's matplotlib figure: panels, artists and backends.

The figure is created once per widget and never re-plotted: parameter changes
update artists (``set_data``, ``set_clim``, line and patch geometry) and ask
for a redraw. Every image panel shares its x and y axes with panel A, so zoom
and pan are linked.

Two backends:

* ``"ipympl"``: the canvas is ipympl's :class:`ipympl.backend_nbagg.Canvas`
  widget (toolbar zoom and pan, redraws with ``draw_idle``);
* ``"png"``: an Agg canvas rendered to PNG into an :class:`ipywidgets.Image`,
  which works wherever widgets do (VS Code, Colab, Voila, JupyterLab inline).

Neither registers the figure with pyplot, so nothing leaks into
``plt.get_fignums()`` and nothing is displayed twice.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from PIL import Image

from .._render import box_geometry

__all__ = ["VIEWS", "DiffFigure", "active_backend", "default_figsize"]

#: The views the figure can show.
VIEWS = ("side", "blend", "flicker", "swipe", "heatmap", "histogram")
_HEAT_CMAP = "inferno"

# source(kind, (x0, x1, y0, y1), (panel width, height) in screen pixels) -> (pixels, extent)
Source = Callable[[str, tuple, tuple[float, float]], tuple[np.ndarray, tuple]]


def active_backend() -> str:
    """``"ipympl"`` when ipympl is installed and the active backend, else ``"png"``."""
    backend = str(matplotlib.get_backend()).lower()
    if "ipympl" in backend or backend == "widget":
        try:
            import ipympl.backend_nbagg  # noqa: F401
        except ImportError:  # pragma: no cover - backend named but not installed
            return "png"
        return "ipympl"
    return "png"


class _ViewImage(AxesImage):
    """An image that asks its source for pixels of the current view on draw.

    Zooming in therefore re-renders just the visible part at screen
    resolution, once per draw, whatever changed the limits (toolbar, region
    table, code).
    """

    def __init__(self, ax, kind: str, owner: DiffFigure, **kwargs) -> None:
        super().__init__(ax, **kwargs)
        self.kind = kind
        self._owner = owner
        self._key = None

    def refresh(self) -> None:
        ax = self.axes
        view = (*ax.get_xlim(), *ax.get_ylim())
        key = (view, self._owner.version, self._owner.view_state())
        if key == self._key or self._owner.source is None:
            return
        bbox = ax.bbox
        data, extent = self._owner.source(self.kind, view, (bbox.width, bbox.height))
        self.set_data(data)
        self.set_extent(extent)
        self._key = key

    def draw(self, renderer) -> None:
        if self.get_visible():
            self.refresh()
        super().draw(renderer)


# The side-by-side panels' share of the figure's width and height.
_PANEL_WIDTH, _PANEL_HEIGHT = 0.32, 0.88


def default_figsize(shape: tuple[int, int], width: float = 12.0) -> tuple[float, float]:
    """A figure `width` inches wide whose side-by-side panels the image fills.

    With a fixed height, a wide screenshot left blank bands above and below
    its panels and a tall scan left them beside; the height follows the
    image's aspect ratio instead, within 3 to 8 inches (the single-panel
    views need some height too).
    """
    height, image_width = shape
    panel = _PANEL_WIDTH * width * height / max(image_width, 1)
    return (width, float(np.clip(panel / _PANEL_HEIGHT, 3.0, 8.0)))


class DiffFigure:
    """Panels for every view, built once; `update_*` methods move artists.

    Parameters
    ----------
    backend : {"ipympl", "png"}
    shape : (height, width)
        Size of image A in pixels (the data coordinates of every panel).
    figsize : (float, float), optional
        Inches; by default 12 wide and as tall as the side-by-side panels
        need for the image's aspect ratio (:func:`default_figsize`).
    dpi : float
    """

    def __init__(
        self,
        backend: str,
        shape: tuple[int, int],
        *,
        figsize: tuple[float, float] | None = None,
        dpi: float = 100.0,
    ) -> None:
        if figsize is None:
            figsize = default_figsize(shape)
        self.backend = backend
        self.shape = shape
        self.version = 0
        self.source: Source | None = None
        self.view = "side"
        self.blend = 0.5
        self.swipe = 0.5
        self.flicker = "A"
        self.figure = Figure(figsize=figsize, dpi=dpi)
        self._manager = None
        if backend == "ipympl":
            from ipympl.backend_nbagg import Canvas, FigureManager

            canvas = Canvas(self.figure)
            self._manager = FigureManager(canvas, num=id(self))
            canvas.header_visible = False
            canvas.footer_visible = False
            canvas.toolbar_position = "left"
            self.widget = canvas
        else:
            import ipywidgets as widgets
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(self.figure)
            self.widget = widgets.Image(format="png", layout=widgets.Layout(width="100%"))
            self.widget.add_class("imgdiff-figure")
        self.figure.patch.set_facecolor("white")
        self._build()
        self.set_view("side")

    # -- construction -------------------------------------------------------
    def _build(self) -> None:
        fig = self.figure
        height, width = self.shape
        extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        placeholder = np.zeros((2, 2, 3), np.uint8)
        # Panel A first: every other image panel shares its axes (linked zoom).
        panel = (_PANEL_WIDTH, _PANEL_HEIGHT)
        self.ax_a = fig.add_axes((0.01, 0.03, *panel))
        share = {"sharex": self.ax_a, "sharey": self.ax_a}
        self.ax_b = fig.add_axes((0.34, 0.03, *panel), **share)
        self.ax_mask = fig.add_axes((0.67, 0.03, *panel), **share)
        self.ax_single = fig.add_axes((0.05, 0.03, 0.90, 0.88), **share)
        self.ax_heat = fig.add_axes((0.05, 0.03, 0.82, 0.88), **share)
        self.ax_cbar = fig.add_axes((0.89, 0.08, 0.015, 0.78))
        self.ax_hist = fig.add_axes((0.07, 0.12, 0.90, 0.76))
        self.images: dict[str, _ViewImage] = {}
        self.boxes: dict[str, LineCollection] = {}
        titles = {"a": "A", "b": "B", "mask": "differences (mask)", "single": "", "heatmap": ""}
        axes = {
            "a": self.ax_a,
            "b": self.ax_b,
            "mask": self.ax_mask,
            "single": self.ax_single,
            "heatmap": self.ax_heat,
        }
        for kind, ax in axes.items():
            kwargs = {"origin": "upper", "extent": extent}
            if kind == "mask":
                kwargs.update(cmap="gray", norm=Normalize(0, 1), interpolation="nearest")
            elif kind == "heatmap":
                kwargs.update(cmap=_HEAT_CMAP, norm=Normalize(0, 1))
            image = _ViewImage(ax, kind, self, **kwargs)
            image.set_data(placeholder[..., 0] if kind in ("mask", "heatmap") else placeholder)
            ax.add_image(image)
            ax.set_aspect("equal", adjustable="box")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(titles[kind], fontsize=10)
            self.images[kind] = image
            if kind != "mask":
                collection = LineCollection([], linewidths=1.5, colors="magenta")
                ax.add_collection(collection, autolim=False)
                self.boxes[kind] = collection
        self.ax_a.set_xlim(extent[0], extent[1])
        self.ax_a.set_ylim(extent[2], extent[3])
        for ax in axes.values():
            ax.set_autoscale_on(False)
        self.swipe_line = self.ax_single.axvline(0, color="white", linewidth=1.5)
        # The split is a fraction of the visible width: it follows the
        # toolbar's zoom and pan as well as zoom_to / reset_zoom.
        self.ax_single.callbacks.connect("xlim_changed", lambda _ax: self.set_swipe(self.swipe))
        self.colorbar = self.figure.colorbar(self.images["heatmap"], cax=self.ax_cbar)
        self.colorbar.set_label("score (0 same … 1 different)", fontsize=9)
        self.cbar_line = self.ax_cbar.axhline(0.5, color="cyan", linewidth=2)
        edges = np.linspace(0, 1, 257)
        self.hist = self.ax_hist.stairs(np.ones(256), edges, fill=True, baseline=0.8)
        self.hist.set_color("0.4")
        self.hist_line = self.ax_hist.axvline(0.5, color="magenta", linewidth=2)
        self.ax_hist.set_yscale("log")
        self.ax_hist.set_xlim(0, 1)
        self.ax_hist.set_xlabel("score (compared pixels)", fontsize=9)
        self.ax_hist.set_ylabel("pixels", fontsize=9)

    # -- state ----------------------------------------------------------------
    def view_state(self) -> tuple:
        """What the single panel shows besides the data (for the image cache key)."""
        return (self.view, self.blend, self.swipe, self.flicker)

    def invalidate(self) -> None:
        """The data changed: images re-ask their source on the next draw."""
        self.version += 1

    def set_view(self, view: str) -> None:
        """Show one of :data:`VIEWS`."""
        self.view = view
        side = view == "side"
        single = view in ("blend", "flicker", "swipe")
        for ax in (self.ax_a, self.ax_b, self.ax_mask):
            ax.set_visible(side)
        self.ax_single.set_visible(single)
        self.swipe_line.set_visible(view == "swipe")
        self.ax_heat.set_visible(view == "heatmap")
        self.ax_cbar.set_visible(view == "heatmap")
        self.ax_hist.set_visible(view == "histogram")
        titles = {
            "blend": f"blend A → B ({self.blend:.2f})",
            "flicker": f"flicker: showing {self.flicker}",
            "swipe": "swipe: A | B",
        }
        self.ax_single.set_title(titles.get(view, ""), fontsize=10)
        self.ax_heat.set_title("score map", fontsize=10)

    def set_boxes(self, regions, color, width: float, visible: bool) -> None:
        """Draw region boxes (minimum size as in the saved overlays) on every image panel."""
        segments = []
        for region in regions:
            r0, c0, r1, c1 = box_geometry(region.bbox, self.shape)
            x0, x1, y0, y1 = c0 - 0.5, c1 - 0.5, r0 - 0.5, r1 - 0.5
            segments.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])
        for collection in self.boxes.values():
            collection.set_segments(segments)
            collection.set_color(color)
            collection.set_linewidth(width)
            collection.set_visible(visible)

    def set_threshold(self, threshold: float, histogram: np.ndarray | None) -> None:
        """Move the threshold marks; rescale the heatmap around the threshold."""
        self.images["heatmap"].set_clim(0.0, min(1.0, max(2 * threshold, 0.05)))
        self.cbar_line.set_ydata([threshold, threshold])
        self.hist_line.set_xdata([threshold, threshold])
        self.ax_hist.set_title(f"score histogram, threshold {threshold:.3f}", fontsize=10)
        if histogram is not None:
            values = np.maximum(histogram.astype(float), 0.8)
            self.hist.set_data(values=values)
            self.ax_hist.set_ylim(0.8, values.max() * 2)

    def set_color(self, color) -> None:
        """Colour of the threshold marks (follows the marks' colour)."""
        self.hist_line.set_color(color)

    def set_swipe(self, position: float) -> None:
        """Move the swipe split (fraction of the visible width)."""
        self.swipe = position
        x0, x1 = self.ax_single.get_xlim()
        x = x0 + position * (x1 - x0)
        self.swipe_line.set_xdata([x, x])

    # -- zoom ---------------------------------------------------------------
    def set_shape(self, shape: tuple[int, int]) -> None:
        """Show images of another (height, width): a size policy crops or pads the frame."""
        if tuple(shape) != tuple(self.shape):
            self.shape = tuple(shape)
            self.reset_zoom()

    def view_rect(self) -> tuple[float, float, float, float]:
        """Visible (x0, x1, y0, y1) of the linked image panels."""
        return (*self.ax_a.get_xlim(), *self.ax_a.get_ylim())

    def zoom_to(self, bbox, margin: float = 0.6) -> None:
        """Show a (row0, col0, row1, col1) box, grown to the image's aspect ratio."""
        height, width = self.shape
        r0, c0, r1, c1 = bbox
        rows = max(r1 - r0, 8) * (1 + 2 * margin)
        cols = max(c1 - c0, 8) * (1 + 2 * margin)
        aspect = height / width
        rows, cols = max(rows, cols * aspect), max(cols, rows / aspect)
        rows, cols = min(rows, height), min(cols, width)
        cy, cx = (r0 + r1) / 2, (c0 + c1) / 2
        x0 = min(max(cx - cols / 2, 0), width - cols) - 0.5
        y0 = min(max(cy - rows / 2, 0), height - rows) - 0.5
        self.ax_a.set_xlim(x0, x0 + cols)
        self.ax_a.set_ylim(y0 + rows, y0)
        self.set_swipe(self.swipe)

    def reset_zoom(self) -> None:
        """Show the whole image."""
        height, width = self.shape
        self.ax_a.set_xlim(-0.5, width - 0.5)
        self.ax_a.set_ylim(height - 0.5, -0.5)
        self.set_swipe(self.swipe)

    # -- drawing ------------------------------------------------------------
    def redraw(self, now: bool = False) -> None:
        """Show the current state: ``draw_idle`` on ipympl (a draw when `now`), else a PNG."""
        if self.backend == "ipympl":
            if now:
                self.widget.draw()
            else:
                self.widget.draw_idle()
        else:
            self.widget.value = self.png()

    def png(self) -> bytes:
        """Draw with Agg and encode as PNG (fast compression)."""
        canvas = self.figure.canvas
        if self.backend == "ipympl":
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=self.figure.dpi)
            return buffer.getvalue()
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())[..., :3]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def close(self) -> None:
        """Release the figure and its canvas widget."""
        if self._manager is not None:
            toolbar = getattr(self._manager, "toolbar", None)
            if toolbar is not None and hasattr(toolbar, "close"):
                toolbar.close()
            self._manager = None
        self.source = None
        self.widget.close()
