"""The widget inside a real Jupyter kernel, where it computes in the background."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

CELL = """
import json
from imgdiff_widget import DiffWidget
from imgdiff_widget._cli import sample_paths
a, b = sample_paths()
w = DiffWidget(a, b)
background = w._background
w.threshold = 0.3            # a slow change, running on the worker thread
files = w.save(OUT)          # must not wait for the kernel's loop this cell blocks
print(json.dumps({"background": background, "threshold": w.result.threshold,
                  "files": sorted(files)}))
w.close()
"""


@pytest.mark.slow
def test_save_from_a_cell_does_not_deadlock(tmp_path):
    out = tmp_path / "out"
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(CELL.replace("OUT", repr(str(out)))))
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    text = "".join(
        o.get("text", "") for o in notebook.cells[0].outputs if o.output_type == "stream"
    )
    report = json.loads(text.strip().splitlines()[-1])
    assert report["background"] is True  # really the kernel path
    assert report["threshold"] == pytest.approx(0.3)
    assert report["files"] == ["mask.png", "overlay_a.png", "overlay_b.png", "regions.json"]
    assert (out / "regions.json").is_file()
