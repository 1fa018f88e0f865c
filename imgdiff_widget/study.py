"""Parameter studies: many pairs × many parameter sets, scored against known truth.

:func:`sweep` runs every parameter set of a grid on every pair and returns a
:class:`pandas.DataFrame` with one row per (pair, parameter set); with the
truth it also says how many real differences were found and how many marks
were false. :func:`best` picks the parameters that do best over all pairs,
:func:`plot_sweep` draws the curves and :class:`StudyWidget` browses the
table in Jupyter and opens any row in :class:`~imgdiff_widget.DiffWidget`.

The pairs run as one Dask task each, on a local cluster of worker processes
by default or on any ``dask.distributed`` cluster given as `client`. A task
runs the whole grid for its pair with one :class:`DiffPipeline`, the grid
ordered so that the parameters of early stages (alignment, metric) vary
slowest: changing only the threshold never recomputes SSIM.

Examples
--------
>>> from imgdiff_widget.study import sweep, best
>>> df = sweep({"p1": ("a1.png", "b1.png")}, {"threshold": [0.1, 0.2, 0.3]},
...            truth={"p1": [(10, 10, 40, 40)]})               # doctest: +SKIP
>>> best(df, "f1")                                              # doctest: +SKIP
{'threshold': 0.2}
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._batch import describe, executor, fetch, stream
from ._errors import ParameterError
from ._io import DEFAULT_MAX_PIXELS
from ._params import DiffParams
from ._pipeline import STAGE_PARAMS, DiffPipeline

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["StudyWidget", "aggregate", "best", "plot_sweep", "sweep"]

#: A truth item counts as found when at least this share of its pixels is marked.
FOUND_FRACTION = 0.3
_PARAM_NAMES = tuple(f.name for f in fields(DiffParams))
_COUNTS = ("n_truth", "found", "true_regions", "regions", "false_regions")


# --------------------------------------------------------------------------
# Inputs: pairs, grid, truth
# --------------------------------------------------------------------------


def _is_location(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike))


def _for_workers(source: Any, cluster) -> Any:
    """A source as a cluster's workers can read it: arrays scattered, local paths absolute."""
    if not _is_location(source):
        return cluster.scatter(source, hash=False)
    if isinstance(source, str) and "://" in source:
        return source  # a URL
    # Workers resolve a relative path in their own working directory.
    return os.path.abspath(source)


def _normalise_pairs(pairs: Any) -> list[tuple[str, Any, Any, Any]]:
    """(name, a, b, truth-from-the-pair) for each pair."""
    if isinstance(pairs, Mapping):
        items = [(str(name), pair) for name, pair in pairs.items()]
    else:
        items = list(enumerate(pairs))
        stems = [
            Path(str(p[0])).stem if not hasattr(p, "truth") and _is_location(p[0]) else None
            for _, p in items
        ]
        unique = None not in stems and len(set(stems)) == len(stems)
        items = [(stems[i] if unique else f"pair{i}", p) for i, p in items]
    out = []
    for name, pair in items:
        if hasattr(pair, "a") and hasattr(pair, "b") and hasattr(pair, "truth"):
            out.append((name, pair.a, pair.b, list(pair.truth)))  # a synthetic.Pair
            continue
        try:
            a, b = pair
        except (TypeError, ValueError):
            raise ParameterError(
                f"pair {name!r} is not an (a, b) pair of images; give a list of (a, b) "
                "tuples or a mapping name -> (a, b)."
            ) from None
        out.append((name, a, b, None))
    if not out:
        raise ParameterError("no pairs given; give a list of (a, b) tuples.")
    return out


