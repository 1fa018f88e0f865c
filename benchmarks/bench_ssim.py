"""Benchmark ``ssim_map`` against scikit-image's ``structural_similarity``.

Usage::

    python benchmarks/bench_ssim.py [--size 4096] [--repeats 3]

Generates a seeded grey float32 pair (scikit-image's astronaut photo, grey,
zoomed up to ``size`` x ``size``, plus independent noise and a local edit in
the second image), then for each argument set prints the best-of-N wall time
of scikit-image (``full=True``) and of ``ssim_map``, the speed-up, the
"floor" (reading both inputs and writing one output map once,
``np.add(a, b, out=out)``), the peak traced memory of each (tracemalloc;
numpy reports its allocations to it), and the largest differences of the map
and of the mean. Ratios are against the baseline measured in the same run; no
thresholds are asserted.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np
import scipy
import skimage
from scipy import ndimage
from skimage.metrics import structural_similarity

from imgdiff_widget._ssim import ssim_map

CASES = {
    "default (uniform 7x7, sample cov)": {},
    "Wang: gaussian sigma=1.5, pop. cov": {
        "gaussian_weights": True,
        "sigma": 1.5,
        "use_sample_covariance": False,
        # scikit-image derives the 11-px window from sigma when win_size is
        # None; ssim_map's default win_size is 7, so ask it for the same.
        "win_size": None,
    },
}


def make_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return a realistic grey float32 pair in [0, 1], ``size`` x ``size``."""
    rng = np.random.default_rng(seed)
    grey = skimage.color.rgb2gray(skimage.data.astronaut()).astype(np.float32)
    img = ndimage.zoom(grey, size / grey.shape[0], order=1)[:size, :size]
    a = img + rng.normal(0.0, 0.02, img.shape).astype(np.float32)
    b = img + rng.normal(0.0, 0.02, img.shape).astype(np.float32)
    s = size // 8
    b[3 * s : 4 * s, 2 * s : 5 * s] += 0.1  # a local edit
    np.clip(a, 0.0, 1.0, out=a)
    np.clip(b, 0.0, 1.0, out=b)
    return a, b


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def peak_bytes(fn) -> int:
    """Peak memory traced while ``fn`` runs, above what was live before."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak - base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs")
    args = parser.parse_args(argv)

    a, b = make_pair(args.size)
    out = np.empty_like(a)
    mib = 2.0**20
    floor = best_time(lambda: np.add(a, b, out=out), max(5, args.repeats))

    print(
        f"SSIM {args.size}x{args.size} grey float32, data_range=1.0, "
        f"best of {args.repeats}; {os.cpu_count()} CPUs; numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-image {skimage.__version__}"
    )
    print(f"floor (read a, b; write one map: np.add(a, b, out=out)): {floor:.4f} s")
    header = (
        f"{'case':<36} {'skimage s':>9} {'ours s':>7} {'speedup':>7} "
        f"{'x floor':>7} {'skimage MiB':>11} {'ours MiB':>8} {'mem ratio':>9} "
        f"{'max|dmap|':>9} {'|dmean|':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, kwargs in CASES.items():
        sk_kwargs = dict(kwargs)
        sk_kwargs.pop("win_size", None)  # None: skimage's own default

        def run_sk(sk_kwargs=sk_kwargs):
            return structural_similarity(a, b, data_range=1.0, full=True, **sk_kwargs)

        def run_ours(kwargs=kwargs):
            return ssim_map(a, b, data_range=1.0, **kwargs)

        sk_mean, sk_map = run_sk()
        our_mean, our_map = run_ours()
        max_diff = float(np.abs(sk_map - our_map).max())
        mean_diff = abs(float(sk_mean) - our_mean)
        del sk_map, our_map

        t_sk = best_time(run_sk, args.repeats)
        t_ours = best_time(run_ours, args.repeats)
        m_sk = peak_bytes(run_sk)
        m_ours = peak_bytes(run_ours)
        print(
            f"{name:<36} {t_sk:>9.3f} {t_ours:>7.3f} {t_sk / t_ours:>6.1f}x "
            f"{t_ours / floor:>6.1f}x {m_sk / mib:>11.0f} {m_ours / mib:>8.0f} "
            f"{m_ours / m_sk:>9.3f} {max_diff:>9.1e} {mean_diff:>8.1e}"
        )
    print(
        "speedup = skimage / ours (target >= 10x); x floor = ours / floor; "
        "mem ratio = ours / skimage peak (target <= 0.25); "
        "max|dmap| target <= 1e-4. The map itself is "
        f"{a.nbytes / mib:.0f} MiB."
    )


if __name__ == "__main__":
    main()
