"""DiffWidget: traits <-> controls, drawn pixels, navigation, export, errors, leaks.

Headless: the figure is drawn with Agg and its pixels read back. Both
backends run (the PNG fallback and ipympl's canvas, when installed).
"""

from __future__ import annotations

import gc
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image
from skimage import data
from testing_images import textured

import imgdiff_widget as idw
from imgdiff_widget import DiffParams, DiffWidget
from imgdiff_widget.synthetic import make_pair
from imgdiff_widget.widget import PARAM_NAMES
from imgdiff_widget.widget._figure import VIEWS, active_backend

BACKENDS = ["png"]
try:
    import ipympl  # noqa: F401

    BACKENDS.append("ipympl")
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(scope="module")
def pair():
    # A small photo pair with six known edits, 200x300 px: fast.
    p = make_pair(data.coffee()[::2, ::2], seed=2)
    return p.a, p.b


@pytest.fixture(params=BACKENDS)
def widget(request, pair):
    w = DiffWidget(*pair, backend=request.param, figsize=(9, 3.5))
    yield w
    w.close()


def pixels(w) -> np.ndarray:
    w.figure.canvas.draw()
    return np.asarray(w.figure.canvas.buffer_rgba())[..., :3].copy()


def count_colour(image, rgb, tol=10) -> int:
    return int((np.abs(image.astype(int) - rgb).max(axis=-1) <= tol).sum())


def test_backend_detection(monkeypatch):
    monkeypatch.setattr("matplotlib.get_backend", lambda: "agg")
    assert active_backend() == "png"
    if "ipympl" in BACKENDS:
        monkeypatch.setattr("matplotlib.get_backend", lambda: "module://ipympl.backend_nbagg")
        assert active_backend() == "ipympl"


def test_backend_widget_kinds(pair):
    import ipywidgets

    w = DiffWidget(*pair, backend="png")
    assert isinstance(w._figure.widget, ipywidgets.Image)
    assert w._figure.widget in w.children
    assert w._figure.widget.value[:8] == b"\x89PNG\r\n\x1a\n"
    w.close()
    if "ipympl" in BACKENDS:
        from ipympl.backend_nbagg import Canvas

        w = DiffWidget(*pair, backend="ipympl")
        assert isinstance(w.figure.canvas, Canvas)
        assert w.figure.canvas in w.children
        w.close()


def test_every_param_is_a_synced_trait(widget):
    assert isinstance(widget, __import__("ipywidgets").VBox)
    for name in PARAM_NAMES:
        assert widget.has_trait(name), name
        assert getattr(widget, name) == getattr(widget.params, name) or name == "ignore"
    assert widget.result is not None
    assert widget.result.params == widget.params


def test_colour_appears_in_canvas(widget):
    before = count_colour(pixels(widget), (0, 255, 0))
    widget.color = "lime"
    after = pixels(widget)
    assert widget.result.params.color == "lime"
    assert widget.controls.color.value == "#00ff00"
    assert count_colour(after, (0, 255, 0)) > before + 200


def test_threshold_trait_moves_slider_and_back(widget):
    n_auto = len(widget.result.regions)
    widget.threshold = 0.6
    assert widget.controls.threshold.value == pytest.approx(0.6)
    assert not widget.controls.threshold_auto.value
    assert widget.result.threshold == pytest.approx(0.6)
    assert widget.result.mask.sum() < widget.result.score_map.size
    # The slider sets the trait.
    widget.controls.threshold.value = 0.3
    assert widget.threshold == pytest.approx(0.3)
    assert widget.result.threshold == pytest.approx(0.3)
    # Auto again: the disabled slider shows what auto chose.
    widget.controls.threshold_auto.value = True
    assert widget.threshold == "auto"
    assert widget.controls.threshold.disabled
    assert widget.controls.threshold.value == pytest.approx(widget.result.threshold, abs=1e-3)
    assert len(widget.result.regions) == n_auto


