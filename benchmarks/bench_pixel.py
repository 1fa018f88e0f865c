"""Benchmark ``pixel_delta`` on odiff's 37 MP screenshot pair.

Usage::

    python benchmarks/bench_pixel.py [--band-rows 20] [--bands 48] [--repeat 3]

Times, in one run:

* PNG decode (Pillow) + ``pixel_delta`` on the full 3446×10728 pair, and
  ``aliased_vs_antialiased`` (the extra test of ``ignore_antialiasing=True``);
* the ``pixelmatch`` PyPI package (pure Python, older YIQ algorithm) on
  full-width row bands evenly spread over the image (a stratified ~9 % sample;
  the whole pair would take minutes) and ``pixel_delta`` on the same bands;
  the pure-Python time is extrapolated per pixel to 37 MP and flagged as such.
  Its cost per pixel grows with the share of differing pixels, so the band
  and full-image mismatch densities are printed side by side;
* peak memory of decode + ``pixel_delta`` (tracemalloc, in a separate run so
  tracing does not slow the timed ones; Pillow's own decode buffers are not
  traced, so the process peak RSS is printed too).

odiff's and pixelmatch.js's published times for this pair (odiff README,
MacBook Pro 16, decoding included) are printed as reference points; they were
not measured here.
"""

from __future__ import annotations

import argparse
import array
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

