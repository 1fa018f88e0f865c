"""Folders of pairs, and the Dask machinery shared with :mod:`imgdiff_widget.study`.

``imgdiff-widget batch LEFT_DIR RIGHT_DIR -o OUT`` pairs the images of two
folders by file name (stem; any image extension), compares every pair and
writes its files into ``OUT/<name>/`` plus ``OUT/summary.csv`` and
``OUT/summary.json`` (one row per pair).

Execution
---------
One task per pair. Without ``--scheduler`` the pairs run on a local Dask
cluster of worker *processes*, one single-threaded worker per core: the
pipeline is a chain of many short numpy / scipy / scikit-image calls and holds
the GIL for a large share of its time, so threads in one process scale poorly
(measured 0.9-1.3x on two threads against 1.3-1.9x for two processes on the
same 1 MP pairs; see ``benchmarks/batch.py``). ``--scheduler ADDRESS`` runs
the same tasks on an existing ``dask.distributed`` cluster; ``sync`` runs them
in this process, one after the other.

Workers read the images themselves (local paths, or URLs through fsspec) and
write the outputs themselves, so on a cluster the input and output folders
must be visible to every worker (a shared filesystem). Results stream back as
they complete and drive the progress bar.

Resuming
--------
A pair's outputs are written atomically and, last, a ``.done`` stamp holding
its summary row, its parameters and the size and modification time of its two
inputs. A re-run skips every pair whose four files and stamp are present and
whose stamp matches the current parameters and inputs; an interrupted run
(Ctrl-C or killed) therefore resumes where it stopped, and its summary still
lists the pairs finished earlier (status ``skipped``, numbers from the stamp).

Exit status
-----------
0 when every pair is ``ok`` or ``skipped``; 1 when some pair failed
(``error``) or some file has no partner (``unmatched``); 2 for usage errors
(missing folders, bad parameters), with one line on stderr; 130 when
interrupted (the summary then lists the pairs not yet done as ``pending``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._errors import ImageDiffError
from ._io import DEFAULT_MAX_PIXELS
from ._params import DiffParams

__all__ = ["executor", "main", "stream"]

PROG = "imgdiff-widget batch"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
STAMP = ".done"
SUMMARY_COLUMNS = (
    "name",
    "status",
    "error",
    "left",
    "right",
    "regions",
    "score",
    "diff_pixels",
    "threshold",
    "time",
)


# --------------------------------------------------------------------------
# Execution: a Dask client (or none: in-process) and a stream of results
# --------------------------------------------------------------------------


@contextlib.contextmanager
def executor(
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    n_tasks: int | None = None,
    *,
    keep: bool = False,
) -> Iterator[Any]:
    """Yield a ``distributed.Client`` to run tasks on, or None to run them here.

    Parameters
    ----------
    client : distributed.Client, optional
        Used as it is (never closed here).
    scheduler : str, optional
        None (default): a local cluster of single-threaded worker processes,
        one per core (or `workers`); in-process when only one worker would
        be used or there is at most one task. "processes" forces that cluster,
        "threads" a one-process cluster with one thread per worker slot,
        "sync" runs in this process; anything else is a scheduler address
        (``tcp://host:8786``).
    workers : int, optional
        Number of local workers (default: all cores).
    n_tasks : int, optional
        Number of tasks, to avoid starting more workers than tasks.
    keep : bool
        Keep the local cluster for later calls of this process (it is closed
        at exit) instead of stopping it on leaving the block.
    """
    if client is not None:
        yield client
        return
    if scheduler == "sync":
        yield None
        return
    if scheduler not in (None, "processes", "threads"):
        from distributed import Client

        with Client(scheduler, set_as_default=False) as remote:
            yield remote
        return
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_tasks is not None:
        n_workers = min(n_workers, max(n_tasks, 1))
    if scheduler is None and n_workers <= 1:
        yield None
        return
    if keep:
        yield _kept_client(scheduler == "threads", n_workers)
        return
    cluster = _local_cluster(scheduler == "threads", n_workers)
    with cluster, _client_of(cluster) as local:
        yield local


def _local_cluster(threads: bool, n_workers: int) -> Any:
    """A LocalCluster on loopback: single-threaded worker processes, or threads.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which
    makes glibc hand every large numpy temporary back to the OS and fault it
    in again: the pipeline runs about 2x slower under it (measured, see
    ``benchmarks/batch.py``). Our workers start without it.
    """
    import dask
    from distributed import LocalCluster

    environ = {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        # One single-threaded worker per core: each comparison stays on its
        # worker's core instead of starting a thread per core (see _ssim).
        "distributed.nanny.pre-spawn-environ.IMGDIFF_WIDGET_THREADS": "1",
    }
    with dask.config.set(environ), _workers_ignore_ctrl_c(not threads):
        return LocalCluster(
            n_workers=1 if threads else n_workers,
            threads_per_worker=n_workers if threads else 1,
            processes=not threads,
            # Worker processes talk over loopback TCP; threads in-process (inproc://).
            host=None if threads else "127.0.0.1",
            dashboard_address=None,
            # Every pair's failure is a row of the summary; what the workers
            # log is shutdown noise (a heartbeat racing the scheduler's close
            # logs a CommClosedError traceback at ERROR).
            silence_logs=logging.CRITICAL,
        )


@contextlib.contextmanager
def _workers_ignore_ctrl_c(processes: bool) -> Iterator[None]:
    """Start worker processes with SIGINT ignored (they inherit it).

    Ctrl-C reaches the terminal's whole process group: the workers would
    each print a KeyboardInterrupt traceback while this process, which
    handles it, stops the batch and closes them.
    """
    import signal
    import threading

    if not processes or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _client_of(cluster: Any) -> Any:
    from distributed import Client

    return Client(cluster, set_as_default=False)


_KEPT: dict[tuple[bool, int], Any] = {}


def _kept_client(threads: bool, n_workers: int) -> Any:
    """A local cluster started on first use and kept for later calls of this process."""
    client = _KEPT.get((threads, n_workers))
    if client is None or client.status != "running":
        import atexit

        cluster = _local_cluster(threads, n_workers)
        client = _KEPT[threads, n_workers] = _client_of(cluster)
        atexit.register(_close, client, cluster)
    return client


def _close(client: Any, cluster: Any) -> None:
    with contextlib.suppress(Exception):
        client.close()
        cluster.close()


def stream(
    client: Any, fn: Callable[..., Any], tasks: Sequence[tuple]
) -> Iterator[tuple[int, Any, BaseException | None]]:
    """Run ``fn(*args)`` for each args tuple; yield ``(index, result, error)`` as each ends.

    With a client the tasks run on its cluster and arrive in completion
    order; without one they run here, in order. `error` is the exception a
    task raised (or the failure of its worker), else None. Tasks still
    running when the consumer stops (an exception, Ctrl-C) are cancelled.
    """
    if client is None:
        for index, args in enumerate(tasks):
            try:
                result = fn(*args)
            except Exception as exc:
                yield index, None, exc
            else:
                yield index, result, None
        return
    from distributed import as_completed

    futures = [client.submit(fn, *args, pure=False) for args in tasks]
    position = {future.key: i for i, future in enumerate(futures)}
    try:
        for future, result in as_completed(
            futures, loop=client.loop, with_results=True, raise_errors=False
        ):
            index = position[future.key]
            if future.status == "error":  # result is (type, exception, traceback)
                exc = result[1] if isinstance(result, tuple) else future.exception()
                yield index, None, exc
            elif future.status != "finished":  # e.g. cancelled: the scheduler is gone
                yield index, None, RuntimeError(f"the task was {future.status} on the cluster")
            else:
                yield index, result, None
    finally:
        client.cancel([f for f in futures if not f.done()])


def fetch(source: Any, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Any:
    """Load a URL (``s3://``, ``https://``, ``file://`` ...) through fsspec.

    Other sources are returned unchanged: local paths stay paths so that
    :class:`DiffPipeline` names them in error messages and refuses to write
    over them. `max_pixels` is :func:`load_image`'s.
    """
    if not (isinstance(source, str) and "://" in source):
        return source
    import fsspec

    from ._errors import ImageLoadError
    from ._io import load_image

    try:
        with fsspec.open(source, "rb") as fh:
            data = fh.read()
    except (OSError, ValueError, ImportError) as exc:
        raise ImageLoadError(
            f"cannot read {source}: {describe(exc)}; check the address (and that the "
            "fsspec filesystem it needs is installed)."
        ) from None
    return load_image(data, name=source, max_pixels=max_pixels)


def describe(exc: BaseException) -> str:
    """One line for an exception: the message of an expected error, else its type too."""
    text = " ".join(str(exc).split())
    if isinstance(exc, ImageDiffError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------
# Pairing the two folders
# --------------------------------------------------------------------------


def _image_extensions() -> frozenset[str]:
    from PIL import Image

    return frozenset(ext.lower() for ext in Image.registered_extensions())


def _list_images(folder: Path) -> dict[str, list[Path]]:
    extensions = _image_extensions()
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in extensions:
            found.setdefault(path.stem, []).append(path)
    return found


def pair_folders(
    left: Path, right: Path
) -> tuple[list[tuple[str, Path, Path]], list[dict[str, Any]]]:
    """Match the images of two folders by stem.

    Returns
    -------
    pairs : list of (name, left_path, right_path)
    problems : list of summary rows
        Files with no partner (status "unmatched") and stems held by more
        than one file on a side (status "error").
    """
    lefts, rights = _list_images(left), _list_images(right)
    pairs, problems = [], []
    for name in sorted(set(lefts) | set(rights)):
        a, b = lefts.get(name, []), rights.get(name, [])
        row = {"name": name, "left": _join(a), "right": _join(b)}
        if not a or not b:
            missing = right if not b else left
            present = (a or b)[0]
            problems.append(
                row
                | {
                    "status": "unmatched",
                    "error": f"{present} has no partner named {name}.* in {missing}",
                }
            )
        elif len(a) > 1 or len(b) > 1:
            many = a if len(a) > 1 else b
            problems.append(
                row
                | {
                    "status": "error",
                    "error": f"several files share the name {name!r}: "
                    f"{', '.join(p.name for p in many)}; rename all but one",
                }
            )
        else:
            pairs.append((name, a[0], b[0]))
    return pairs, problems


def _join(paths: list[Path]) -> str:
    return ";".join(str(p) for p in paths)


# --------------------------------------------------------------------------
# One pair: compare, save, stamp (runs on a worker)
# --------------------------------------------------------------------------


def _fingerprint(params: DiffParams, a: Path, b: Path) -> dict[str, Any]:
    def stat(path: Path) -> list:
        info = path.stat()
        return [info.st_size, info.st_mtime_ns]

    return {
        "params": json.loads(json.dumps(params.to_dict(), default=str)),
        "inputs": [stat(a), stat(b)],
    }


def read_stamp(directory: Path, params: DiffParams, a: Path, b: Path) -> dict | None:
    """The stored summary row of a finished pair, or None if it must be (re)computed."""
    from ._export import OUTPUT_FILES

    stamp = directory / STAMP
    if not stamp.is_file() or not all((directory / f).is_file() for f in OUTPUT_FILES):
        return None
    try:
        stored = json.loads(stamp.read_text())
        current = _fingerprint(params, a, b)
    except (OSError, ValueError):
        return None
    if stored.get("params") != current["params"] or stored.get("inputs") != current["inputs"]:
        return None
    row = stored.get("row")
    return row if isinstance(row, dict) else None


def run_pair(
    name: str,
    a: Path,
    b: Path,
    params: DiffParams,
    directory: Path,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    protect: tuple[Path, ...] = (),
) -> dict:
    """Compare one pair and write its outputs; never raises for a bad pair.

    `protect`: more files never to write over (the ignore mask's).
    """
    from ._export import atomic_write
    from ._pipeline import compare

    start = time.perf_counter()
    row: dict[str, Any] = {"name": name, "left": str(a), "right": str(b)}
    try:
        # A stale stamp must not vouch for files being replaced.
        (directory / STAMP).unlink(missing_ok=True)
        # The inputs as they were read: one saved again meanwhile is not vouched for.
        before = _fingerprint(params, a, b) if a.exists() and b.exists() else None
        sources = (fetch(str(path), max_pixels) for path in (a, b))
        result = compare(*sources, params=params, max_pixels=max_pixels)
        result.save(directory, protect=protect)
    except Exception as exc:
        return row | {"status": "error", "error": describe(exc), "time": _since(start)}
    row |= {
        "status": "ok",
        "error": "",
        "regions": len(result.regions),
        "score": result.score,
        "diff_pixels": result.n_diff_pixels,
        "threshold": result.threshold,
        "time": _since(start),
    }
    try:
        if before is None or _fingerprint(params, a, b) != before:
            row["error"] = "an input changed while it was compared; run again to redo it"
            return row
        stamp = before | {"row": row}
        atomic_write(directory / STAMP, json.dumps(stamp, indent=1).encode())
    except OSError as exc:  # the outputs exist; the pair is only recomputed next time
        row["error"] = f"could not write {directory / STAMP}: {exc.strerror}"
    return row


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 4)


# --------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    from ._cli import _add_max_pixels, _add_param_options

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Compare every pair of images of two folders, matched by file name (any "
            "image extension). Writes OUT/<name>/{overlay_a,overlay_b,mask}.png and "
            "regions.json for each pair, and OUT/summary.csv and OUT/summary.json (one "
            "row per pair: name, status ok/skipped/error/unmatched, error, regions, "
            "score, diff_pixels, threshold, time). Pairs already complete from an "
            "earlier run with the same parameters and inputs are skipped, so an "
            "interrupted run resumes. Exit status: 0 all pairs ok or skipped, 1 some "
            "pair failed or had no partner, 2 usage error, 130 interrupted."
        ),
    )
    parser.add_argument("left", metavar="LEFT_DIR", help="folder of first images")
    parser.add_argument("right", metavar="RIGHT_DIR", help="folder of second images")
    parser.add_argument("-o", "--output", required=True, help="output folder")
    run = parser.add_argument_group("execution")
    run.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a dask.distributed scheduler address (tcp://host:8786) to run on a "
        "cluster, 'processes' / 'threads' for a local cluster, or 'sync' to run in "
        "this process (default: local worker processes, one per core)",
    )
    run.add_argument(
        "--workers", type=int, default=None, help="local workers (default: all cores)"
    )
    run.add_argument(
        "--force", action="store_true", help="recompute pairs that are already complete"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_max_pixels(parser)
    _add_param_options(parser)
    return parser


#: What ``batch`` imports from the "study" extra.
_STUDY_MODULES = ("pandas", "tqdm", "distributed", "fsspec")


def _usage_error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def write_summary(output: Path, rows: Iterable[dict], meta: dict) -> tuple[Path, Path]:
    """Write summary.csv and summary.json (atomically); return their paths."""
    import pandas as pd

    from ._export import atomic_write

    frame = pd.DataFrame(list(rows), columns=list(SUMMARY_COLUMNS))
    frame = frame.sort_values("name", kind="stable").reset_index(drop=True)
    frame = frame.astype({"regions": "Int64", "diff_pixels": "Int64"})
    csv_path, json_path = output / "summary.csv", output / "summary.json"
    atomic_write(csv_path, frame.to_csv(index=False).encode())
    records = json.loads(frame.to_json(orient="records"))
    counts = frame["status"].value_counts().to_dict()
    atomic_write(
        json_path,
        json.dumps(meta | {"counts": counts, "pairs": records}, indent=1).encode(),
    )
    return csv_path, json_path


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``imgdiff-widget batch``; return the exit status."""
    args = _build_parser().parse_args(argv)
    missing = [name for name in _STUDY_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return _usage_error(
            f"batch needs {', '.join(missing)}, which this installation lacks; install "
            "them with: pip install 'imgdiff-widget[study]'"
        )
    # Absolute: a cluster's workers run in directories of their own.
    left, right, output = (Path(p).absolute() for p in (args.left, args.right, args.output))
    for label, folder in (("LEFT_DIR", left), ("RIGHT_DIR", right)):
        if not folder.is_dir():
            what = "does not exist" if not folder.exists() else "is not a folder"
            return _usage_error(f"{label} {folder} {what}; give a folder of images.")
    if output.exists() and not output.is_dir():
        return _usage_error(f"output {output} is a file; give a folder.")
    if args.workers is not None and args.workers < 1:
        return _usage_error(f"--workers {args.workers}: give 1 or more.")
    from ._cli import param_values

    try:
        params = DiffParams(**param_values(args))
        output.mkdir(parents=True, exist_ok=True)
    except ImageDiffError as exc:
        return _usage_error(str(exc))
    except OSError as exc:
        return _usage_error(f"cannot create output folder {output}: {exc.strerror}.")

    # The ignore mask's file is an input too: no pair's output goes over it.
    protect = (Path(args.ignore_mask).absolute(),) if args.ignore_mask else ()
    pairs, rows = pair_folders(left, right)
    for row in rows:
        print(f"{PROG}: {row['status']}: {row['name']}: {row['error']}", file=sys.stderr)
    todo = []
    for name, a, b in pairs:
        done = None if args.force else read_stamp(output / name, params, a, b)
        if done is not None:
            rows.append(done | {"status": "skipped"})
        else:
            todo.append((name, a, b, params, output / name, args.max_pixels, protect))
    meta = {
        "left": str(left.resolve()),
        "right": str(right.resolve()),
        "params": json.loads(json.dumps(params.to_dict(), default=str)),
    }

    from tqdm.auto import tqdm

    finished: set[int] = set()
    status = EXIT_OK
    start = time.perf_counter()
    bar = tqdm(total=len(todo), unit="pair", file=sys.stderr, disable=args.no_progress)
    try:
        with contextlib.ExitStack() as stack:
            try:
                client = stack.enter_context(
                    executor(None, args.scheduler, args.workers, n_tasks=len(todo))
                )
            except (OSError, ValueError) as exc:  # e.g. no scheduler at that address
                bar.close()
                return _usage_error(
                    f"cannot start or reach scheduler {args.scheduler!r}: {describe(exc)}"
                )
            for index, row, error in stream(client, run_pair, todo):
                if error is not None:  # the worker died; run_pair itself never raises
                    name, a, b = todo[index][:3]
                    row = {"name": name, "left": str(a), "right": str(b)}
                    row |= {"status": "error", "error": describe(error)}
                rows.append(row)
                finished.add(index)
                if row["status"] == "error":
                    bar.write(f"{PROG}: error: {row['name']}: {row['error']}", file=sys.stderr)
                bar.update()
    except KeyboardInterrupt:
        status, stopped = EXIT_INTERRUPTED, "interrupted"
    except Exception as exc:  # e.g. the cluster went away: the summary is still written
        status, stopped = EXIT_FAILED, f"stopped: {describe(exc)}"
        print(f"{PROG}: error: the batch {stopped}", file=sys.stderr)
    finally:
        bar.close()
    if status != EXIT_OK:
        for index, (name, a, b, *_) in enumerate(todo):
            if index not in finished:
                # A worker may have finished the pair before its result arrived.
                stamped = read_stamp(output / name, params, a, b)
                if stamped is not None:
                    rows.append(stamped)
                    continue
                rows.append(
                    {
                        "name": name,
                        "left": str(a),
                        "right": str(b),
                        "status": "pending",
                        "error": f"{stopped}; run the same command again to finish",
                    }
                )
    csv_path, _ = write_summary(output, rows, meta)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    order = ("ok", "skipped", "error", "unmatched", "pending")
    text = ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))
    print(
        f"{len(rows)} pair(s): {text or 'no images found'} in "
        f"{time.perf_counter() - start:.1f} s; summary in {csv_path}"
    )
    if status == EXIT_INTERRUPTED:
        print(f"{PROG}: interrupted; run the same command again to resume", file=sys.stderr)
    if status != EXIT_OK:
        return status
    return EXIT_FAILED if counts.get("error") or counts.get("unmatched") else EXIT_OK
