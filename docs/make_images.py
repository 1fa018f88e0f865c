"""Regenerate the README's pictures with the current code and default parameters.

Usage::

    python docs/make_images.py

Writes ``docs/demo/{overlay_a,overlay_b,mask}.png`` (the bundled sample, as
``imgdiff-widget demo`` renders it) and ``docs/shifted_pair.png`` (a photo
taken twice: B shifted, re-cropped, brighter and re-encoded), and prints what
each comparison found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data

from imgdiff_widget import compare, load_image
from imgdiff_widget.synthetic import make_pair

DOCS = Path(__file__).resolve().parent
SAMPLE = DOCS.parent / "imgdiff_widget" / "data"


def main() -> None:
    """Write the pictures and print what each comparison found."""
    demo = compare(load_image(SAMPLE / "coffee_a.jpg"), load_image(SAMPLE / "coffee_b.jpg"))
    (DOCS / "demo").mkdir(exist_ok=True)
    for name in ("overlay_a", "overlay_b", "mask_image"):
        target = "mask" if name == "mask_image" else name
        Image.fromarray(getattr(demo, name)).save(DOCS / "demo" / f"{target}.png")
    print(f"demo: {len(demo.regions)} regions, {int(demo.mask.sum())} px")

    pair = make_pair(
        data.chelsea(),
        seed=3,
        nuisances={"jpeg": (90, 75), "shift": (3, -4), "size_delta": (-2, 3), "gain": 1.05},
    )
    found = compare(pair.a, pair.b)
    mask = np.repeat(found.mask_image[..., None], 3, axis=-1)
    gap = np.full((found.mask.shape[0], 12, 3), 255, np.uint8)
    Image.fromarray(np.hstack([found.overlay_a, gap, found.overlay_b, gap, mask])).save(
        DOCS / "shifted_pair.png"
    )
    truth = pair.truth_mask
    hits = sum(bool(found.mask[t].mean() >= 0.3) for t in pair.truth)
    false = [
        r.bbox
        for r in found.regions
        if not truth[r.bbox[0] : r.bbox[2], r.bbox[1] : r.bbox[3]].any()
    ]
    print(
        f"shifted pair: shift {found.shift}, {len(found.regions)} regions, "
        f"{hits}/{len(pair.truth)} edits found, false regions {false}"
    )


if __name__ == "__main__":
    main()
