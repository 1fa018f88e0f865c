"""The control panel: ipywidgets only, no plotting and no pipeline.

:class:`Controls` builds the widgets in three groups (Detect, Clean up,
Show), plus navigation, export and status; reads and writes parameter values
in :class:`~imgdiff_widget.DiffParams` terms (``"auto"`` included); and
reports user changes through one callback. Values it is told to show never
echo back through that callback.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import ipywidgets as widgets
import numpy as np
from matplotlib.colors import to_hex

from .._align import ALIGN_METHODS, SIZE_POLICIES
from .._errors import ParameterError
from .._metrics import METRICS
from ._figure import VIEWS

__all__ = ["STYLE_CHOICES", "Controls", "format_ignore", "parse_ignore"]

STYLE_CHOICES = (
    "fill+boxes",
    "fill",
    "outline",
    "outline+boxes",
    "boxes",
    "heatmap",
    "heatmap+boxes",
    "fill+outline",
)
_VIEW_LABELS = {
    "side": "A | B | mask",
    "blend": "blend",
    "flicker": "flicker",
    "swipe": "swipe",
    "heatmap": "heatmap",
    "histogram": "histogram",
}
_WIDE = {"description_width": "90px"}


def parse_ignore(text: str):
    """Parse "r0,c0,r1,c1; r0,c0,r1,c1" into rectangles (None when empty)."""
    rects = []
    for part in text.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        try:
            values = tuple(int(float(v)) for v in part.replace(" ", "").strip("()[]").split(","))
        except ValueError:
            values = ()
        if len(values) != 4:
            raise ParameterError(
                f"ignore region {part.strip()!r} is not 4 numbers; write rectangles as "
                "row0,col0,row1,col1 separated by ';', e.g. 0,0,40,200; 500,10,560,90."
            )
        rects.append(values)
    return tuple(rects) or None


def format_ignore(ignore) -> str:
    """Inverse of :func:`parse_ignore` (a mask is described, not listed)."""
    if ignore is None:
        return ""
    if hasattr(ignore, "shape"):
        return f"<mask {ignore.shape[1]}x{ignore.shape[0]}>"
    return "; ".join(",".join(str(v) for v in rect) for rect in ignore)


class Controls:
    """Every control of the widget, grouped, with DiffParams-style get/set.

    Parameters
    ----------
    on_change : callable(name, value)
        Called when the user changes a parameter or a view setting.
    on_action : callable(name)
        Called for buttons: "next", "previous", "reset", "export",
        "ignore_zoom", and for "region" (the table selection).
    max_area : int
        Upper end of the min-area slider (pixels).
    """

    def __init__(
        self,
        on_change: Callable[[str, Any], None],
        on_action: Callable[[str, Any], None],
        *,
        max_area: int = 10_000,
    ) -> None:
        self._on_change = on_change
        self._on_action = on_action
        self._quiet = 0
        # A fixed width: "auto" lets JupyterLab collapse a slider's track to
        # nothing when it shares a row with its "auto" checkbox.
        lay = widgets.Layout(width="340px")
        common = {"style": _WIDE, "continuous_update": False, "layout": lay}
        # Detect
        self.metric = widgets.Dropdown(
            options=list(METRICS), description="metric", style=_WIDE, layout=lay
        )
        self.threshold = widgets.FloatSlider(
            value=0.5, min=0.001, max=1.0, step=0.001, readout_format=".3f",
            description="threshold", **common,
        )  # fmt: skip
        self.threshold_auto = widgets.Checkbox(value=True, description="auto", indent=False)
        self.align = widgets.Dropdown(
            options=list(ALIGN_METHODS), description="alignment", style=_WIDE, layout=lay
        )
        self.size_mismatch = widgets.Dropdown(
            options=list(SIZE_POLICIES), description="size policy", style=_WIDE, layout=lay
        )
        self.ignore_antialiasing = widgets.Dropdown(
            options=[("auto", "auto"), ("yes", True), ("no", False)],
            description="skip anti-aliasing",
            style={"description_width": "120px"},
            layout=lay,
        )
        self.win_size = widgets.IntSlider(
            value=7, min=3, max=31, step=2, description="window", **common
        )
        self.smoothing = widgets.FloatSlider(
            value=2.0, min=0.0, max=10.0, step=0.25, description="smoothing", **common
        )
        # Clean up
        self.min_area = widgets.IntSlider(
            value=16, min=0, max=max_area, description="min area", **common
        )
        self.min_area_auto = widgets.Checkbox(value=True, description="auto", indent=False)
        self.morphology = widgets.IntSlider(
            value=1, min=0, max=15, description="morphology", **common
        )
        self.padding = widgets.IntSlider(value=0, min=0, max=50, description="padding", **common)
        self.fill_holes = widgets.Checkbox(value=True, description="fill holes", indent=False)
        self.ignore = widgets.Text(
            value="",
            description="ignore",
            placeholder="row0,col0,row1,col1; ...",
            continuous_update=False,
            style=_WIDE,
            layout=lay,
        )
        self.ignore_zoom = widgets.Button(
            description="ignore zoomed area", tooltip="add the current view as an ignore region"
        )
        # Show
        self.style = widgets.Dropdown(
            options=list(STYLE_CHOICES), description="style", style=_WIDE, layout=lay
        )
        self.color = widgets.ColorPicker(
            value="magenta", description="colour", concise=False, style=_WIDE, layout=lay
        )
        self.alpha = widgets.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="alpha", **common
        )
        self.view = widgets.ToggleButtons(
            options=[(_VIEW_LABELS[v], v) for v in VIEWS],
            value="side",
            style={"button_width": "auto"},
        )
        self.blend = widgets.FloatSlider(
            value=0.5, min=0, max=1, step=0.05, description="A → B", **common
        )
        self.swipe = widgets.FloatSlider(
            value=0.5, min=0, max=1, step=0.02, description="split", **common
        )
        self.flicker = widgets.ToggleButtons(options=["A", "B"], value="A")
        self.flicker_play = widgets.Play(
            value=0, min=0, max=1, step=1, interval=600, repeat=True, description="flicker"
        )
        self.flicker_box = widgets.HBox([self.flicker, self.flicker_play])
        # Navigation
        self.regions = widgets.Select(options=[], rows=7, layout=widgets.Layout(width="100%"))
        self.previous = widgets.Button(
            description="◀ previous", layout=widgets.Layout(width="auto")
        )
        self.next = widgets.Button(description="next ▶", layout=widgets.Layout(width="auto"))
        self.reset = widgets.Button(description="reset zoom", layout=widgets.Layout(width="auto"))
        # Export, status, errors
        self.folder = widgets.Text(value="imgdiff-output", description="folder", style=_WIDE)
        self.export = widgets.Button(description="save", icon="download", button_style="info")
        self.export_status = widgets.HTML()
        self.status = widgets.HTML(value="")
        self.busy = widgets.HTML(value="")
        self.error = widgets.HTML(value="")

        self._wire()
        self.panel = self._layout()

    # -- layout ---------------------------------------------------------------
    def _layout(self) -> widgets.Widget:
        def row(*children):
            return widgets.HBox(list(children), layout=widgets.Layout(align_items="center"))

        detect = widgets.VBox(
            [
                self.metric,
                row(self.threshold, self.threshold_auto),
                self.align,
                self.size_mismatch,
                self.win_size,
                self.smoothing,
                self.ignore_antialiasing,
            ]
        )
        cleanup = widgets.VBox(
            [
                row(self.min_area, self.min_area_auto),
                self.morphology,
                self.padding,
                self.fill_holes,
                self.ignore,
                self.ignore_zoom,
            ]
        )
        self.view_extra = widgets.VBox([])
        show = widgets.VBox([self.style, self.color, self.alpha])
        tabs = widgets.Tab(children=[detect, cleanup, show])
        for index, title in enumerate(("Detect", "Clean up", "Show")):
            tabs.set_title(index, title)
        navigation = widgets.VBox(
            [
                widgets.HTML("<b>Regions</b> (# · box row0,col0–row1,col1 · area · score)"),
                self.regions,
                row(self.previous, self.next, self.reset),
            ],
            # A fixed size: in a narrow notebook the box wraps below the
            # tabs instead of shrinking until its buttons are cut off.
            layout=widgets.Layout(width="360px", flex="0 0 auto", margin="0 0 0 12px"),
        )
        self.tabs = tabs
        self.navigation = navigation
        self.export_box = widgets.VBox(
            [widgets.HTML("<b>Export</b>"), row(self.folder, self.export), self.export_status],
            layout=widgets.Layout(flex="0 0 auto", margin="0 0 0 12px"),
        )
        self.top = widgets.VBox([row(self.view, self.busy), self.view_extra])
        # Wraps in a narrow notebook instead of cutting the right-hand boxes off.
        return widgets.HBox(
            [self.tabs, self.navigation, self.export_box],
            layout=widgets.Layout(flex_flow="row wrap"),
        )

    def all_widgets(self) -> list[widgets.Widget]:
        """Every widget built here (for closing)."""
        found: list[widgets.Widget] = []

        def walk(w):
            if isinstance(w, widgets.Widget) and w not in found:
                found.append(w)
                for child in getattr(w, "children", ()):
                    walk(child)

        for value in vars(self).values():
            walk(value)
        return found

    # -- wiring ---------------------------------------------------------------
    def _wire(self) -> None:
        simple = (
            "metric", "align", "size_mismatch", "ignore_antialiasing", "win_size",
            "smoothing", "morphology", "padding", "fill_holes", "style", "alpha",
            "view", "blend", "swipe", "flicker",
        )  # fmt: skip
        for name in simple:
            getattr(self, name).observe(self._forward(name), "value")
        self.threshold.observe(self._forward("threshold"), "value")
        self.threshold_auto.observe(self._forward("threshold"), "value")
        self.min_area.observe(self._forward("min_area"), "value")
        self.min_area_auto.observe(self._forward("min_area"), "value")
        self.color.observe(self._forward("color"), "value")
        self.ignore.observe(self._forward("ignore"), "value")
        self.flicker_play.observe(self._on_play, "value")
        self.regions.observe(self._on_region, "value")
        for name in ("next", "previous", "reset", "export", "ignore_zoom"):
            getattr(self, name).on_click(lambda _button, name=name: self._on_action(name, None))

    def _forward(self, name: str):
        def handler(_change):
            if self._quiet:
                return
            try:
                value = self.get(name)
            except ParameterError as exc:
                self._on_action("error", exc)
                return
            self._on_change(name, value)

        return handler

    def _on_play(self, change) -> None:
        self.flicker.value = "AB"[int(change["new"]) % 2]

    def _on_region(self, change) -> None:
        if not self._quiet and change["new"] is not None:
            self._on_action("region", change["new"])

    @contextmanager
    def quiet(self):
        """Change controls without reporting the changes."""
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    # -- values ---------------------------------------------------------------
    def get(self, name: str) -> Any:
        """The value of a control, as a DiffParams / widget trait value."""
        if name == "threshold":
            return "auto" if self.threshold_auto.value else float(self.threshold.value)
        if name == "min_area":
            return "auto" if self.min_area_auto.value else int(self.min_area.value)
        if name == "ignore":
            return parse_ignore(self.ignore.value)
        return getattr(self, name).value

    def has(self, name: str) -> bool:
        """Whether a parameter has a control (a new DiffParams field may not)."""
        return isinstance(getattr(self, name, None), widgets.ValueWidget)

    def set(self, name: str, value: Any) -> None:
        """Show a value (does not call `on_change`)."""
        if not self.has(name):
            return
        with self.quiet():
            if name in ("threshold", "min_area"):
                auto = value == "auto"
                getattr(self, f"{name}_auto").value = auto
                getattr(self, name).disabled = auto
                if not auto:
                    slider = getattr(self, name)
                    slider.max = max(slider.max, value)
                    slider.value = value
            elif name == "color":
                self.color.value = to_hex(value)
            elif name == "ignore":
                # (A mask cannot be compared with the text's rectangles.)
                if isinstance(value, np.ndarray) or self.get_safe_ignore() != value:
                    self.ignore.value = format_ignore(value)
            elif name == "style":
                if value not in self.style.options:
                    self.style.options = [*self.style.options, value]
                self.style.value = value
            elif name == "metric" and value not in self.metric.options:
                self.metric.options = [*self.metric.options, value]
                self.metric.value = value
            else:
                control = getattr(self, name)
                if hasattr(control, "max") and value > control.max:
                    control.max = value
                control.value = value
        if name == "view":
            self.show_view_extra(value)

    def get_safe_ignore(self):
        try:
            return parse_ignore(self.ignore.value)
        except ParameterError:
            return object()

    def show_chosen(self, threshold: float, min_area: int) -> None:
        """Show what "auto" chose on the disabled sliders."""
        with self.quiet():
            if self.threshold_auto.value:
                self.threshold.value = round(threshold, 3)
            if self.min_area_auto.value:
                self.min_area.max = max(self.min_area.max, min_area)
                self.min_area.value = min_area

    def show_view_extra(self, view: str) -> None:
        """The sliders that belong to a view (blend position, swipe split, flicker)."""
        extra = {
            "blend": [self.blend],
            "swipe": [self.swipe],
            "flicker": [self.flicker_box],
        }.get(view, [])
        self.view_extra.children = extra

    def set_regions(self, regions, selected: int | None = None) -> None:
        """Fill the region table."""
        rows = [
            (
                f"{r.label:>3}  {r.bbox[0]:>5},{r.bbox[1]:>5}–{r.bbox[2]:>5},{r.bbox[3]:>5}"
                f"  {r.area:>8} px  {r.mean_score:.2f}",
                r.label,
            )
            for r in regions
        ]
        with self.quiet():
            self.regions.options = rows
            self.regions.value = selected if selected in {r[1] for r in rows} else None

    def set_status(self, text: str) -> None:
        """The status line (plain text)."""
        self.status.value = f"<span style='font-family:monospace'>{html.escape(text)}</span>"

    def set_busy(self, text: str | None) -> None:
        """Show or clear the busy indicator."""
        self.busy.value = (
            "" if not text else f"<span style='color:#b06000'>⏳ {html.escape(text)}</span>"
        )

    def set_error(self, message: str | None) -> None:
        """Show or clear an error message."""
        self.error.value = (
            ""
            if not message
            else "<div style='color:#a00000;border-left:3px solid #a00000;padding-left:6px'>"
            f"<b>Not applied:</b> {html.escape(message)}</div>"
        )
