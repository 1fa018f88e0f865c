"""Speed and memory of the whole pipeline, beside scikit-image's SSIM and the common SSIM answer.

Usage::

    python benchmarks/speed.py [--sizes 0.25,1,4,12,37] [--repeat 2] [--no-default-37]

For each size (megapixels) a JPEG pair is generated: scikit-image's astronaut
photo resized to a 3:4 frame of that many pixels, six edits by
:func:`imgdiff_widget.synthetic.make_pair`, saved at JPEG qualities 85 and 80.
"37" is the 37 MP screenshot pair in ``../shared/peers/odiff/large``
(3446 x 10728 PNG; skipped when absent), compared with ``metric="pixel"``
(the screenshot metric) and, unless ``--no-default-37``, with the default
metric too.

Printed per size (best of ``--repeat`` runs, in seconds):

- each stage's time in a full ``DiffPipeline(a, b).run()`` (``DiffResult.timings``);
- ``compare``: the whole ``DiffPipeline(a, b).run()`` on the decoded uint8
  arrays, and ``+decode``: the same from the JPEG/PNG bytes (decoding included);
- re-runs on the cached pipeline after a threshold change, then a min_area
  change, then a colour change (each on top of the previous one, so only the
  changed stage and those after it run; every run sets a value not set
  before, as a slider moved to a new position does), and the stage times of
  the fastest threshold re-run;
- baselines on the same decoded arrays, in the same run: scikit-image's
  ``structural_similarity(grey_a, grey_b, full=True)`` on uint8 grey, and the
  common SSIM answer (grey SSIM, Otsu, contours with area > 40;
  ``benchmarks/_baselines.py``), with the ratios compare / answer and
  compare / SSIM, and each re-run as a fraction of compare;
- peak memory of one ``compare`` in a fresh process (after a tiny compare
  that does the lazy imports): numpy's allocations (tracemalloc) and, in
  another process without tracemalloc, the growth of the resident set (peak
  RSS, reset just before the call, minus the RSS then; Linux only), each as
  a multiple of the two decoded inputs counted two
  ways: uint8 pixels (2 x H x W x 3 bytes) and the float32 arrays
  ``load_image`` returns (4x that).

No assertion: the machine is shared; only ratios measured in one run mean
something.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import gray_cv2, ssim_otsu

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"
LARGE = (
    PEERS / "odiff" / "large" / "www.cypress.io.png",
    PEERS / "odiff" / "large" / "www.cypress.io-1.png",
)
STAGES = ("register", "score", "noise", "threshold", "cleanup", "regions", "render")
COLOURS = ("lime", "magenta", "cyan", "orange", "yellow")


def make_jpeg_pair(megapixels: float, seed: int = 3) -> tuple[bytes, bytes]:
    """A generated 3:4 photo pair of about `megapixels`, as JPEG bytes (q85, q80)."""
    from skimage import data
    from skimage.transform import resize

    from imgdiff_widget.synthetic import encode_jpeg, make_pair

    height = round(float(np.sqrt(megapixels * 1e6 * 3 / 4)))
    width = round(height * 4 / 3)
    base = resize(data.astronaut(), (height, width), order=1, anti_aliasing=False)
    base = (base * 255 + 0.5).astype(np.uint8)
    pair = make_pair(base, seed=seed)
    return encode_jpeg(pair.a, 85), encode_jpeg(pair.b, 80)


def decode(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def best(fn, repeat: int):
    """Best wall time of `repeat` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def time_pair(blob_a: bytes, blob_b: bytes, repeat: int, metric: str | None, baselines: bool):
    from imgdiff_widget import DiffParams, DiffPipeline

    a, b = decode(blob_a), decode(blob_b)
    params = DiffParams() if metric is None else DiffParams(metric=metric)
    row: dict = {"shape": a.shape[:2]}
    # A warm-up at a small size would hide first-touch costs that every fresh
    # process pays; instead each timing is the best of `repeat`.
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        pipe = DiffPipeline(a, b)
        result = pipe.run(params)
        runs.append((time.perf_counter() - start, result.timings))
    row["compare"], timings = min(runs, key=lambda run: run[0])
    row.update({stage: timings.get(stage, 0.0) for stage in STAGES})
    row["load"] = timings.get("load", 0.0)
    row["+decode"], _ = best(
        lambda: DiffPipeline(decode(blob_a), decode(blob_b)).run(params), repeat
    )
    # Changes on the cached pipeline, each on top of the previous one. Every
    # run sets a value not set before: a slider move to a new position, which
    # finds nothing of its own in the per-group caches (a value met before
    # would, and would look faster than a real move).
    threshold = 0.25 if params.metric != "pixel" else 0.2
    changes = (
        ("threshold", [{"threshold": round(threshold + 0.02 * i, 2)} for i in range(repeat)]),
        ("min_area", [{"min_area": 200 + 50 * i} for i in range(repeat)]),
        ("color", [{"color": COLOURS[i % len(COLOURS)]} for i in range(repeat)]),
    )
    current = params
    for name, values in changes:
        runs = []
        for value in values:
            current = current.replace(**value)
            start = time.perf_counter()
            rerun = pipe.run(current)
            runs.append((time.perf_counter() - start, rerun.timings))
        row[f"re-{name}"], row[f"re-{name} stages"] = min(runs, key=lambda run: run[0])
    if baselines:
        from skimage.metrics import structural_similarity

        ga, gb = gray_cv2(a), gray_cv2(b)
        row["skimage_ssim"], _ = best(lambda: structural_similarity(ga, gb, full=True), repeat)
        row["ssim_otsu"], _ = best(lambda: ssim_otsu(a, b), repeat)
    return row