def test_threshold_change_reruns_only_later_stages(widget):
    widget.threshold = 0.4
    assert "score" not in widget.result.timings
    assert "threshold" in widget.result.timings
    widget.alpha = 0.2
    assert set(widget.result.timings) == {"render"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_area", 5000),
        ("morphology", 4),
        ("padding", 6),
        ("fill_holes", False),
        ("metric", "absdiff"),
        ("smoothing", 0.5),
        ("win_size", 11),
        ("align", "none"),
        ("alpha", 0.9),
        ("style", "outline"),
        ("style", "heatmap"),
        ("ignore", ((0, 0, 200, 200),)),
    ],
)
def test_each_param_changes_result_and_pixels(pair, name, value):
    w = DiffWidget(*pair, backend="png", figsize=(9, 3.5))
    before_px, before = pixels(w), w.result
    setattr(w, name, value)
    after_px = pixels(w)
    assert w.result is not before
    assert getattr(w.result.params, name) == value
    control_value = w.controls.get(name)
    assert control_value == value
    # Render parameters always change the drawing; the others whenever they
    # change the mask (how much they do is the core's business, not the widget's).
    if name in ("alpha", "style") or not np.array_equal(before.mask, w.result.mask):
        assert not np.array_equal(before_px, after_px), f"{name}={value!r} did not redraw"
    # Either way it draws what a widget opened with that value draws: nothing stale.
    fresh = DiffWidget(*pair, backend="png", figsize=(9, 3.5), **{name: value})
    assert np.array_equal(after_px, pixels(fresh)), f"{name}={value!r} drew a stale state"
    fresh.close()
    w.close()


def test_view_settings_change_pixels(widget):
    seen = []
    for view in VIEWS:
        widget.view = view
        assert widget.controls.view.value == view
        seen.append(pixels(widget))
    for i in range(len(seen) - 1):
        assert not np.array_equal(seen[i], seen[i + 1]), VIEWS[i : i + 2]
    widget.view = "blend"
    widget.controls.blend.value = 0.0
    only_a = pixels(widget)
    widget.blend = 1.0
    assert widget.controls.blend.value == 1.0
    assert not np.array_equal(only_a, pixels(widget))
    widget.view = "flicker"
    a_img = pixels(widget)
    widget.flicker = "B"
    assert not np.array_equal(a_img, pixels(widget))


def test_region_zoom_and_navigation(widget):
    regions = widget.result.regions
    assert len(regions) >= 2
    image_axes = [widget._figure.ax_a, widget._figure.ax_b, widget._figure.ax_mask,
                  widget._figure.ax_single, widget._figure.ax_heat]  # fmt: skip
    widget.controls.regions.value = regions[1].label  # choose a row
    r0, c0, r1, c1 = regions[1].bbox
    for ax in image_axes:
        x0, x1 = ax.get_xlim()
        y1, y0 = ax.get_ylim()
        assert x0 <= c0
        assert x1 >= c1
        assert y0 <= r0
        assert y1 >= r1
        assert x1 - x0 < widget.result.mask.shape[1]
    widget.next_region()
    assert widget.controls.regions.value == regions[2 % len(regions)].label
    widget.previous_region()
    widget.previous_region()
    assert widget.controls.regions.value == regions[0].label
    widget.controls.previous.click()
    assert widget.controls.regions.value == regions[-1].label
    widget.controls.reset.click()
    _h, w = widget.result.mask.shape
    assert widget._figure.ax_a.get_xlim() == (-0.5, w - 0.5)
    assert widget.controls.regions.value is None


def test_zoomed_view_is_rendered_sharper(pair):
    w = DiffWidget(*pair, backend="png", display_limit=100)  # coarse display copy
    w.figure.canvas.draw()
    coarse = w._figure.images["a"].get_array().shape
    w.select_region(w.result.regions[0].label)
    w.figure.canvas.draw()
    extent = w._figure.images["a"].get_extent()
    zoomed = w._figure.images["a"].get_array().shape
    width = extent[1] - extent[0]
    # More image pixels per data pixel than the display copy had.
    assert zoomed[1] / width > coarse[1] / w.result.mask.shape[1]
    w.close()