def _grid_combinations(grid: Any) -> list[dict[str, Any]]:
    if isinstance(grid, Mapping):
        for key, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise ParameterError(
                    f"grid[{key!r}] = {values!r} is not a list of values; write "
                    f"{{{key!r}: [{values!r}]}} for a single value."
                )
        keys = list(grid)
        combos = [
            dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())
        ]
    else:
        combos = [dict(c) for c in grid]
    if not combos:
        raise ParameterError("the grid is empty; give at least one value per parameter.")
    for combo in combos:
        unknown = sorted(set(combo) - set(_PARAM_NAMES))
        if unknown:
            raise ParameterError(
                f"grid parameter(s) {', '.join(map(repr, unknown))} are not DiffParams "
                f"fields; use some of: {', '.join(_PARAM_NAMES)}."
            )
    return combos


def _stage_order(params: DiffParams) -> tuple:
    """Sort key grouping equal early-stage values: late stages vary fastest."""
    return tuple(repr(params.value_key(reads)) for reads in STAGE_PARAMS.values())


def _truth_items(spec: Any, name: str) -> tuple[str, Any] | None:
    """("masks", [bool arrays]) | ("boxes", (n, 4) ints) | ("points", (n, 2) ints) | None."""
    if spec is None:
        return None
    if isinstance(spec, np.ndarray) and spec.dtype == bool and spec.ndim == 2:
        from scipy import ndimage as ndi

        labels, count = ndi.label(spec, structure=np.ones((3, 3), bool))
        items = [labels == i for i in range(1, count + 1)]
        return "masks", (items, spec)
    if (
        isinstance(spec, (list, tuple))
        and spec
        and all(isinstance(m, np.ndarray) and m.dtype == bool and m.ndim == 2 for m in spec)
    ):
        shapes = {m.shape for m in spec}
        if len(shapes) > 1:
            raise ParameterError(
                f"the truth masks of pair {name!r} differ in shape "
                f"({', '.join(f'{w}x{h}' for h, w in sorted(shapes))}); give every mask "
                "the size of image A."
            )
        union = np.logical_or.reduce(list(spec))
        return "masks", (list(spec), union)
    message = (
        f"truth for pair {name!r} is not accepted; give a bool mask, a list of bool "
        "masks, boxes (row0, col0, row1, col1) or points (row, col)."
    )
    try:
        values = np.asarray(spec, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(message) from None
    if values.size == 0:
        return "boxes", np.zeros((0, 4), int)
    if values.ndim == 1:
        values = values[None]
    if values.ndim != 2 or values.shape[1] not in (2, 4) or not np.isfinite(values).all():
        raise ParameterError(message)
    return ("boxes" if values.shape[1] == 4 else "points"), np.round(values).astype(int)


def _truth_for(pairs: list, truth: Any) -> list:
    if truth is None:
        return [_truth_items(t, name) for name, _, _, t in pairs]
    if isinstance(truth, Mapping):
        unknown = sorted(set(map(str, truth)) - {p[0] for p in pairs})
        if unknown:
            raise ParameterError(
                f"truth given for unknown pair(s) {', '.join(map(repr, unknown))}; "
                f"the pairs are {', '.join(p[0] for p in pairs)}."
            )
        by_name = {str(k): v for k, v in truth.items()}
        return [_truth_items(by_name.get(name, own), name) for name, _, _, own in pairs]
    truth = list(truth)
    if len(truth) != len(pairs):
        raise ParameterError(
            f"{len(truth)} truth entries for {len(pairs)} pairs; give one per pair (None "
            "where unknown) or a mapping pair name -> truth."
        )
    return [_truth_items(t, p[0]) for p, t in zip(pairs, truth, strict=True)]


# --------------------------------------------------------------------------
# Scoring one result against the truth
# --------------------------------------------------------------------------


def _labels(pipe: DiffPipeline, mask: np.ndarray) -> np.ndarray:
    """The region label image of the last run (one label per region)."""
    try:  # the pipeline's own labels: a region need not be connected
        labels = pipe._cache["cleanup"][1]["labels"]
        if labels.shape == mask.shape:
            return labels
    except (KeyError, TypeError, AttributeError):
        pass
    from scipy import ndimage as ndi

    return ndi.label(mask, structure=np.ones((3, 3), bool))[0]


def evaluate(result: Any, truth: tuple[str, Any], labels: np.ndarray | None = None) -> dict:
    """Recall, precision, false regions and IoU of one result against its truth.

    A truth mask counts as found when at least 30 % of its pixels are marked;
    a box when a region's pixels fall inside it; a point when it lies in a
    region's bounding box. A region is true when it touches some truth item
    (by the same rules), false otherwise. IoU compares the mask with the union
    of the truth masks (NaN for boxes and points).
    """
    kind, items = truth
    mask = result.mask
    n_regions = len(result.regions)
    if labels is None:
        from scipy import ndimage as ndi

        labels = ndi.label(mask, structure=np.ones((3, 3), bool))[0]
    iou = math.nan
    if kind == "masks":
        masks, union = items
        if union.shape != mask.shape:
            raise ParameterError(
                f"truth mask is {union.shape[1]}x{union.shape[0]} px but the image is "
                f"{mask.shape[1]}x{mask.shape[0]}; give masks in image A's frame."
            )
        found = sum(int(mask[m].mean() >= FOUND_FRACTION) for m in masks if m.any())
        n_truth = sum(1 for m in masks if m.any())
        touched = np.unique(labels[union & (labels > 0)]).size
        both = np.count_nonzero(mask | union)
        iou = np.count_nonzero(mask & union) / both if both else 1.0
    elif kind == "boxes":
        n_truth = len(items)
        hit: set[int] = set()
        found = 0
        for r0, c0, r1, c1 in items:
            inside = labels[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)]
            ids = np.unique(inside[inside > 0])
            found += int(ids.size > 0)
            hit.update(ids.tolist())
        touched = len(hit)
    else:  # points
        n_truth = len(items)
        boxes = np.array([r.bbox for r in result.regions], int).reshape(-1, 4)
        rows, cols = items[:, :1], items[:, 1:]
        covers = (
            (boxes[:, 0] <= rows)
            & (rows < boxes[:, 2])
            & (boxes[:, 1] <= cols)
            & (cols < boxes[:, 3])
        )  # (points, regions)
        found = int(covers.any(axis=1).sum())
        touched = int(covers.any(axis=0).sum())
    touched = min(touched, n_regions)
    return {
        "n_truth": n_truth,
        "found": found,
        "true_regions": touched,
        "false_regions": n_regions - touched,
        **_rates(found, n_truth, touched, n_regions),
        "iou": iou,
    }


