"""Threads for the pixel-wise steps: how many, and row strips on all of them.

NumPy and scipy.ndimage release the GIL inside their loops, so row strips of
an image processed on a thread pool use every core, and each strip is small
enough to stay in cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["cpu_count", "map_strips", "map_tasks"]

# Row strips processed at a time (bytes).
_STRIP_BYTES = 1 << 20
# Below this much work (e.g. pixels) map_tasks stays on the calling thread.
_TASKS_MIN_WORK = 1 << 18


def cpu_count() -> int:
    """Threads one comparison may use: the CPUs this process may run on.

    ``IMGDIFF_WIDGET_THREADS`` caps it, so that parallel workers (one Dask
    worker per core) do not each start a thread per core and compete.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        count = os.cpu_count() or 1
    cap = os.environ.get("IMGDIFF_WIDGET_THREADS", "")
    return max(1, min(count, int(cap))) if cap.isdigit() else count


def map_strips(fn: Callable[[slice], object], height: int, row_bytes: int) -> None:
    """Call ``fn(slice)`` on row strips of about 1 MB covering ``range(height)``, on all cores."""
    step = max(8, _STRIP_BYTES // max(row_bytes, 1))
    bounds = [slice(r, min(r + step, height)) for r in range(0, height, step)]
    workers = min(cpu_count(), len(bounds))
    if workers <= 1:
        for rows in bounds:
            fn(rows)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(fn, bounds):
            del done


def map_tasks(fn: Callable, items, sizes=None) -> list:
    """``[fn(item) for item in items]``, the calls spread over all cores.

    For independent pieces of work that spend their time in NumPy or
    scipy.ndimage (which release the GIL). `sizes` (each item's work, e.g.
    the pixels it reads) start the largest first, so that one large piece
    does not run alone at the end; below about 256 k in all the calls stay
    on the calling thread, where a pool would cost more than it saves.
    Results come in the order of `items`.
    """
    items = list(items)
    workers = min(cpu_count(), len(items))
    if sizes is not None:
        sizes = list(sizes)
        if sum(sizes) < _TASKS_MIN_WORK:
            workers = 1
    if workers <= 1:
        return [fn(item) for item in items]
    order = range(len(items))
    if sizes is not None:
        order = sorted(order, key=lambda i: -sizes[i])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {i: pool.submit(fn, items[i]) for i in order}
        return [futures[i].result() for i in range(len(items))]
