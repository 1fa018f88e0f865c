"""The quickstart in a real JupyterLab and a real Notebook 7, in headless Chromium."""

from __future__ import annotations

import pytest
from jupyter_ui import (
    MANUAL,
    check_controls,
    labelled,
    open_notebook,
    read_status,
    run_all_cells,
    status,
    type_slider_value,
    wait_for_change,
    wait_for_painted,
    wait_for_widget,
)
from playwright.sync_api import expect

from imgdiff_widget import compare

pytestmark = pytest.mark.e2e
# On the sample pair this gives 14 regions, the automatic cut 6 (0.05-0.3 give 6 too).
NEW_THRESHOLD = 0.03


def _figure_box(widget):
    """The figure's box in the coordinates of a screenshot of `widget`."""
    w, f = widget.bounding_box(), widget.locator("img.imgdiff-figure").bounding_box()
    return (f["y"] - w["y"], f["x"] - w["x"], f["y"] - w["y"] + f["height"],
            f["x"] - w["x"] + f["width"])  # fmt: skip


def _inside(bbox, box) -> bool:
    r0, c0, r1, c1 = bbox
    return r0 >= box[0] - 1 and c0 >= box[1] - 1 and r1 <= box[2] + 1 and c1 <= box[3] + 1


def test_quickstart_in_jupyterlab(jupyterlab, page, shots):
    open_notebook(page, jupyterlab.url("/lab/tree/quickstart.ipynb"))
    run_all_cells(page)
    widget = wait_for_widget(page)
    check_controls(widget)
    # The earlier cells ran too: the files were saved next to the notebook.
    saved = jupyterlab.root / "quickstart-output"
    assert sorted(p.name for p in saved.iterdir()) == [
        "mask.png", "overlay_a.png", "overlay_b.png", "regions.json"
    ]  # fmt: skip
    regions_before, _, auto = read_status(widget)
    assert auto
    assert regions_before > 0

    widget.scroll_into_view_if_needed()
    clip = widget.bounding_box()
    before_png = shots / "jupyterlab-before.png"
    page.screenshot(path=str(before_png), clip=clip)
    figure = widget.locator("img.imgdiff-figure")

    # Untick "auto" (the same cut, now manual), then type a threshold well below it.
    slider = labelled(widget, "widget-slider", "threshold")
    slider.locator("xpath=..").locator(".widget-checkbox input").uncheck()
    expect(slider.locator(".widget-readout")).to_have_attribute("contenteditable", "true")
    expect(status(widget)).to_have_text(MANUAL, timeout=120_000)
    src = figure.get_attribute("src")
    type_slider_value(slider, NEW_THRESHOLD)
    expect(status(widget)).to_contain_text(f"threshold {NEW_THRESHOLD:.3f} ·", timeout=120_000)
    wait_for_change(widget, src)
    regions_after, threshold_after, auto = read_status(widget)
    assert not auto
    assert threshold_after == pytest.approx(NEW_THRESHOLD)
    assert regions_after != regions_before
    wait_for_painted(widget)
    after_png = shots / "jupyterlab-after.png"
    page.screenshot(path=str(after_png), clip=clip)
    page.screenshot(path=str(shots / "jupyterlab-after-slider.png"))

    # The package compares its own screenshots: the figure changed.
    diff = compare(before_png, after_png, metric="pixel", align="none")
    diff.save(shots / "jupyterlab-slider-diff")
    box = _figure_box(widget)
    in_figure = [r for r in diff.regions if _inside(r.bbox, box)]
    assert in_figure, (box, [r.bbox for r in diff.regions])
    assert sum(r.area for r in in_figure) > 500


def test_quickstart_in_notebook7(notebook7, page, shots):
    open_notebook(page, notebook7.url("/notebooks/quickstart.ipynb"))
    run_all_cells(page)
    widget = wait_for_widget(page)
    check_controls(widget)
    regions, _, auto = read_status(widget)
    assert auto
    assert regions > 0
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "notebook7.png"))
