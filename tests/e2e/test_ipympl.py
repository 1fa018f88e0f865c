"""The widget on ipympl's interactive canvas, in a real JupyterLab."""

from __future__ import annotations

import nbformat
import pytest
from jupyter_ui import STATUS, open_notebook, run_all_cells, status
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

CELL = """\
%matplotlib widget
from imgdiff_widget import DiffWidget
from imgdiff_widget._cli import sample_paths
w = DiffWidget(*sample_paths())
w
"""


def test_widget_on_the_ipympl_canvas(jupyterlab, page, shots):
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(CELL))
    nbformat.write(notebook, jupyterlab.root / "ipympl.ipynb")
    open_notebook(page, jupyterlab.url("/lab/tree/ipympl.ipynb"))
    run_all_cells(page)
    widget = page.locator(".imgdiff-widget").first
    expect(widget).to_be_attached(timeout=120_000)
    expect(status(widget)).to_have_text(STATUS, timeout=120_000)
    # ipympl draws into a <canvas> of its own, with its toolbar; no PNG <img>.
    canvas = widget.locator(".jupyter-matplotlib canvas").first
    expect(canvas).to_be_visible(timeout=60_000)
    assert widget.locator("img.imgdiff-figure").count() == 0
    page.wait_for_timeout(1500)  # let the first frame paint
    widget.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "jupyterlab-ipympl.png"), clip=widget.bounding_box())
