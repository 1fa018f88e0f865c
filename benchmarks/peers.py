"""Parity with the peer image-diff tools on their own test pairs.

Runs ``compare`` on every case listed in ../shared/peers/README.md and prints
their figure beside ours: pixelmatch's mismatch counts (``metric="pixel"``),
odiff's counts (YIQ delta, threshold 0.1; we report our pixel count at 0.1),
and where documented, whether every mark lies inside the documented bounds —
with the default photo metric, and with the pixel metric. The pixel metric's
counts are given with ``ignore_antialiasing="auto"`` (pixelmatch's detector
alone, the figure to compare with pixelmatch's) and with ``True`` (also
``aliased_vs_antialiased``: what the broader test costs on real differences).

Usage: python benchmarks/peers.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from imgdiff_widget import ImageDiffError, compare

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"

# (pair, a, b, their figure, compare() keywords)
PIXELMATCH = [
    ("1a/1b", "1a", "1b", 154, {"threshold": 0.05}),
    ("1a/1b t0.1", "1a", "1b", 120, {"threshold": 0.1}),
    ("1a/1a", "1a", "1a", 0, {}),
    ("2a/2b", "2a", "2b", 12821, {"threshold": 0.05}),
    ("3a/3b", "3a", "3b", 220, {"threshold": 0.05}),
    ("4a/4b", "4a", "4b", 36563, {"threshold": 0.05}),
    ("5a/5b", "5a", "5b", 0, {"threshold": 0.05}),
    ("6a/6b", "6a", "6b", 51, {"threshold": 0.05}),
    ("6a/6a", "6a", "6a", 0, {}),
    ("7a/7b t0.1", "7a", "7b", 2440, {"threshold": 0.1}),
    ("8a/5b", "8a", "5b", 32896, {"threshold": 0.05}),
]
ODIFF = [
    ("orange", "odiff/png/orange.png", "odiff/png/orange_changed.png", 1366),
    ("tiger", "odiff/jpg/tiger.jpg", "odiff/jpg/tiger-2.jpg", 7789),
    ("clouds", "odiff/bmp/clouds.bmp", "odiff/bmp/clouds-2.bmp", 192),
    ("laptops", "odiff/tiff/laptops.tiff", "odiff/tiff/laptops-2.tiff", 8569),
    ("aa on/off", "odiff/aa/antialiasing-on.png", "odiff/aa/antialiasing-off.png", 38),
    ("extreme-alpha", "odiff/png/extreme-alpha.png", "odiff/png/extreme-alpha-1.png", 0),
]
# (pair, a, b, documented bounds as (x0, y0, x1, y1) boxes, inclusive)
BOUNDS = [
    (
        "odiff orange",
        "odiff/png/orange.png",
        "odiff/png/orange_changed.png",
        [(150, 30, 310, 105), (20, 175, 105, 200)],
    ),
    (
        "Resemble People",
        "resemblejs/demoassets/People.jpg",
        "resemblejs/demoassets/People2.jpg",
        [(22, 58, 450, 431)],
    ),
    (
        "Resemble ghost",
        "resemblejs/demoassets/ghost1.png",
        "resemblejs/demoassets/ghost2.png",
        [(90, 107, 157, 138)],
    ),
]
AA_ONLY = [
    ("Resemble text/textAa", "resemblejs/assets/text.png", "resemblejs/assets/textAa.png"),
    ("pixelmatch 5a/5b", "pixelmatch/5a.png", "pixelmatch/5b.png"),
]


def _inside(mask: np.ndarray, boxes) -> float:
    allowed = np.zeros_like(mask)
    for x0, y0, x1, y1 in boxes:
        allowed[y0 : y1 + 1, x0 : x1 + 1] = True
    marked = np.count_nonzero(mask)
    return np.count_nonzero(mask & allowed) / marked if marked else 1.0


def main() -> int:
    if not PEERS.is_dir():
        print(f"skipped: {PEERS} is absent")
        return 0
    print("## pixelmatch fixtures, metric='pixel' (pixelmatch v7 counts from its test suite)\n")
    print(
        f"| {'pair':<12} | {'theirs':>7} | {'ours':>7} | {'anti-aliased':>12} | {'regions':>7} "
        f"| {'ours, ignore_aa=True':>20} | {'regions':>7} |"
    )
    print(f"|{'-' * 14}|{'-' * 9}|{'-' * 9}|{'-' * 14}|{'-' * 9}|{'-' * 22}|{'-' * 9}|")
    for label, a, b, theirs, kwargs in PIXELMATCH:
        r, on = (
            compare(
                PEERS / "pixelmatch" / f"{a}.png",
                PEERS / "pixelmatch" / f"{b}.png",
                metric="pixel",
                align="none",
                ignore_antialiasing=ignore_aa,
                **kwargs,
            )
            for ignore_aa in ("auto", True)
        )
        print(
            f"| {label:<12} | {theirs:>7} | {r.n_diff_pixels:>7} | "
            f"{int(r.antialiased.sum()):>12} | {len(r.regions):>7} "
            f"| {on.n_diff_pixels:>20} | {len(on.regions):>7} |"
        )

    print(
        "\n## odiff pairs (odiff: YIQ delta at threshold 0.1; ours: metric='pixel' at 0.1"
        " and the default photo metric)\n"
    )
    print(
        f"| {'pair':<14} | {'odiff px':>8} | {'pixel px':>8} | {'pixel, ignore_aa=True':>21} "
        f"| {'default regions':>15} | {'default px':>10} | {'ms':>6} |"
    )
    print(f"|{'-' * 16}|{'-' * 10}|{'-' * 10}|{'-' * 23}|{'-' * 17}|{'-' * 12}|{'-' * 8}|")
    for label, a, b, theirs in ODIFF:
        pixel = compare(PEERS / a, PEERS / b, metric="pixel", align="none")
        pixel_on = compare(
            PEERS / a, PEERS / b, metric="pixel", align="none", ignore_antialiasing=True
        )
        start = time.perf_counter()
        photo = compare(PEERS / a, PEERS / b)
        ms = 1000 * (time.perf_counter() - start)
        print(
            f"| {label:<14} | {theirs:>8} | {pixel.n_diff_pixels:>8} "
            f"| {pixel_on.n_diff_pixels:>21} | {len(photo.regions):>15} "
            f"| {photo.n_diff_pixels:>10} | {ms:>6.0f} |"
        )
    for label, kwargs in [
        ("default", {}),
        ("size_mismatch='pad'", {"size_mismatch": "pad"}),
        ("metric='pixel'", {"metric": "pixel"}),
    ]:
        try:
            r = compare(
                PEERS / "odiff/png/white4x4.png", PEERS / "odiff/png/purple8x8.png", **kwargs
            )
            print(
                f"white4x4 vs purple8x8, {label}: {len(r.regions)} region(s), "
                f"{r.n_diff_pixels} px, bboxes {[x.bbox for x in r.regions]}"
            )
        except ImageDiffError as exc:
            print(f"white4x4 vs purple8x8, {label}: {type(exc).__name__}: {exc}")

    print("\n## documented bounds: share of marked pixels inside them\n")
    print(
        f"| {'pair':<16} | {'metric':<15} | {'regions':>7} | {'marked px':>9} | {'inside':>6} "
        f"| {'with the bounds ignored':>23} |"
    )
    print(f"|{'-' * 18}|{'-' * 17}|{'-' * 9}|{'-' * 11}|{'-' * 8}|{'-' * 25}|")
    for label, a, b, boxes in BOUNDS:
        rects = [(y0, x0, y1 + 1, x1 + 1) for x0, y0, x1, y1 in boxes]
        for metric, ignore_aa in (
            ("combined", "auto"),
            ("combined", True),
            ("pixel", "auto"),
            ("pixel", True),
        ):
            kw = {"metric": metric, "ignore_antialiasing": ignore_aa}
            r = compare(PEERS / a, PEERS / b, **kw)
            ignored = compare(PEERS / a, PEERS / b, ignore=rects, **kw)
            name = metric + (", aa on" if ignore_aa is True else "")
            print(
                f"| {label:<16} | {name:<15} | {len(r.regions):>7} | {r.n_diff_pixels:>9} | "
                f"{_inside(r.mask, boxes):>6.3f} | {ignored.n_diff_pixels:>20} px |"
            )

    print(
        "\n## anti-aliasing-only pairs: marked pixels, ignore_antialiasing True / auto / False\n"
    )
    for label, a, b in AA_ONLY:
        for metric in ("combined", "pixel"):
            on, auto, off = (
                compare(PEERS / a, PEERS / b, metric=metric, ignore_antialiasing=ignore_aa)
                for ignore_aa in (True, "auto", False)
            )
            print(
                f"{label:<22} {metric:<8}: True {on.n_diff_pixels:>5} px ({len(on.regions)} "
                f"regions, {int(on.antialiased.sum())} anti-aliased reported); "
                f"auto {auto.n_diff_pixels:>5} px; False {off.n_diff_pixels:>5} px"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