def _rates(found: float, n_truth: float, touched: float, n_regions: float) -> dict:
    recall = found / n_truth if n_truth else math.nan
    precision = touched / n_regions if n_regions else (math.nan if n_truth else 1.0)
    if n_truth and not found:
        f1 = 0.0  # nothing found: 2 TP / (2 TP + FP + FN) = 0, whatever the precision
    elif math.isnan(recall) or math.isnan(precision):
        f1 = math.nan
    else:
        f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return {"recall": recall, "precision": precision, "f1": f1}


# --------------------------------------------------------------------------
# One task: a pair and the whole grid (runs on a worker)
# --------------------------------------------------------------------------


def _sweep_pair(
    name: str,
    a: Any,
    b: Any,
    runs: list[tuple[int, DiffParams]],
    truth: tuple[str, Any] | None,
    errors: str,
    max_pixels: int | None,
) -> list[dict]:
    rows = []
    start = time.perf_counter()
    try:
        pipe = DiffPipeline(fetch(a, max_pixels), fetch(b, max_pixels), max_pixels=max_pixels)
    except Exception as exc:
        if errors == "raise":
            raise
        return [_error_row(name, index, exc) for index, _ in runs]
    load = time.perf_counter() - start
    for index, params in runs:
        start = time.perf_counter()
        try:
            result = pipe.run(params)
            row = {
                "pair": name,
                "param_set": index,
                "regions": len(result.regions),
                "score": result.score,
                "threshold_used": result.threshold,
                "min_area_used": result.min_area,
                "diff_pixels": result.n_diff_pixels,
            }
            if truth is not None:
                row |= evaluate(result, truth, _labels(pipe, result.mask))
        except Exception as exc:  # a failed run must not lose the others
            if errors == "raise":
                raise
            row = _error_row(name, index, exc)
        row["time"] = time.perf_counter() - start + load
        load = 0.0
        rows.append(row)
    return rows