def memory_child(path_a: str, path_b: str, metric: str | None, mode: str) -> None:
    """Run one compare in this (fresh) process and print its peak memory as JSON.

    `mode` is "traced" (numpy's allocations, by tracemalloc) or "rss" (growth
    of the peak resident set over the resident set before the call).
    """
    from imgdiff_widget import DiffParams, DiffPipeline

    a = decode(Path(path_a).read_bytes())
    b = decode(Path(path_b).read_bytes())
    params = DiffParams() if metric is None else DiffParams(metric=metric)
    # Lazy imports (matplotlib colours, scipy.fft, ...) happen before the baseline.
    small = np.zeros((64, 64, 3), np.uint8)
    DiffPipeline(small, small).run(params)
    if mode == "traced":
        tracemalloc.start()
        DiffPipeline(a, b).run(params)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    else:
        # Without tracemalloc, whose own bookkeeping would count in the RSS.
        # The peak so far (imports) is reset first: Linux's clear_refs "5".
        Path("/proc/self/clear_refs").write_text("5")
        rss_before = _status("VmRSS")
        DiffPipeline(a, b).run(params)
        peak = max(_status("VmHWM") - rss_before, 0)
    print(json.dumps({mode: peak, "inputs": a.nbytes + b.nbytes}))


def _status(field: str) -> int:
    """A memory figure of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def memory(blob_a: bytes, blob_b: bytes, suffix: str, metric: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{name}{suffix}" for name in ("a", "b")]
        for path, blob in zip(paths, (blob_a, blob_b), strict=True):
            path.write_bytes(blob)
        found = {}
        for mode in ("traced", "rss"):
            args = [sys.executable, __file__, "--_memory", *map(str, paths), metric or "", mode]
            done = subprocess.run(args, capture_output=True, text=True, check=True)
            found.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="0.25,1,4,12,37", help="megapixels; 37 = the odiff pair"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-default-37", action="store_true", help="pixel metric only at 37 MP")
    parser.add_argument("--_memory", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._memory:
        path_a, path_b, metric, mode = args._memory
        memory_child(path_a, path_b, metric or None, mode)
        return

    cases = []
    for size in (float(s) for s in args.sizes.split(",")):
        if size == 37:
            if not all(path.is_file() for path in LARGE):
                print(f"# 37 MP: skipped, {LARGE[0].parent} is absent")
                continue
            blobs = tuple(path.read_bytes() for path in LARGE)
            cases.append(("37 MP odiff, pixel", blobs, ".png", "pixel"))
            if not args.no_default_37:
                cases.append(("37 MP odiff, default", blobs, ".png", None))
        else:
            cases.append((f"{size:g} MP photo", make_jpeg_pair(size), ".jpg", None))

    print(f"# best of {args.repeat}; seconds; {os.cpu_count()} CPUs (shared machine)")
    rows = []
    for name, blobs, suffix, metric in cases:
        row = time_pair(*blobs, args.repeat, metric, baselines=True)
        row.update(memory(*blobs, suffix, metric))
        row["name"] = name
        rows.append(row)
        print(f"# {name} done ({row['shape'][1]}x{row['shape'][0]})", flush=True)

    print("\n## stage times of a full compare (s)\n")
    print("| pair | " + " | ".join(STAGES) + " | load |")
    print("|---|" + "---:|" * (len(STAGES) + 1))
    for row in rows:
        cells = " | ".join(f"{row[stage]:.3f}" for stage in STAGES)
        print(f"| {row['name']} | {cells} | {row['load']:.3f} |")

    print("\n## stage times of the fastest re-threshold (ms)\n")
    rerun_stages = STAGES[STAGES.index("threshold") :]
    print("| pair | " + " | ".join(rerun_stages) + " |")
    print("|---|" + "---:|" * len(rerun_stages))
    for row in rows:
        timings = row["re-threshold stages"]
        cells = " | ".join(f"{1000 * timings.get(stage, 0.0):.1f}" for stage in rerun_stages)
        print(f"| {row['name']} | {cells} |")

    print("\n## whole runs and baselines (s), ratios measured in this run\n")
    print(
        "| pair | compare | +decode | skimage SSIM | SSIM answer | compare/answer | "
        "compare/SSIM | re-threshold | re-min_area | re-colour | (% of compare) |"
    )
    print("|---|" + "---:|" * 9 + "---|")
    for row in rows:
        compare = row["compare"]
        changes = [row[f"re-{k}"] for k in ("threshold", "min_area", "color")]
        shares = "/".join(f"{100 * t / compare:.1f}" for t in changes)
        cells = [compare, row["+decode"], row["skimage_ssim"], row["ssim_otsu"]]
        ratios = [compare / row["ssim_otsu"], compare / row["skimage_ssim"]]
        print(
            f"| {row['name']} | "
            + " | ".join(f"{t:.3f}" for t in cells)
            + " | "
            + " | ".join(f"{r:.2f}" for r in ratios)
            + " | "
            + " | ".join(f"{t:.3f}" for t in changes)
            + f" | {shares} |"
        )

    print("\n## peak memory of one compare (fresh process)\n")
    print(
        "| pair | inputs uint8 MB | numpy peak MB (tracemalloc) | x uint8 | x float32 | "
        "RSS growth MB | x uint8 | x float32 |"
    )
    print("|---|" + "---:|" * 7)
    for row in rows:
        inputs, mb = row["inputs"], 1 << 20
        cells = [f"{inputs / mb:.0f}"]
        for key in ("traced", "rss"):
            peak = row[key]
            cells += [f"{peak / mb:.0f}", f"{peak / inputs:.1f}", f"{peak / (4 * inputs):.2f}"]
        print(f"| {row['name']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
