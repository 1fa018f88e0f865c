"""Pairs per second: a plain loop, the study on 1 and 2 Dask workers, and its overhead.

Generates N (default 200) pairs of 1 MP photos with known edits, stored once
as JPEG in a temporary folder, then in one run measures

* ``loop``: ``compare(path_a, path_b)`` for each pair, in this process;
* ``sweep sync``: ``sweep(pairs, {"threshold": ["auto"]}, scheduler="sync")``,
  the same work through the study's machinery in this process, against the
  loop on the same 40 pairs: the difference per pair is the study's overhead
  per task (pair naming, the pipeline object, building the rows and the
  DataFrame);
* ``1 worker`` / ``2 workers``: the same sweep on a ``LocalCluster`` of one or
  two single-threaded worker processes on loopback (workers warmed up first,
  so process start and imports are not counted); workers read the JPEGs
  themselves;
* optionally (``--threads``) 2 threads in one worker process, the alternative
  the default local scheduler was chosen against.

Prints pairs per second for each and the 2-worker / 1-worker ratio (target
>= 1.7; the machine's other load lowers it, so the load average is printed).

Usage: ``python benchmarks/batch.py [--pairs 200] [--size 1000] [--threads]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def generate(folder: Path, n: int, size: int) -> list[tuple[str, str]]:
    from skimage import data
    from skimage.transform import resize

    from imgdiff_widget.synthetic import make_pair

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    bases = [
        (resize(p, (size, size), anti_aliasing=True) * 255 + 0.5).astype(np.uint8) for p in photos
    ]
    pairs = []
    for i in range(n):
        pair = make_pair(
            bases[i % len(bases)],
            ("add", "small", "line"),
            seed=i,
            nuisances={"jpeg": (92, 85), "gain": 1.03},
        )
        paths = (folder / f"{i:04d}_a.jpg", folder / f"{i:04d}_b.jpg")
        for path, blob in zip(paths, pair.info["jpeg_files"], strict=True):
            path.write_bytes(blob)
        pairs.append((str(paths[0]), str(paths[1])))
    return pairs


def _warm() -> int:
    import imgdiff_widget.study  # noqa: F401  (imports scipy, skimage, pandas)

    return os.getpid()


def timed(label: str, fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    print(f"{label:<28s} {seconds:8.1f} s   {n / seconds:6.2f} pairs/s", flush=True)
    return seconds


def on_cluster(pairs, grid, n_workers: int, threads: bool = False) -> float:
    from distributed import Client

    from imgdiff_widget._batch import _local_cluster  # what sweep and batch start
    from imgdiff_widget.study import sweep

    cluster = _local_cluster(threads, n_workers)
    with cluster, Client(cluster, set_as_default=False) as client:
        client.run(_warm)
        sweep(pairs[:n_workers], grid, client=client)  # first task on each worker
        kind = f"{n_workers} threads, 1 process" if threads else f"{n_workers} worker(s)"
        return timed(f"sweep on {kind}", lambda: sweep(pairs, grid, client=client), len(pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--size", type=int, default=1000, help="image side (1000 = 1 MP)")
    parser.add_argument("--threads", action="store_true", help="also 2 threads, 1 process")
    parser.add_argument(
        "--data", help="folder to write the generated pairs into (kept; written anew each run)"
    )
    args = parser.parse_args()

    from imgdiff_widget import compare
    from imgdiff_widget.study import sweep

    folder = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="imgdiff-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        pairs = generate(folder, args.pairs, args.size)
        print(
            f"{args.pairs} pairs of {args.size}x{args.size} JPEG generated in "
            f"{time.perf_counter() - start:.1f} s; {os.cpu_count()} cores, load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
        grid = {"threshold": ["auto"]}
        n = len(pairs)
        compare(*pairs[0])  # warm caches and imports
        loop = timed("plain loop (compare)", lambda: [compare(a, b) for a, b in pairs], n)
        # The overhead is per task: measure it on a subset, loop and sweep back to back.
        few = pairs[: min(n, 40)]
        bare = timed("  subset: plain loop", lambda: [compare(a, b) for a, b in few], len(few))
        study = timed(
            "  subset: sweep, in process", lambda: sweep(few, grid, scheduler="sync"), len(few)
        )
        one = on_cluster(pairs, grid, 1)
        two = on_cluster(pairs, grid, 2)
        threads = on_cluster(pairs, grid, 2, threads=True) if args.threads else None
        print()
        print(
            f"study overhead per task, in process: {1e3 * (study - bare) / len(few):+.1f} ms "
            f"({100 * (study - bare) / bare:+.1f} % of a compare)"
        )
        print(f"1 worker vs plain loop:              {loop / one:.2f}x")
        print(f"2 workers / 1 worker:                {one / two:.2f}x  (target >= 1.7)")
        if threads is not None:
            print(f"2 threads / 1 worker:                {one / threads:.2f}x")
        print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if not args.data:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