def _error_row(name: str, index: int, exc: BaseException) -> dict:
    return {"pair": name, "param_set": index, "error": describe(exc)}


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def sweep(
    pairs: Sequence[tuple[Any, Any]] | Mapping[str, tuple[Any, Any]],
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    truth: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    client: Any = None,
    base: DiffParams | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    errors: Literal["raise", "record"] = "raise",
    progress: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> pd.DataFrame:
    """Run every parameter set of `grid` on every pair.

    Parameters
    ----------
    pairs : list of (a, b), or mapping name -> (a, b)
        Paths, URLs (read by the workers through fsspec), bytes or arrays;
        :class:`imgdiff_widget.synthetic.Pair` objects are accepted too and
        bring their own truth. A list is named by A's file stem (when those
        are unique) or ``pair0``, ``pair1``, ...
    grid : mapping param -> list of values, or list of mappings
        A mapping is expanded to its cartesian product; a list of mappings is
        used as it is. Keys are :class:`DiffParams` fields.
    truth : list (one per pair) or mapping name -> truth, optional
        Per pair: a bool mask (each connected component is one difference), a
        list of bool masks (one per difference), boxes ``(row0, col0, row1,
        col1)`` (half-open) or points ``(row, col)``, or None. Empty (``[]``)
        means the pair has no real difference.
    client : distributed.Client, optional
        Run on this cluster. Default: a local cluster of single-threaded
        worker processes, one per core, started on first use and kept for
        later calls in this Python process (a single pair runs in-process).
    base : DiffParams, optional
        Values of the parameters that the grid does not set.
    scheduler : {"processes", "threads", "sync"} or str, optional
        Without a client: how to run locally, or a scheduler address.
    workers : int, optional
        Local workers (default: all cores).
    errors : {"raise", "record"}
        "record" keeps going when a pair or a run fails and puts the message
        in an ``error`` column; "raise" (default) stops at the first failure.
    progress : bool
        Show a tqdm progress bar (one step per pair).
    max_pixels : int or None, optional
        Refuse images with more pixels than this, as :func:`~imgdiff_widget.compare`
        does (None: no limit).

    Returns
    -------
    pandas.DataFrame
        One row per pair × parameter set, grouped by pair in grid order:
        ``pair``, ``param_set`` (position in the grid), each grid parameter,
        ``regions``, ``score``, ``threshold_used``, ``min_area_used``,
        ``diff_pixels``, ``time`` (seconds for this run; the pair's first run
        includes loading). With truth also ``n_truth``, ``found``,
        ``true_regions``, ``false_regions`` (regions touching no truth item),
        ``recall``, ``precision``, ``f1`` and ``iou`` (masks only; else NaN).

    Raises
    ------
    ParameterError
        For an unknown or invalid parameter, a malformed pair or truth.

    Notes
    -----
    Each pair is one task that runs its whole grid with one cached
    :class:`DiffPipeline`; the grid is ordered so that the parameters of late
    stages (threshold, cleanup) vary fastest, so SSIM is computed once per
    distinct (alignment, metric, window, smoothing) and not once per threshold.
    """
    import pandas as pd

    if errors not in ("raise", "record"):
        raise ParameterError(f"errors={errors!r} is not accepted; use 'raise' or 'record'.")
    base = base if base is not None else DiffParams()
    named = _normalise_pairs(pairs)
    truths = _truth_for(named, truth)
    combos = _grid_combinations(grid)
    params = [base.replace(**combo) for combo in combos]  # validates every value early
    runs = sorted(enumerate(params), key=lambda item: _stage_order(item[1]))
    grid_keys = list(dict.fromkeys(k for combo in combos for k in combo))

    rows: list[dict] = []
    with executor(client, scheduler, workers, n_tasks=len(named), keep=True) as cluster:
        tasks = []
        for (name, a, b, _), t in zip(named, truths, strict=True):
            if cluster is not None:
                a, b = (_for_workers(s, cluster) for s in (a, b))
            tasks.append((name, a, b, runs, t, errors, max_pixels))
        bar = _progress(len(tasks), progress)
        try:
            for index, result, error in stream(cluster, _sweep_pair, tasks):
                if error is not None:
                    if errors == "raise":
                        if hasattr(error, "add_note"):
                            error.add_note(f"while comparing pair {named[index][0]!r}")
                        raise error
                    result = [_error_row(named[index][0], i, error) for i, _ in runs]
                rows.extend(result)
                bar.update()
        finally:
            bar.close()

    frame = pd.DataFrame(rows)
    values = pd.DataFrame(
        [{k: _cell(combo.get(k, getattr(base, k))) for k in grid_keys} for combo in combos]
    )
    frame = frame.join(values, on="param_set")
    order = {name: i for i, (name, *_) in enumerate(named)}
    frame = frame.sort_values(
        ["pair", "param_set"], key=lambda s: s.map(order) if s.name == "pair" else s
    ).reset_index(drop=True)
    leading = ["pair", "param_set", *grid_keys]
    return frame[leading + [c for c in frame.columns if c not in leading]]


def _cell(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _progress(total: int, show: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="pair", disable=not show)


def _param_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c in _PARAM_NAMES]


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """One row per parameter set: the results of :func:`sweep` pooled over pairs.

    Counts (truth items, found, regions, false regions) are summed and recall,
    precision and F1 recomputed from the sums (micro-averaging: every truth
    item and every region weighs the same, whatever pair it is in); score,
    IoU and time are averaged.

    Parameters
    ----------
    df : pandas.DataFrame
        A table returned by :func:`sweep`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``param_set``, with the parameter columns first. ``pairs``
        counts the pairs a set ran on and ``failed`` those it raised on
        (``errors="record"``), which the sums leave out.
    """
    import pandas as pd

    params = _param_columns(df)
    failed = df["error"].notna() if "error" in df.columns else pd.Series(False, df.index)
    ok = df[~failed]
    # Every set has a row, a set that failed on every pair too.
    every = df.groupby("param_set", sort=True)
    out = every[params].first() if params else pd.DataFrame(index=every.size().index)
    groups = ok.groupby("param_set", sort=True)
    out["pairs"] = groups.size().reindex(out.index, fill_value=0)
    out["failed"] = failed.groupby(df["param_set"]).sum().reindex(out.index, fill_value=0)
    sums = [c for c in _COUNTS if c in ok.columns]
    out[sums] = groups[sums].sum().reindex(out.index, fill_value=0)
    means = [c for c in ("score", "iou", "time", "diff_pixels") if c in ok.columns]
    mean_names = [f"mean_{c}" if c != "time" else "time" for c in means]
    out[mean_names] = groups[means].mean().reindex(out.index)
    if "n_truth" in ok.columns:
        rates = [_rates(r.found, r.n_truth, r.true_regions, r.regions) for r in out.itertuples()]
        out[["recall", "precision", "f1"]] = pd.DataFrame(rates, index=out.index)
    return out


def best(
    df: pd.DataFrame,
    objective: str | Callable[[pd.DataFrame], float] = "f1",
    *,
    minimize: bool = False,
) -> dict[str, Any]:
    """The parameter set that does best over all pairs.

    Parameters
    ----------
    df : pandas.DataFrame
        A table returned by :func:`sweep` (with truth for the default objectives).
    objective : str or callable
        A column of :func:`aggregate` ("f1", "recall", "precision",
        "false_regions", "mean_iou", "time", ...) or a function taking the rows
        of one parameter set (all pairs) and returning a number.
    minimize : bool
        Pick the smallest value instead of the largest.

    Returns
    -------
    dict
        The grid parameters of the best set, ready for ``DiffParams(**...)``
        or ``compare(a, b, **...)``. A tie breaks on fewer false regions
        (when the study has truth), then goes to the earliest set in the grid.
        A set that failed on any pair is not chosen: its numbers would come
        from the pairs it managed alone.

    Examples
    --------
    >>> best(df, "recall")                                     # doctest: +SKIP
    {'threshold': 0.15, 'min_area': 'auto'}
    """
    import pandas as pd

    table = aggregate(df)
    complete = table.index[table["failed"] == 0]
    if complete.empty:
        raise ParameterError(
            "every parameter set failed on some pair (see the study's error column); "
            "fix those pairs or drop them from the study."
        )
    if callable(objective):
        ok = df[df["error"].isna()] if "error" in df.columns else df
        values = ok.groupby("param_set", sort=True).apply(objective, include_groups=False)
        values = pd.to_numeric(values, errors="coerce")
    elif objective in table.columns:
        values = pd.to_numeric(table[objective], errors="coerce")
    else:
        hint = "" if "n_truth" in table.columns else " (recall, precision and f1 need truth)"
        raise ParameterError(
            f"objective {objective!r} is not a column of the study{hint}; use one of "
            f"{', '.join(c for c in table.columns if c not in _PARAM_NAMES)} or a function."
        )
    values = values.reindex(complete)
    if values.isna().all():
        raise ParameterError(f"objective {objective!r} is undefined (NaN) for every set.")
    ranked = values if not minimize else -values
    top = ranked[ranked == ranked.max()].index
    if len(top) > 1 and "false_regions" in table.columns:
        top = table.loc[top, "false_regions"].sort_values(kind="stable").index[:1]
    # Read cell by cell: a row of an all-numeric table would be upcast to float.
    return {k: _plain(table.at[top[0], k]) for k in _param_columns(df)}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def plot_sweep(
    df: pd.DataFrame,
    x: str = "threshold",
    y: str = "f1",
    hue: str | None = None,
    *,
    ax: Axes | None = None,
    per_pair: bool = False,
) -> Axes:
    """Draw `y` against the parameter `x`, one line per value of `hue`.

    Parameters
    ----------
    df : pandas.DataFrame
        A table returned by :func:`sweep`.
    x : str
        A grid parameter. Non-numeric values (such as "auto") are drawn as
        dashed horizontal lines at their `y`.
    y : str
        A column of :func:`aggregate` (pooled over pairs: "f1", "recall",
        "precision", "false_regions", "mean_score", "time") or, with
        ``per_pair=True``, of `df` itself.
    hue : str, optional
        A second grid parameter: one curve per value.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made when omitted.
    per_pair : bool
        One curve per pair instead of the pooled curve (`hue` is then the pair).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    if per_pair:
        table, hue = df, "pair"
    else:
        table = aggregate(df)
    for name in (x, y, hue):
        if name is not None and name not in table.columns:
            raise ParameterError(
                f"{name!r} is not a column of the study; use one of {', '.join(table.columns)}."
            )
    groups = [(None, table)] if hue is None else list(table.groupby(hue, sort=False))
    for index, (label, part) in enumerate(groups):
        color = f"C{index % 10}"
        numeric = part[x].map(_is_number)
        curve = part[numeric].sort_values(x, key=lambda s: s.astype(float))
        name = None if hue is None else f"{hue}={label}"
        if not curve.empty:
            ax.plot(curve[x].astype(float), curve[y], "o-", color=color, label=name)
        for value, level in zip(part.loc[~numeric, x], part.loc[~numeric, y], strict=True):
            ax.axhline(level, color=color, linestyle="--", linewidth=1)
            ax.annotate(
                f"{x}={value}", (1.0, level), xycoords=("axes fraction", "data"),
                ha="right", va="bottom", color=color, fontsize="small",
            )  # fmt: skip
    ax.set_xlabel(x)
    ax.set_ylabel(y if per_pair else f"{y} (all pairs)")
    if hue is not None:
        ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class StudyWidget:
    """Browse a study in Jupyter and open any row in :class:`~imgdiff_widget.DiffWidget`.

    Parameters
    ----------
    df : pandas.DataFrame
        A table returned by :func:`sweep`.
    pairs : list of (a, b) or mapping name -> (a, b)
        The pairs given to :func:`sweep` (the same names are derived).
    sort_by : str, optional
        Column to order the rows by (descending), e.g. "f1".
    base : DiffParams, optional
        The `base` given to :func:`sweep`.
    max_pixels : int or None, optional
        The `max_pixels` given to :func:`sweep`.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The view (also shown when the object is the last line of a cell).
    diff : DiffWidget or None
        The widget of the row opened last.
    """

    def __init__(
        self,
        df: pd.DataFrame,
        pairs: Any,
        *,
        sort_by: str | None = None,
        base: DiffParams | None = None,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        import ipywidgets as w

        self.df = df
        self.base = base if base is not None else DiffParams()
        self.max_pixels = max_pixels
        self._pairs = {name: (a, b) for name, a, b, _ in _normalise_pairs(pairs)}
        self.diff = None
        table = df.sort_values(sort_by, ascending=False) if sort_by else df
        shown = [c for c in df.columns if c not in ("param_set",)]
        options = [(self._label(row, shown), index) for index, row in table.iterrows()]
        self.rows = w.Select(options=options, rows=min(12, max(len(options), 2)))
        self.rows.layout.width = "100%"
        self.open_button = w.Button(description="Open in DiffWidget", icon="search")
        self.open_button.on_click(lambda _: self.open(self.rows.value))
        self.status = w.HTML()
        self.output = w.Output()
        header = w.HTML(f"<code>{' | '.join(shown)}</code>")
        self.widget = w.VBox(
            [header, self.rows, w.HBox([self.open_button, self.status]), self.output]
        )

    @staticmethod
    def _label(row: pd.Series, columns: list[str]) -> str:
        def text(value: Any) -> str:
            if isinstance(value, float):
                return "nan" if math.isnan(value) else f"{value:.3g}"
            return str(value)

        return " | ".join(text(row[c]) for c in columns)

    def params_of(self, index: Any) -> DiffParams:
        """The parameters of row `index` of the table."""
        row = self.df.loc[index]
        values = {c: row[c] for c in _param_columns(self.df)}
        values = {k: _plain(v) for k, v in values.items() if not _is_missing(v)}
        return self.base.replace(**values)

    def open(self, index: Any):
        """Open row `index` in a DiffWidget below the table and return it."""
        from .widget import DiffWidget

        name = self.df.loc[index, "pair"]
        a, b = (fetch(s, self.max_pixels) for s in self._pairs[name])
        params = self.params_of(index)
        default = DiffParams()
        changed = {
            f.name: getattr(params, f.name)
            for f in fields(params)
            if params.value_key((f.name,)) != default.value_key((f.name,))
        }
        self.diff = DiffWidget(a, b, max_pixels=self.max_pixels, **changed)
        self.status.value = f"pair <b>{name}</b>, parameter set {self.df.loc[index, 'param_set']}"
        self.output.clear_output()
        with self.output:
            from IPython.display import display

            display(self.diff)
        return self.diff

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _is_missing(value: Any) -> bool:
    try:
        return bool(np.isscalar(value) and value != value)
    except (TypeError, ValueError):
        return False
