"""Driving JupyterLab / Notebook 7 and the widget through the page, as a user would."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Locator, Page, expect

# Running the quickstart computes the sample twice (compare and the widget);
# generous on a loaded 2-core machine. Hang guards, not speed tests.
RUN_TIMEOUT = 180_000
RESULT_TIMEOUT = 120_000
STATUS = re.compile(r"(\d+) region\(s\).*threshold (\d\.\d{3})( \(auto\))? ·")
MANUAL = re.compile(r"region\(s\).*threshold \d\.\d{3} ·")


def kernel_status(page: Page) -> str | None:
    return page.evaluate(
        "() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
        "?.getAttribute('data-status')"
    )


def wait_for_kernel_idle(page: Page, timeout: float = RESULT_TIMEOUT, stable: float = 2.0) -> None:
    """Until the notebook's kernel has been idle for `stable` seconds.

    While a notebook opens, the indicator flips idle → unknown → idle as the
    session connects; a command sent at the first "idle" can be lost.
    """
    deadline = time.monotonic() + timeout / 1000
    since = None
    while time.monotonic() < deadline:
        if kernel_status(page) == "idle":
            since = since or time.monotonic()
            if time.monotonic() - since >= stable:
                return
        else:
            since = None
        time.sleep(0.2)
    raise AssertionError(f"the kernel is not idle: {kernel_status(page)}")


def open_notebook(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator(".jp-Notebook").first).to_be_visible(timeout=RESULT_TIMEOUT)
    wait_for_kernel_idle(page)


def accept_dialog(page: Page) -> bool:
    """Accept a dialog over the notebook (e.g. "Select Kernel"), if one is shown."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.first.is_visible():
        dialog.first.locator(".jp-mod-accept").click()
        expect(dialog).to_have_count(0)
        return True
    return False


def _prompts(page: Page) -> list[str]:
    return page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()


def run_all_cells(page: Page) -> None:
    """Run ▸ Run All Cells from the menu bar (JupyterLab and Notebook 7 alike); wait for the end.

    JupyterLab sometimes replaces the kernel it has just started and asks
    "Select Kernel" (two sessions racing while the page loads), which stops
    the run: the dialog is accepted and the run started again.
    """
    deadline = time.monotonic() + RUN_TIMEOUT / 1000
    for _attempt in range(3):
        accept_dialog(page)
        wait_for_kernel_idle(page)
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        while time.monotonic() < deadline:
            prompts = _prompts(page)
            if prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts):
                return
            if accept_dialog(page):
                break  # the run was interrupted: start it again
            time.sleep(0.25)
        else:
            raise AssertionError(f"Run All Cells did not finish: prompts {_prompts(page)}")
    raise AssertionError("Run All Cells was interrupted three times")


def wait_for_widget(page: Page) -> Locator:
    """The DiffWidget, once it shows an exact result; returns its locator."""
    widget = page.locator(".imgdiff-widget").first
    expect(widget).to_be_attached(timeout=RUN_TIMEOUT)
    widget.scroll_into_view_if_needed()
    expect(widget).to_be_visible()
    expect(status(widget)).to_have_text(STATUS, timeout=RESULT_TIMEOUT)
    figure = widget.locator("img.imgdiff-figure")
    expect(figure).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 100 && img.naturalHeight > 100",
        arg=figure.element_handle(),
        timeout=RESULT_TIMEOUT,
    )
    return widget


def status(widget: Locator) -> Locator:
    """The widget's status line (regions, threshold, min area, shift, stage timings)."""
    return widget.locator(".widget-html-content", has_text="region(s)").first


def read_status(widget: Locator) -> tuple[int, float, bool]:
    """(number of regions, threshold, whether the threshold is automatic)."""
    match = STATUS.search(status(widget).inner_text())
    assert match, status(widget).inner_text()
    return int(match[1]), float(match[2]), bool(match[3])


def labelled(widget: Locator, kind: str, label: str) -> Locator:
    """The control of class `kind` (e.g. "widget-slider") whose description is `label`."""
    return widget.locator(f".{kind}").filter(
        has=widget.page.locator(".widget-label", has_text=re.compile(rf"^{re.escape(label)}$"))
    )


def check_controls(widget: Locator) -> None:
    """The control panel rendered: tabs, view buttons, the threshold slider, export."""
    for tab in ("Detect", "Clean up", "Show"):
        expect(widget.locator(".lm-TabBar-tabLabel", has_text=tab).first).to_be_visible()
    expect(widget.get_by_role("button", name="A | B | mask")).to_be_visible()
    expect(widget.get_by_role("button", name="histogram")).to_be_visible()
    expect(labelled(widget, "widget-slider", "threshold")).to_be_visible()
    expect(widget.get_by_role("button", name="save")).to_be_visible()
    expect(widget.locator("select").first).to_be_attached()  # the region table


def type_slider_value(slider: Locator, value: float) -> None:
    """Type a value into the slider's readout and press Enter, as a user can."""
    readout = slider.locator(".widget-readout")
    readout.scroll_into_view_if_needed()
    readout.click()
    readout.fill(f"{value}")
    readout.press("Enter")


def wait_for_painted(widget: Locator, timeout: float = RESULT_TIMEOUT) -> None:
    """Until the figure's image is decoded and its source has stopped changing."""
    figure = widget.locator("img.imgdiff-figure")
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        src = figure.get_attribute("src")
        figure.evaluate("img => img.decode()")  # resolves once the image can be painted
        time.sleep(0.2)
        if figure.get_attribute("src") == src:
            return
    raise AssertionError("the figure kept changing")


def wait_for_change(widget: Locator, before: str, timeout: float = RESULT_TIMEOUT) -> str:
    """Until the figure's image source differs from `before`; returns the new one."""
    figure = widget.locator("img.imgdiff-figure")
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        now = figure.get_attribute("src")
        if now != before:
            return now
        time.sleep(0.2)
    raise AssertionError("the figure did not change")