def test_export_writes_files(widget, tmp_path):
    target = tmp_path / "out"
    widget.controls.folder.value = str(target)
    widget.controls.export.click()
    names = {p.name for p in target.iterdir()}
    assert names == {"overlay_a.png", "overlay_b.png", "mask.png", "regions.json"}
    assert str(target.resolve()) in widget.controls.export_status.value
    saved = json.loads((target / "regions.json").read_text())
    assert len(saved["regions"]) == len(widget.result.regions)
    written = widget.save(tmp_path / "again")
    assert (
        set(written) == {"overlay_a.png", "overlay_b.png", "mask.png", "regions.json"}
        or len(written) == 4
    )


def test_bad_value_shows_error_and_keeps_state(widget):
    widget.threshold = 0.4
    good = widget.result
    image = pixels(widget)
    widget.threshold = 2.0
    assert "threshold=2.0" in widget.error
    assert "threshold=2.0" in widget.controls.error.value
    assert "Traceback" not in widget.controls.error.value
    assert widget.threshold == 0.4
    assert widget.params.threshold == 0.4
    assert widget.controls.threshold.value == pytest.approx(0.4)
    assert widget.result is good
    assert np.array_equal(image, pixels(widget))
    widget.color = "not-a-colour"
    assert "colour" in widget.error
    assert widget.color != "not-a-colour"
    widget.controls.ignore.value = "1,2,3"
    assert "4 numbers" in widget.error
    assert widget.params.ignore is None
    widget.morphology = 2  # a good change clears the message
    assert widget.error == ""


def test_failed_load_shows_message(tmp_path):
    w = DiffWidget(tmp_path / "missing.png", tmp_path / "missing2.png", backend="png")
    assert w.result is None
    assert "missing.png" in w.error
    assert "missing.png" in w.controls.error.value
    w.threshold = 0.3  # no crash without images
    w.close()