from imgdiff_widget._pixel import aliased_vs_antialiased, pixel_delta

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
LARGE = PEERS / "odiff" / "large"
A_PATH = LARGE / "www.cypress.io.png"
B_PATH = LARGE / "www.cypress.io-1.png"
ODIFF_PUBLISHED_S = 1.17
PIXELMATCH_JS_PUBLISHED_S = 7.71


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--band-rows", type=int, default=20)
    parser.add_argument("--bands", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threshold", type=float, default=0.1)
    args = parser.parse_args()

    if not (A_PATH.is_file() and B_PATH.is_file()):
        print(f"SKIP: peer screenshots not found in {LARGE}")
        return 0

    print(f"pair: {A_PATH.name} vs {B_PATH.name}, threshold {args.threshold}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")

    # -- full image: decode + pixel_delta -----------------------------------
    t0 = time.perf_counter()
    a = decode(A_PATH)
    b = decode(B_PATH)
    t_decode = time.perf_counter() - t0
    h, w = a.shape[:2]
    npx = h * w
    t_delta, res = best_of(lambda: pixel_delta(a, b, threshold=args.threshold), args.repeat)
    ours_total = t_decode + t_delta
    print(f"\nimage {w}×{h} = {npx / 1e6:.1f} MP")
    print(f"  decode (Pillow, both PNGs)      {t_decode:7.2f} s")
    print(
        f"  pixel_delta (best of {args.repeat})         {t_delta:7.2f} s"
        f"   ({t_delta / npx * 1e9:.1f} ns/px)"
    )
    print(f"  decode + pixel_delta            {ours_total:7.2f} s")
    print(
        f"  mismatched pixels: {res.n_diff}  (+ {res.n_antialiased} anti-aliased, "
        f"{res.fraction:.2%} of the image)"
    )
    # the broader anti-aliasing test ignore_antialiasing=True adds in compare()
    t_broad, broad = best_of(lambda: aliased_vs_antialiased(a, b), args.repeat)
    print(
        f"  aliased_vs_antialiased          {t_broad:7.2f} s"
        f"   ({t_broad / t_delta:.2f}× pixel_delta; takes "
        f"{int(np.count_nonzero(res.diff & broad))} of the mismatched pixels)"
    )

    # -- pure-Python pixelmatch on row bands ------------------------------------
    try:
        from pixelmatch import pixelmatch as pm_py
    except ImportError:
        pm_py = None
        print("\npixelmatch (PyPI) not installed; skipping its timing")
    # band i is centred in the i-th of `bands` equal horizontal strips
    centres = (np.arange(args.bands) + 0.5) * h / args.bands
    starts = [int(c) - args.band_rows // 2 for c in centres]
    band_px = 0
    t_py = t_ours_bands = 0.0
    n_py = n_ours = 0
    for y0 in starts:
        ca = np.ascontiguousarray(a[y0 : y0 + args.band_rows])
        cb = np.ascontiguousarray(b[y0 : y0 + args.band_rows])
        band_px += ca.shape[0] * ca.shape[1]
        t, r = best_of(lambda ca=ca, cb=cb: pixel_delta(ca, cb, threshold=args.threshold), 1)
        t_ours_bands += t
        n_ours += r.n_diff
        if pm_py is not None:
            # b as array.array: pixelmatch's whole-image `img1 == img2` shortcut
            # then never fires on an identical band, as it cannot on the full pair
            ba, bb = ca.tobytes(), array.array("B", cb.tobytes())
            t0 = time.perf_counter()
            n_py += pm_py(ba, bb, ca.shape[1], ca.shape[0], threshold=args.threshold)
            t_py += time.perf_counter() - t0
    print(
        f"\nrow bands: {args.bands} × {args.band_rows} rows at y = {list(starts)} "
        f"({band_px / 1e6:.2f} MP, {band_px / npx:.1%} of the image)\n"
        "  per-pixel cost depends on how many pixels differ: bands hold "
        f"{n_ours / band_px:.2%} mismatches, the full image {res.n_diff / npx:.2%}"
    )
    print(
        f"  pixel_delta on bands            {t_ours_bands:7.3f} s"
        f"   ({t_ours_bands / band_px * 1e9:.1f} ns/px), {n_ours} mismatches"
    )
    if pm_py is not None:
        py_full = t_py / band_px * npx
        print(
            f"  pixelmatch PyPI 0.4.0 on bands  {t_py:7.2f} s"
            f"   ({t_py / band_px * 1e9:.0f} ns/px), {n_py} mismatches (YIQ metric)"
        )
        print(
            f"  pixelmatch PyPI, EXTRAPOLATED per pixel to {npx / 1e6:.1f} MP: "
            f"{py_full:.0f} s (not measured on the full image)"
        )

    # -- peak memory (separate, traced run) -----------------------------------
    del a, b, res
    tracemalloc.start()
    a = decode(A_PATH)
    b = decode(B_PATH)
    after_decode = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    pixel_delta(a, b, threshold=args.threshold)
    peak_delta = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print("\npeak memory (tracemalloc: numpy + Python allocations)")
    print(f"  decoded arrays (2 × RGBA)       {after_decode / 2**20:8.0f} MiB")
    print(f"  peak during pixel_delta         {peak_delta / 2**20:8.0f} MiB (inputs included)")
    print(f"  process max RSS                 {rss:8.0f} MiB")

    # -- reference points and ratios --------------------------------------------
    print("\nreference points (published by odiff for this pair, not measured here):")
    print(f"  odiff           {ODIFF_PUBLISHED_S:5.2f} s  (MacBook Pro 16, decoding included)")
    print(f"  pixelmatch.js   {PIXELMATCH_JS_PUBLISHED_S:5.2f} s  (same machine and conditions)")
    print("\nratios (different machines for the published figures: indicative only)")
    print(
        f"  ours (decode + delta) / odiff published          "
        f"{ours_total / ODIFF_PUBLISHED_S:6.2f}×"
    )
    print(
        f"  ours (decode + delta) / pixelmatch.js published  "
        f"{ours_total / PIXELMATCH_JS_PUBLISHED_S:6.2f}×"
    )
    print(
        f"  ours pixel_delta only / odiff published          {t_delta / ODIFF_PUBLISHED_S:6.2f}×"
    )
    if pm_py is not None:
        print(
            f"  pixelmatch PyPI / pixel_delta (same bands)       "
            f"{t_py / t_ours_bands:6.0f}×  (measured)"
        )
        print(
            f"  pixelmatch PyPI extrapolated / ours full         "
            f"{py_full / t_delta:6.0f}×  (extrapolated)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
