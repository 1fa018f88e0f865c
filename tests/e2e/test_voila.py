"""notebooks/app.ipynb served by Voila: upload two images, see the result, download it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jupyter_ui import RESULT_TIMEOUT, STATUS, status
from PIL import Image
from playwright.sync_api import expect
from skimage import data
from skimage.transform import rescale

from imgdiff_widget.synthetic import make_pair

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def upload_pair(tmp_path_factory):
    """Two PNGs of a photo with known edits (not the bundled sample)."""
    folder = tmp_path_factory.mktemp("upload")
    photo = rescale(data.astronaut(), 0.75, channel_axis=-1, anti_aliasing=True)
    photo = (photo * 255).round().astype(np.uint8)
    pair = make_pair(photo, ("add", "recolor", "remove"), seed=3, nuisances={"jpeg": (92, 88)})
    paths = folder / "before.png", folder / "after.png"
    Image.fromarray(pair.a).save(paths[0])
    Image.fromarray(pair.b).save(paths[1])
    return paths, pair


def _upload(page, css_class: str, path) -> None:
    # ipywidgets' FileUpload is a button that opens a file chooser.
    with page.expect_file_chooser() as chooser:
        page.locator(f".{css_class}").click()
    chooser.value.set_files(str(path))


def test_voila_app_upload_and_download(voila, page, shots, upload_pair):
    (before, after), pair = upload_pair
    page.goto(voila.url("/"))
    expect(page.locator(".upload-a")).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(page.locator(".app-status")).to_contain_text("Choose image A")
    # An app: the code is not shown.
    expect(page.get_by_text("import ipywidgets as widgets")).to_have_count(0)

    _upload(page, "upload-a", before)
    expect(page.locator(".app-status")).to_contain_text("Now choose image B")
    _upload(page, "upload-b", after)
    expect(page.locator(".app-status")).to_contain_text("before.png and after.png")

    widget = page.locator(".imgdiff-widget")
    expect(widget).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(status(widget)).to_have_text(STATUS, timeout=RESULT_TIMEOUT)
    expect(widget.locator("img.imgdiff-figure")).to_be_visible()
    links = page.locator(".app-downloads a[download]")
    expect(links).to_have_count(4, timeout=RESULT_TIMEOUT)
    assert links.all_inner_texts() == [
        f"⬇ {n}" for n in ("overlay_a.png", "overlay_b.png", "mask.png", "regions.json")
    ]
    # The app scrolls inside Voila's container: a tall viewport shows all of it.
    page.set_viewport_size({"width": 1400, "height": 1500})
    expect(links.first).to_be_in_viewport()
    page.screenshot(path=str(shots / "voila-app.png"))

    height, width = pair.a.shape[:2]
    with page.expect_download() as download:
        page.locator(".app-downloads a[download='mask.png']").click()
    mask_path = shots / "voila-download-mask.png"
    download.value.save_as(mask_path)
    assert download.value.suggested_filename == "mask.png"
    with Image.open(mask_path) as mask:
        assert mask.size == (width, height)
        marked = np.asarray(mask) > 0
    # The marks sit on the edits (the truth is known).
    assert marked.any()
    assert (marked & pair.truth_mask).sum() > 0.5 * marked.sum()

    with page.expect_download() as download:
        page.locator(".app-downloads a[download='regions.json']").click()
    regions_path = shots / "voila-download-regions.json"
    download.value.save_as(regions_path)
    summary = json.loads(regions_path.read_text())
    assert summary["image_size"] == {"height": height, "width": width}
    assert summary["n_regions"] == len(summary["regions"]) >= 1


def test_voila_app_sample_button(voila, page):
    page.goto(voila.url("/"))
    page.locator(".use-sample").click()
    widget = page.locator(".imgdiff-widget")
    expect(widget).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(status(widget)).to_have_text(STATUS, timeout=RESULT_TIMEOUT)
    expect(page.locator(".app-downloads a[download]")).to_have_count(4, timeout=RESULT_TIMEOUT)
