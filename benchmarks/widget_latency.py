"""Widget latency: a parameter change plus a full Agg draw, on a 12 MP pair.

For each kind of change (threshold, min_area, morphology, color, alpha, style,
view) the script times the trait setter plus ``w.figure.canvas.draw()`` (and,
for the PNG backend, the PNG the browser receives), with the widget in its
interactive configuration (background=True: slow stages run in a worker and a
display-resolution preview is drawn at once). Separately it reports how long
the exact full-resolution result takes to arrive.

The baseline, measured in the same run: a naive redraw of the same layout at
full resolution (the pipeline run for the same change, then imshow of
``DiffResult.overlay_a``/``overlay_b``/mask re-plotted on fresh axes and drawn).

Run: python benchmarks/widget_latency.py [--size 4000x3000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from skimage import data
from skimage.transform import resize

from imgdiff_widget import DiffPipeline, DiffWidget
from imgdiff_widget.synthetic import decode, encode_jpeg, make_pair

CHANGES = [
    ("threshold", [0.3, 0.2]),
    ("min_area", [2000, 600]),
    ("morphology", [2, 1]),
    ("color", ["lime", "magenta"]),
    ("alpha", [0.3, 0.6]),
    ("style", ["outline+boxes", "fill+boxes"]),
    ("view", ["heatmap", "side"]),
]


def make_12mp(width: int, height: int):
    base = resize(data.astronaut(), (height, width), order=1, anti_aliasing=False)
    base = (base * 255 + 0.5).astype(np.uint8)
    pair = make_pair(base, seed=3)
    return decode(encode_jpeg(pair.a, 90)), decode(encode_jpeg(pair.b, 85))


def naive_redraw(pipe: DiffPipeline, params) -> float:
    """The pipeline for the change, then the full-res overlays re-plotted and drawn."""
    start = time.perf_counter()
    result = pipe.run(params)
    fig = Figure(figsize=(12, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    axes[0].imshow(result.overlay_a)
    axes[1].imshow(result.overlay_b)
    axes[2].imshow(result.mask_image, cmap="gray")
    fig.canvas.draw()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    a, b = make_12mp(width, height)
    print(f"pair: {width}x{height} = {width * height / 1e6:.1f} MP, JPEG q90/q85")

    start = time.perf_counter()
    w = DiffWidget(a, b, backend="png", background=True)
    w.wait(600)
    print(f"first result: {time.perf_counter() - start:.2f} s, {len(w.result.regions)} regions")
    pipe = DiffPipeline(a, b)
    pipe.run(w.params)

    print(f"\n{'change':<12}{'update+draw':>13}{'exact result':>15}{'naive':>10}{'ratio':>8}")
    for name, values in CHANGES:
        draws, exact, naive = [], [], []
        for _ in range(args.repeat):
            for value in values:
                start = time.perf_counter()
                setattr(w, name, value)
                w.figure.canvas.draw()
                draws.append(time.perf_counter() - start)
                start = time.perf_counter()
                w.wait(600)
                exact.append(time.perf_counter() - start)
                naive.append(naive_redraw(pipe, w.params))
        med = statistics.median
        print(
            f"{name:<12}{med(draws) * 1000:>10.0f} ms{med(exact) * 1000:>12.0f} ms"
            f"{med(naive) * 1000:>7.0f} ms{med(draws) / med(naive):>8.3f}"
        )
    w.close()
    print(
        "\nupdate+draw: setter (on the PNG backend it already draws with Agg and encodes the "
        "PNG)\n+ w.figure.canvas.draw(). exact result: further wait until the full-resolution "
        "result\nreplaced the display-resolution preview (threshold and clean-up only). naive: "
        "the\npipeline for the same change + imshow of full-res overlays + draw. "
        "ratio = update+draw / naive."
    )


if __name__ == "__main__":
    main()