def test_max_pixels_guards_the_widget_too(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(textured((60, 80))).save(path)
    w = DiffWidget(path, path, backend="png", max_pixels=4799)
    assert w.result is None
    assert "4,799" in w.error
    assert "max_pixels" in w.error
    w.close()
    w = DiffWidget(path, path, backend="png", max_pixels=4800)
    assert w.result is not None
    w.close()


def test_result_observers_fire(widget):
    seen = []
    widget.observe(lambda change: seen.append(change["new"]), "result")
    widget.threshold = 0.5
    widget.color = "red"
    assert len(seen) == 2
    assert seen[-1] is widget.result
    assert seen[-1].params.color == "red"


def test_params_property_applies_at_once(widget):
    seen = []
    widget.observe(lambda change: seen.append(change["new"]), "result")
    widget.params = DiffParams(threshold=0.45, color="cyan", min_area=50)
    assert len(seen) == 1
    assert widget.threshold == 0.45
    assert widget.color == "cyan"
    assert widget.min_area == 50
    assert widget.controls.min_area.value == 50


def test_ignore_zoomed_area(widget):
    widget.select_region(widget.result.regions[0].label)
    widget.controls.ignore_zoom.click()
    assert widget.params.ignore is not None
    assert len(widget.params.ignore) == 1
    assert widget.controls.ignore.value.count(",") == 3


def test_status_line(widget):
    text = widget.controls.status.value
    assert f"{len(widget.result.regions)} region(s)" in text
    assert "threshold" in text
    assert "(auto)" in text
    assert "shift" in text
    assert "ms" in text


def test_background_mode_previews_then_applies(pair):
    w = DiffWidget(*pair, backend="png", background=True)
    w.wait(60)
    first = w.result
    w.threshold = 0.35
    w.color = "lime"  # folded into the pending request
    w.wait(60)
    assert w.result is not first
    assert w.result.params.threshold == 0.35
    assert w.result.params.color == "lime"
    assert not w.busy
    w.metric = "absdiff"
    w.wait(60)
    assert w.result.params.metric == "absdiff"
    w.threshold = 1.5
    assert w.error
    assert w.params.threshold == 0.35
    w.close()


def test_background_mode_draws_a_preview_until_the_result_arrives(pair):
    import threading

    w = DiffWidget(*pair, backend="png", background=True)
    w.wait(60)
    release = threading.Event()
    run = w._pipe.run

    def held(params):
        release.wait(30)
        return run(params)

    w._pipe.run = held
    w.threshold = 0.35
    assert w.busy
    assert not w._shown.exact  # drawn at display resolution, at once
    assert w._shown.params.threshold == 0.35
    assert "preview" in w.controls.status.value
    release.set()
    w.wait(60)
    assert w._shown.exact
    assert w.result.params.threshold == 0.35
    assert "preview" not in w.controls.status.value
    w.close()


def test_repr_mimebundle_has_static_png(widget):
    bundle = widget._repr_mimebundle_()
    assert "image/png" in bundle
    assert "text/plain" in bundle
    import base64

    assert base64.b64decode(bundle["image/png"])[:4] == b"\x89PNG"


def test_plot_helper(pair):
    result = idw.compare(*pair, color="lime")
    fig, axes = plt.subplots(1, 2)
    drawn = idw.plot(result, ax=axes)
    assert len(drawn) == 2
    assert len(axes[0].images) == 1
    fig.canvas.draw()
    assert count_colour(np.asarray(fig.canvas.buffer_rgba())[..., :3], (0, 255, 0)) > 100
    plt.close(fig)
    fig, ax = plt.subplots()
    idw.plot(result, ax=ax, panels="heatmap")
    plt.close(fig)
    with pytest.raises(idw.ParameterError, match="panels"):
        idw.plot(result, panels="nope")
    fig, ax = plt.subplots()
    with pytest.raises(idw.ParameterError, match="one axes per panel"):
        idw.plot(result, ax=ax, panels=("a", "b"))
    plt.close(fig)


@pytest.mark.parametrize("backend", BACKENDS)
def test_create_close_cycles_do_not_leak(pair, backend):
    import weakref

    from ipywidgets.widgets.widget import _instances

    plt.close("all")
    first = DiffWidget(*pair, backend=backend, figsize=(6, 2.5))
    first.close()
    gc.collect()
    registered = len(_instances)
    kept = []
    for _ in range(50):
        w = DiffWidget(*pair, backend=backend, figsize=(6, 2.5))
        w.color = "lime"
        kept.append((weakref.ref(w), weakref.ref(w.figure), weakref.ref(w.result)))
        w.close()
        del w
    gc.collect()
    assert plt.get_fignums() == []
    # Every child widget (controls, layouts, styles, canvas, toolbar) left the registry.
    assert len(_instances) == registered
    # Nothing holds a widget, its figure or its (image-sized) result.
    alive = [i for i, refs in enumerate(kept) if any(r() is not None for r in refs)]
    assert alive == []


@pytest.mark.parametrize(
    ("shape", "height"), [((300, 300), 4.36), ((400, 600), 3.0), ((900, 300), 8.0)]
)
def test_default_figure_height_follows_the_image_aspect(shape, height):
    a = np.zeros((*shape, 3), np.uint8)
    w = DiffWidget(a, a, backend="png")
    try:
        assert w.figure.get_size_inches() == pytest.approx((12.0, height), abs=0.01)
        # The image fills its side-by-side panel (a fixed 12 x 4.6 figure left
        # a 3:2 photo 63 % of the panel and blank bands above and below it;
        # a 1:3 scan is limited by the 8 inch cap: 61 %, was 35 %).
        w.figure.canvas.draw()
        ax = w._figure.ax_a
        drawn, allotted = ax.get_position(original=False), ax.get_position(original=True)
        filled = (drawn.width * drawn.height) / (allotted.width * allotted.height)
        assert filled > (0.6 if height == 8.0 else 0.95)
    finally:
        w.close()
    w = DiffWidget(a, a, backend="png", figsize=(9, 3.5))
    assert tuple(w.figure.get_size_inches()) == (9, 3.5)
    w.close()


def test_ignore_mask_from_python(pair):
    a, b = pair
    everything = np.ones(a.shape[:2], bool)
    w = DiffWidget(a, b, backend="png", ignore=everything)
    assert w.error == ""
    assert w.result.regions == []
    assert w.controls.ignore.value == f"<mask {a.shape[1]}x{a.shape[0]}>"
    w.ignore = None
    assert len(w.result.regions) > 0
    w.ignore = everything  # a mask set on the trait applies too
    assert w.params.ignore is not None
    assert w.result.regions == []
    w.threshold = 0.3  # and stays through other changes
    assert w.result.regions == []
    w.close()


@pytest.mark.parametrize("policy", ["pad", "crop"])
def test_figure_shows_the_compared_frame(pair, policy):
    # With a size policy the compared frame is not image A's size.
    a, b = pair
    b = np.pad(b, ((0, 40), (0, 60), (0, 0)), mode="edge") if policy == "pad" else b[:150, :200]
    w = DiffWidget(a, b, backend="png", size_mismatch=policy)
    height, width = w.result.mask.shape
    assert (height, width) != a.shape[:2]
    assert w.figure.axes[0].get_xlim() == (-0.5, width - 0.5)
    assert w.figure.axes[0].get_ylim() == (height - 0.5, -0.5)
    w.close()


def test_a_failed_first_comparison_keeps_the_parameters(pair):
    a, b = pair
    w = DiffWidget(a, b[:150, :200], backend="png", color="lime", threshold=0.2)
    assert w.result is None
    assert "size" in w.error
    assert (w.color, w.threshold) == ("lime", 0.2)
    w.size_mismatch = "crop"  # the one at fault, changed alone
    assert w.result is not None
    assert (w.result.params.color, w.result.params.threshold) == ("lime", 0.2)
    w.close()


def test_selection_follows_the_region_when_labels_change():
    # Three squares; ignoring the first renumbers the other two.
    a = np.full((120, 400, 3), 0.5)
    b = a.copy()
    for col in (30, 140, 250):
        b[40:70, col : col + 30] = (1.0, 0.0, 0.0)
    w = DiffWidget(a, b, backend="png")
    w.select_region(2)
    view = w.figure.axes[0].get_xlim()
    w.ignore = ((0, 0, 120, 100),)
    assert [r.bbox[1] for r in w.result.regions] == [140, 250]
    assert w.controls.regions.value == 1  # the same square, now numbered 1
    assert w.figure.axes[0].get_xlim() == view
    w.next_region()
    assert w.result.regions[1].bbox[1] == 250
    assert w.controls.regions.value == 2
    w.close()


def test_swipe_line_follows_a_toolbar_zoom(pair):
    w = DiffWidget(*pair, backend="png", view="swipe")
    ax = w.figure.axes[3]  # the single panel
    ax.set_xlim(100, 200)  # as the toolbar's zoom or pan does
    assert w._figure.swipe_line.get_xdata()[0] == pytest.approx(100 + w.swipe * 100)
    w.close()


def test_busy_line_keeps_its_markup_while_it_ticks(pair, monkeypatch):
    w = DiffWidget(*pair, backend="png")
    w._set_busy("computing (metric changed)")
    w._idle.clear()
    waits = iter([False, True])
    monkeypatch.setattr(w._idle, "wait", lambda _timeout: next(waits))
    w._heartbeat()
    html = w.controls.busy.value
    assert html.count("<span") == html.count("</span>") == 1
    assert "computing (metric changed) · " in html
    w._set_busy(None)
    w.close()
